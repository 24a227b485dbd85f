// Package fleet runs agents as a fleet, on loopback addresses and on
// hosts made of network and PID namespaces: gossip, placement, failover
// and partitions, end to end. A package of its own so that its minutes
// of waiting run beside cmd/tend's tests, not after them.
package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// cliRun is what a run of the CLI printed and its exit status.
type cliRun struct {
	stdout, stderr string
	code           int
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", r.code, r.stdout, r.stderr)
}

// tendCLI runs the tend binary with args, TEND_SOCKET=sock and env.
func tendCLI(t *testing.T, sock string, env map[string]string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(e2e.TendBin, args...)
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+sock, e2e.CLIRaceEnv())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return cliRun{out.String(), errOut.String(), code}
}
