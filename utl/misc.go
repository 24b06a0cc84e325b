package utl

import (
	"fmt"
	"strings"

	"github.com/basaltkv/basalt/server"
	"github.com/spf13/cobra"
)

func (e *env) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the version of etcdutl",
		Run: func(*cobra.Command, []string) {
			// Tools parse the first two lines; basalt's own version follows.
			fmt.Fprintln(e.stdout, "etcdutl version:", server.EtcdVersion)
			fmt.Fprintln(e.stdout, "API version:", apiVersion(server.EtcdVersion))
			fmt.Fprintln(e.stdout, "basaltutl version:", server.Version)
		},
	}
}

// apiVersion is major.minor of a version.
func apiVersion(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func (e *env) newCompletionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion [bash|zsh|fish|powershell]",
		Short: "Generate completion script",
		Long: fmt.Sprintf(`Prints a completion script for the shell named. For example, in bash:

  $ source <(%[1]s completion bash)

or, for every new shell, write it where the shell looks for completions:

  $ %[1]s completion bash > /etc/bash_completion.d/%[1]s
  $ %[1]s completion zsh > "${fpath[1]}/_%[1]s"
  $ %[1]s completion fish > ~/.config/fish/completions/%[1]s.fish
  PS> %[1]s completion powershell > %[1]s.ps1
`, e.name),
		DisableFlagsInUseLine: true,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletion(e.stdout)
			case "zsh":
				return root.GenZshCompletion(e.stdout)
			case "fish":
				return root.GenFishCompletion(e.stdout, true)
			default:
				return root.GenPowerShellCompletionWithDesc(e.stdout)
			}
		}),
	}
}
