package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tendCLIWithStdin is tendCLI with standard input.
func tendCLIWithStdin(t *testing.T, sock, stdin string, env map[string]string, args ...string) cliRun {
	t.Helper()
	var out, errOut syncBuffer
	e := map[string]string{"TEND_SOCKET": sock}
	for k, v := range env {
		e[k] = v
	}
	c := &CLI{Stdout: &out, Stderr: &errOut, Env: func(k string) string { return e[k] }, Stdin: strings.NewReader(stdin)}
	code := exitCode(&errOut, c.Run(context.Background(), args))
	return cliRun{out.String(), errOut.String(), code}
}

func TestApplyFromStandardInput(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	r := tendCLIWithStdin(t, sock, validUnit, nil, "apply", "-f", "-", "--name", "web")
	if r.code != 0 || r.stdout != "unit/web created\n" || b.files["web.toml"] != validUnit {
		t.Fatalf("apply -f - --name web: %s", r)
	}
	r = tendCLIWithStdin(t, sock, validUnit, nil, "create", "-f", "-", "--name=web.toml")
	if r.code != 1 || !strings.Contains(r.stderr, "AlreadyExists") {
		t.Errorf("create -f - of an existing unit: %s", r)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"apply", "-f", "-"}, validUnit, "needs its name"},
		{[]string{"apply", "-f", "-", "--name", "Web/../x"}, validUnit, `--name "Web/../x"`},
		{[]string{"apply", "-f", "-", "-f", "-", "--name", "web"}, validUnit, "can be read once"},
		{[]string{"apply", "-f", "web.toml", "--name", "web"}, validUnit, "use it with -f -"},
		{[]string{"apply", "-f", "-", "--name", "big"}, strings.Repeat("#", 1<<20+1), "at most 1048576 bytes"},
		{[]string{"apply", "-f", "-", "--name", "bad"}, "kind = \"replicated\"\nreplicas = -1\n", "bad.toml:2"},
	} {
		before := len(b.Calls())
		r := tendCLIWithStdin(t, sock, tc.stdin, nil, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %s\nwant an error with %q", tc.args, r, tc.want)
		}
		if calls := b.Calls()[before:]; len(calls) != 0 {
			t.Errorf("%q changed the agent: %q", tc.args, calls)
		}
	}
}

func TestApplyDryRun(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	dir := t.TempDir()
	web := filepath.Join(dir, "web.toml")
	kubia := filepath.Join(dir, "kubia.toml")
	os.WriteFile(web, []byte(validUnit), 0o644)
	os.WriteFile(kubia, []byte(b.units["kubia"].Source), 0o644)
	for _, mode := range []string{"client", "server"} {
		suffix := " (dry run)"
		if mode == "server" {
			suffix = " (server dry run)"
		}
		r := tendCLI(t, sock, nil, "apply", "-f", dir, "--dry-run="+mode)
		if want := "unit/kubia unchanged" + suffix + "\nunit/web created" + suffix + "\n"; r.code != 0 || r.stdout != want {
			t.Errorf("--dry-run=%s:\n%s\nwant\n%s", mode, r, want)
		}
		r = tendCLI(t, sock, nil, "create", "-f", kubia, "--dry-run="+mode)
		if r.code != 1 || !strings.Contains(r.stderr, "AlreadyExists") {
			t.Errorf("create --dry-run=%s of an existing unit: %s", mode, r)
		}
	}
	if r := tendCLI(t, sock, nil, "apply", "-f", web, "--dry-run"); r.code != 0 || r.stdout != "unit/web created (dry run)\n" {
		t.Errorf("bare --dry-run is client: %s", r)
	}
	if r := tendCLI(t, sock, nil, "apply", "-f", web, "--dry-run=maybe"); r.code != 1 || !strings.Contains(r.stderr, "invalid dry-run value") {
		t.Errorf("--dry-run=maybe: %s", r)
	}
	if slices.ContainsFunc(b.Calls(), func(c string) bool { return strings.HasPrefix(c, "ApplyUnit") }) || b.files["web.toml"] != "" {
		t.Errorf("a dry run applied: %q", b.Calls())
	}
}

func TestDiff(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	dir := t.TempDir()
	same := filepath.Join(dir, "kubia.toml")
	os.WriteFile(same, []byte(b.units["kubia"].Source), 0o644)
	r := tendCLI(t, sock, nil, "diff", "-f", same)
	if r.code != 0 || r.stdout != "" {
		t.Errorf("diff of the running file: %s", r)
	}
	changed := strings.Replace(b.units["kubia"].Source, "replicas = 3", "replicas = 5", 1)
	os.WriteFile(same, []byte(changed), 0o644)
	os.WriteFile(filepath.Join(dir, "web.toml"), []byte(validUnit), 0o644)
	r = tendCLI(t, sock, nil, "diff", "-f", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "-replicas = 3\n+replicas = 5\n") || !strings.Contains(r.stdout, "unit.web.toml") ||
		!strings.Contains(r.stdout, "+kind = \"replicated\"") {
		t.Errorf("diff of a changed and a new unit:\n%s", r)
	}
	r = tendCLIWithStdin(t, sock, changed, map[string]string{"TEND_EXTERNAL_DIFF": "diff -q"}, "diff", "-f", "-", "--name", "kubia")
	if r.code != 1 || !strings.Contains(r.stdout, "unit.kubia.toml differ") {
		t.Errorf("TEND_EXTERNAL_DIFF: %s", r)
	}
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("kind = 3\n"), 0o644)
	r = tendCLI(t, sock, nil, "diff", "-f", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "bad.toml:1") {
		t.Errorf("diff with a bad file exits 2: %s", r)
	}
	r = tendCLI(t, sock, map[string]string{"TEND_EXTERNAL_DIFF": "no-such-diff-program"}, "diff", "-f", same)
	if r.code != 2 || !strings.Contains(r.stderr, "install diffutils") {
		t.Errorf("no diff program: %s", r)
	}
	if r := tendCLI(t, sock, nil, "diff"); r.code != 2 || !strings.Contains(r.stderr, "must specify -f") {
		t.Errorf("diff without -f exits 2: %s", r)
	}
	if slices.ContainsFunc(b.Calls(), func(c string) bool { return strings.HasPrefix(c, "ApplyUnit") }) {
		t.Errorf("diff applied: %q", b.Calls())
	}
}

func TestDeleteByFile(t *testing.T) {
	b := fixture()
	sock := serveFake(t, b)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kubia.toml"), []byte("anything: only the name counts"), 0o644)
	os.WriteFile(filepath.Join(dir, "ssd-monitor.toml"), nil, 0o644)
	r := tendCLI(t, sock, nil, "delete", "-f", dir)
	if r.code != 0 || r.stdout != "unit \"kubia\" deleted\nunit \"ssd-monitor\" deleted\n" {
		t.Errorf("delete -f DIR: %s", r)
	}
	if _, ok := b.units["kubia"]; ok {
		t.Error("kubia is still there")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "-f", filepath.Join(dir, "kubia.toml")}, `units "kubia" not found`},
		{[]string{"delete", "-f", filepath.Join(dir, "none.toml")}, "does not exist"},
		{[]string{"delete", "-f", "-"}, "tend delete unit NAME"},
		{[]string{"delete", "po", "x", "-f", filepath.Join(dir, "kubia.toml")}, "give no resource"},
	} {
		if r := tendCLI(t, sock, nil, tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: %s", tc.args, r)
		}
	}
}
