package verbs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tendhq/tend/internal/e2e"
)

// Completion against a real agent: commands, flags, resource words and
// the agent's names, through bash's own completion machinery.
func TestCompletion(t *testing.T) {
	t.Parallel()
	a := e2e.StartAgent(t, "", "")
	a.WriteUnit("kubia", a.HelperUnit("replicated", "replicas = 2", `app = "kubia"`, "sleep"))
	running := a.WaitRunning("kubia", 2)
	complete := func(words ...string) []string {
		t.Helper()
		out := a.Tend(append([]string{"__complete"}, words...)...)
		return e2e.Lines(out)
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"ro"}, []string{"rollout"}},
		{[]string{"get", "rc/"}, []string{"rc/kubia"}},
		{[]string{"describe", "rc", "ku"}, []string{"kubia"}},
		{[]string{"get", "po", ""}, []string{running[0].Name, running[1].Name}},
		{[]string{"logs", "kubia-"}, []string{running[0].Name, running[1].Name}},
		{[]string{"get", "po", "-o", "js"}, []string{"json", "jsonpath="}},
		{[]string{"wait", "--for=condition=R"}, []string{"--for=condition=Ready"}},
		{[]string{"apply", "-f", ""}, []string{":files"}},
		{[]string{"get", "nodes", ""}, []string{hostname(t)}},
	} {
		got := complete(tc.words...)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("complete %q = %q, want %q", tc.words, got, want)
		}
	}
	if got := complete("get", "po", "--sh"); !slices.Contains(got, "--show-labels") {
		t.Errorf("flags of get: %q", got)
	}

	// The bash script, as bash runs it.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "tend.bash")
	e2e.WriteFile(t, script, a.Tend("completion", "bash"))
	cmd := exec.Command(bash, "--norc", "-c", `source "$1"; COMP_WORDS=(tend get po ""); COMP_CWORD=3; _tend; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script)
	cmd.Env = append(os.Environ(), "TEND_SOCKET="+a.Sock, "PATH="+filepath.Dir(e2e.TendBin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), running[0].Name) || !strings.Contains(string(out), running[1].Name) {
		t.Errorf("bash completion of 'tend get po ': %v\n%s", err, out)
	}
	for _, sh := range []string{"zsh", "fish"} {
		bin, err := exec.LookPath(sh)
		if err != nil {
			continue // not installed here: the script's syntax is checked where it is
		}
		f := filepath.Join(t.TempDir(), "tend."+sh)
		e2e.WriteFile(t, f, a.Tend("completion", sh))
		if out, err := exec.Command(bin, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n on its completion script: %v\n%s", sh, err, out)
		}
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
