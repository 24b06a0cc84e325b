package ctl

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The versions basaltctl reports. etcdVersion is the etcdctl release whose
// behaviour it follows (tools parse "etcdctl version:"); basaltVersion is
// its own. A test keeps them equal to the server's.
const (
	etcdVersion   = "3.7.0"
	apiVersion    = "3.7"
	basaltVersion = "0.1.0-dev"
)

func (e *env) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Prints the version of etcdctl",
		GroupID: groupUtility,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(e.stdout, "etcdctl version:", etcdVersion)
			fmt.Fprintln(e.stdout, "API version:", apiVersion)
			fmt.Fprintln(e.stdout, "basaltctl version:", basaltVersion)
		},
	}
}

func (e *env) newCompletionCommand() *cobra.Command {
	n := e.name
	return &cobra.Command{
		Use:   "completion [bash|zsh|fish|powershell]",
		Short: "Generate completion script",
		Long: fmt.Sprintf(`To load completions:

Bash:

  $ source <(%[1]s completion bash)

  # To load completions for each session, execute once:
  # Linux:
  $ %[1]s completion bash > /etc/bash_completion.d/%[1]s
  # macOS:
  $ %[1]s completion bash > /usr/local/etc/bash_completion.d/%[1]s

Zsh:

  # If shell completion is not already enabled in your environment,
  # you will need to enable it.  You can execute the following once:

  $ echo "autoload -U compinit; compinit" >> ~/.zshrc

  # To load completions for each session, execute once:
  $ %[1]s completion zsh > "${fpath[1]}/_%[1]s"

  # You will need to start a new shell for this setup to take effect.

fish:

  $ %[1]s completion fish | source

  # To load completions for each session, execute once:
  $ %[1]s completion fish > ~/.config/fish/completions/%[1]s.fish

PowerShell:

  PS> %[1]s completion powershell | Out-String | Invoke-Expression

  # To load completions for every new session, run:
  PS> %[1]s completion powershell > %[1]s.ps1
  # and source this file from your PowerShell profile.
`, n),
		DisableFlagsInUseLine: true,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		GroupID:               groupUtility,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), e.stdout
			switch args[0] {
			case "bash":
				return root.GenBashCompletion(out)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			default:
				return root.GenPowerShellCompletionWithDesc(out)
			}
		},
	}
}
