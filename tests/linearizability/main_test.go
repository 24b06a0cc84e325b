package linearizability

import (
	"os"
	"testing"

	"github.com/basaltkv/basalt/tests/e2e"
)

func TestMain(m *testing.M) { os.Exit(e2e.RunWithBinary(m)) }
