package ctl

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes, as etcdctl's.
const (
	ExitSuccess       = 0
	ExitError         = 1
	ExitBadConnection = 2
	ExitInvalidInput  = 3
	ExitBadFeature    = 4
	ExitInterrupted   = 5
	ExitIO            = 6
	ExitBadArgs       = 128
)

// exitError ends the command with a status. Commands return it instead of
// exiting so that Main alone decides how the process ends (and tests can
// run commands in process).
type exitError struct {
	code int
	err  error
	// quiet: the message was already printed (or there is none).
	quiet bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// fail ends the command with code, printing "Error: err".
func fail(code int, err error) error { return &exitError{code: code, err: err} }

// failf is fail with a formatted message.
func failf(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// exitQuietly ends the command with code and no further message.
func exitQuietly(code int) error { return &exitError{code: code, quiet: true} }

// report prints err as etcdctl does and returns the process's exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return ExitSuccess
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.quiet {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// Cobra has printed its own error (bad flag, unknown command).
	return ExitError
}
