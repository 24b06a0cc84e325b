package ctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// interrupted is closed on the first SIGINT or SIGTERM.
func interrupted() <-chan struct{} {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		<-sigc
		close(done)
	}()
	return done
}

func (e *env) newLockCommand() *cobra.Command {
	ttl := 10
	cmd := &cobra.Command{
		Use:     "lock <lockname> [exec-command arg1 arg2 ...]",
		Short:   "Acquires a named lock",
		GroupID: groupConcurrency,
	}
	cmd.Flags().IntVarP(&ttl, "ttl", "", ttl, "timeout for session")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fail(ExitBadArgs, errors.New("lock takes a lock name argument and an optional command to execute"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		if err := e.lockUntilSignal(cli, ttl, args[0], args[1:]); err != nil {
			// A command that fails passes its exit status on.
			code := ExitError
			var xe *exec.ExitError
			if errors.As(err, &xe) {
				if ws, ok := xe.Sys().(syscall.WaitStatus); ok {
					code = ws.ExitStatus()
				}
			}
			return fail(code, err)
		}
		return nil
	})
	return cmd
}

// lockUntilSignal takes the lock, then runs the command and releases the
// lock, or without a command prints the lock's key and holds the lock
// until SIGINT or SIGTERM.
func (e *env) lockUntilSignal(cli *clientv3.Client, ttl int, name string, cmdArgs []string) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		return err
	}
	m := concurrency.NewMutex(s, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := interrupted()
	go func() {
		<-stop
		cancel()
	}()
	if err := m.Lock(ctx); err != nil {
		return err
	}
	if len(cmdArgs) > 0 {
		c := exec.Command(cmdArgs[0], cmdArgs[1:]...)
		c.Env = append([]string{
			"ETCD_LOCK_KEY=" + m.Key(),
			fmt.Sprintf("ETCD_LOCK_REV=%d", m.Header().Revision),
		}, e.environ()...)
		c.Stdout, c.Stderr = e.stdout, e.stderr
		runErr := c.Run()
		unlockErr := m.Unlock(context.TODO())
		if runErr != nil {
			return runErr
		}
		return unlockErr
	}
	k, err := cli.Get(ctx, m.Key())
	if err != nil {
		return err
	}
	if len(k.Kvs) == 0 {
		return errors.New("lock lost on init")
	}
	if err := e.display.Get(k); err != nil {
		return err
	}
	select {
	case <-stop:
		return m.Unlock(context.TODO())
	case <-s.Done():
	}
	return errors.New("session expired")
}

func (e *env) newElectCommand() *cobra.Command {
	var listen bool
	cmd := &cobra.Command{
		Use:     "elect <election-name> [proposal]",
		Short:   "Observes and participates in leader election",
		GroupID: groupConcurrency,
	}
	cmd.Flags().BoolVarP(&listen, "listen", "l", false, "observation mode")
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 && len(args) != 2 {
			return fail(ExitBadArgs, errors.New("elect takes one election name argument and an optional proposal argument"))
		}
		cli, err := e.client(cmd)
		if err != nil {
			return err
		}
		defer cli.Close()
		if len(args) == 1 {
			if !listen {
				return fail(ExitBadArgs, errors.New("no proposal argument but -l not set"))
			}
			err = e.observe(cli, args[0])
		} else {
			if listen {
				return fail(ExitBadArgs, errors.New("proposal given but -l is set"))
			}
			err = e.campaign(cli, args[0], args[1])
		}
		if err != nil {
			return fail(ExitError, err)
		}
		return nil
	})
	return cmd
}

// observe prints each new leader's proposal until SIGINT or SIGTERM.
func (e *env) observe(cli *clientv3.Client, election string) error {
	s, err := concurrency.NewSession(cli)
	if err != nil {
		return err
	}
	el := concurrency.NewElection(s, election)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := interrupted()
	go func() {
		<-stop
		cancel()
	}()
	var printErr error
	for resp := range el.Observe(ctx) {
		if printErr == nil {
			printErr = e.display.Get(resp)
		}
	}
	if printErr != nil {
		return printErr
	}
	if ctx.Err() == nil {
		return errors.New("elect: observer lost")
	}
	return nil
}

// campaign waits to be elected, prints the leader key and holds leadership
// until SIGINT or SIGTERM, then resigns.
func (e *env) campaign(cli *clientv3.Client, election, proposal string) error {
	s, err := concurrency.NewSession(cli)
	if err != nil {
		return err
	}
	el := concurrency.NewElection(s, election)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := interrupted()
	go func() {
		<-stop
		cancel()
	}()
	if err := el.Campaign(ctx, proposal); err != nil {
		return err
	}
	resp, err := cli.Get(ctx, el.Key())
	if err != nil {
		return err
	}
	if err := e.display.Get(resp); err != nil {
		return err
	}
	select {
	case <-stop:
	case <-s.Done():
		return errors.New("elect: session expired")
	}
	return el.Resign(context.TODO())
}
