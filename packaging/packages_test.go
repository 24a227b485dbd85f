// Package packaging tests the packages `make package` makes: the .deb
// is clean under lintian and installs, upgrades, is removed and purged
// by dpkg in a root of its own, running its maintainer scripts; the .rpm
// and the .apk hold what the .deb holds, with their own scripts.
package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// need fails the test in CI, where .ci/deps installs every tool, and
// skips it elsewhere, when a tool is missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (.ci/deps installs it)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// made is what one `make package` made, shared by the tests.
type made struct {
	deb, rpm, apk       string
	debVersion, apkVers string
}

func makePackages(t *testing.T) made {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the packages")
	}
	need(t, "make", "go", "gzip")
	run(t, "make", "-s", "package")
	m := made{
		debVersion: strings.TrimSpace(run(t, "make", "-s", "deb-version")),
		apkVers:    strings.TrimSpace(run(t, "make", "-s", "apk-version")),
	}
	dist, err := filepath.Abs(filepath.Join("..", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	m.deb = filepath.Join(dist, "tend_"+m.debVersion+"-1_amd64.deb")
	m.rpm = filepath.Join(dist, "tend-"+m.debVersion+"-1.x86_64.rpm")
	m.apk = filepath.Join(dist, "tend_"+m.apkVers+"-r1_x86_64.apk")
	for _, f := range []string{m.deb, m.rpm, m.apk} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("make package: %v", err)
		}
	}
	return m
}

// What every package holds, by its path in the .deb (Debian's unit in
// /lib, the others' in /usr/lib).
var contents = []string{
	"usr/bin/tend",
	"usr/share/man/man1/tend.1.gz",
	"usr/share/man/man1/tend-get.1.gz",
	"usr/share/man/man1/tend-import.1.gz",
	"usr/share/bash-completion/completions/tend",
	"usr/share/zsh/vendor-completions/_tend",
	"usr/share/fish/vendor_completions.d/tend.fish",
	"lib/systemd/system/tend.service",
	"etc/tend/tend.toml",
	"etc/tend/units.d/",
}

func TestPackages(t *testing.T) {
	if os.Getenv("GOARCH") != "" && os.Getenv("GOARCH") != "amd64" {
		t.Skip("the packages' names here are amd64's")
	}
	m := makePackages(t)
	t.Run("deb", func(t *testing.T) { checkDeb(t, m) })
	t.Run("install", func(t *testing.T) { checkInstall(t, m) })
	t.Run("rpm", func(t *testing.T) { checkRPM(t, m) })
	t.Run("rpm-install", func(t *testing.T) { checkRPMInstall(t, m) })
	t.Run("apk", func(t *testing.T) { checkAPK(t, m) })
}

// lintian finds nothing, pedantic and informational tags included, but
// what the package overrides (each override says why); every file is
// root's, with the modes of its kind.
func checkDeb(t *testing.T, m made) {
	need(t, "lintian", "dpkg-deb")
	out, err := exec.Command("lintian", "--pedantic", "--display-info", "--fail-on", "error,warning,info,pedantic", m.deb).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "running with root privileges") {
			t.Errorf("lintian: %s", l)
		}
	}
	if err != nil {
		t.Errorf("lintian: %v", err)
	}
	if v := run(t, "dpkg-deb", "-f", m.deb, "Version"); strings.TrimSpace(v) != m.debVersion+"-1" {
		t.Errorf("Version: %q", v)
	}
	listing := run(t, "dpkg-deb", "-c", m.deb)
	files := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: %q", l)
		}
		path := strings.TrimPrefix(f[5], "./")
		files[path] = f[0]
		if f[1] != "root/root" {
			t.Errorf("%s is %s's", path, f[1])
		}
		want := "-rw-r--r--"
		switch {
		case strings.HasSuffix(path, "/"):
			want = "drwxr-xr-x"
		case path == "usr/bin/tend":
			want = "-rwxr-xr-x"
		}
		if f[0] != want {
			t.Errorf("%s: mode %s, want %s", path, f[0], want)
		}
	}
	for _, want := range append(contents, "usr/share/doc/tend/copyright", "usr/share/doc/tend/changelog.Debian.gz", "usr/share/lintian/overrides/tend") {
		if _, ok := files[want]; !ok {
			t.Errorf("the .deb has no %s", want)
		}
	}
	dir := t.TempDir()
	run(t, "dpkg-deb", "-e", m.deb, dir)
	conffiles, _ := os.ReadFile(filepath.Join(dir, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/tend/tend.toml" {
		t.Errorf("conffiles: %q", conffiles)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(dir, script))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, script)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", script, err, out)
		}
		// systemd is told through init-system-helpers, which obey
		// policy-rc.d; systemctl only for daemon-reload.
		for _, l := range strings.Split(string(b), "\n") {
			cmd := strings.TrimSpace(l)
			if strings.Contains(cmd, "systemctl ") && !strings.Contains(cmd, "systemctl --system daemon-reload") &&
				!strings.HasPrefix(cmd, "#") && !strings.HasPrefix(cmd, "echo ") {
				t.Errorf("%s calls systemctl: %q", script, l)
			}
		}
	}
}

// The .deb's life in a root of its own: this machine's system as a
// copy-on-write overlay (in a mount namespace of the test's, removed
// with it), where dpkg --root runs the package's scripts chrooted.
// Install makes the group and enables the unit, the binary runs; an
// upgrade keeps the enablement; remove keeps the configuration and masks
// the unit; purge removes both and the agent's state.
func checkInstall(t *testing.T, m made) {
	need(t, "dpkg")
	deb := m.deb
	script := ownRoot + `step install; dpkg --root="$R" -i "$deb"
step group; grep '^tend:' "$R/etc/group"
step enabled; readlink "$R/etc/systemd/system/multi-user.target.wants/tend.service"
step binary; stat -c '%U:%G %a' "$R/usr/bin/tend"; chroot "$R" /usr/bin/tend version --client
step status; dpkg --root="$R" -s tend | sed -n 's/^Status: //p'
step upgrade; dpkg --root="$R" -i "$deb" >/dev/null; readlink "$R/etc/systemd/system/multi-user.target.wants/tend.service"
step remove; mkdir -p "$R/var/lib/tend/logs"; dpkg --root="$R" -r tend >/dev/null
ls "$R/usr/bin/tend" 2>&1 || true; ls "$R/etc/tend"; readlink "$R/etc/systemd/system/tend.service"
step purge; dpkg --root="$R" -P tend >/dev/null
ls -d "$R/etc/tend" "$R/var/lib/tend" "$R/etc/systemd/system/tend.service" 2>&1 || true
dpkg --root="$R" -s tend 2>&1 | head -1 || true
`
	out, check := inOwnRoot(t, script, deb)
	check("install", `tend: enabled; edit /etc/tend/tend.toml, then: systemctl start tend`)
	check("group", `(?m)^tend:x:([1-9]|[1-9][0-9]|[1-9][0-9][0-9]):$`) // a system group
	check("enabled", `^/lib/systemd/system/tend.service\n$`)
	check("binary", `(?m)^root:root 755\nClient Version: `)
	check("status", `^install ok installed\n$`)
	check("upgrade", `^/lib/systemd/system/tend.service\n$`)
	check("remove", `No such file or directory\ntend.toml\n/dev/null\n`)
	check("purge", `(?s)etc/tend.*No such file.*var/lib/tend.*No such file.*tend.service.*No such file.*not installed`)
	if t.Failed() {
		t.Logf("the whole run:\n%s", out)
	}
}

// ownRoot begins a script run by inOwnRoot: $R is a root of the test's,
// this machine's system as a copy-on-write overlay on a tmpfs at $1 (in
// the mount namespace unshare makes, gone with it), without anything of
// tend's: no group, configuration, state or enablement. $2 is the
// package. step NAME heads the output of a step.
const ownRoot = `set -e
top=$1 deb=$2 pkg=$2
mount -t tmpfs tmpfs "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay overlay -o lowerdir=/,upperdir="$top/upper",workdir="$top/work" "$top/root"
mount --bind /dev "$top/root/dev"
R=$top/root
if grep -q '^tend:' "$R/etc/group"; then sed -i '/^tend:/d' "$R/etc/group" "$R/etc/gshadow"; fi
rm -rf "$R/etc/tend" "$R/var/lib/tend" "$R/etc/systemd/system/tend.service" "$R/etc/systemd/system/multi-user.target.wants/tend.service"
step() { echo "== $1"; }
`

// inOwnRoot runs script (ownRoot and its steps) with pkg, and returns its
// output and a check that a step's output matches a pattern.
func inOwnRoot(t *testing.T, script, pkg string) (string, func(step, re string)) {
	t.Helper()
	need(t, "unshare", "chroot")
	if os.Geteuid() != 0 {
		t.Skip("installing in a root of its own needs root")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", t.TempDir(), pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the install in a root of its own: %v\n%s", err, out)
	}
	steps := map[string]string{}
	name := ""
	for _, l := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(l, "== "); ok {
			name = n
			continue
		}
		steps[name] += l + "\n"
	}
	return string(out), func(step, re string) {
		t.Helper()
		if !regexp.MustCompile(re).MatchString(steps[step]) {
			t.Errorf("%s: want %s in:\n%s", step, re, steps[step])
		}
	}
}

// The .rpm's life, as the .deb's, in a root of its own with an rpm
// database of its own (the packages of this Debian machine are not in
// it: --nodeps): the scriptlets make the group, the files are root's,
// erasing keeps an edited configuration as .rpmsave.
func checkRPMInstall(t *testing.T, m made) {
	need(t, "rpm")
	script := ownRoot + `rpm --root "$R" --initdb
step install; rpm --root "$R" -i --nodeps "$pkg" 2>&1 | grep -v '^rpm: ' || true
step group; grep '^tend:' "$R/etc/group"
step binary; stat -c '%U:%G %a' "$R/usr/bin/tend"; chroot "$R" /usr/bin/tend version --client
step erase; echo '# edited' >> "$R/etc/tend/tend.toml"; rpm --root "$R" -e tend 2>&1 | grep -v '^rpm: ' || true
ls "$R/usr/bin/tend" 2>&1 || true; ls "$R/etc/tend"
`
	out, check := inOwnRoot(t, script, m.rpm)
	check("install", `^$`) // no errors, no warnings
	check("group", `(?m)^tend:x:\d+:$`)
	check("binary", `(?m)^root:root 755\nClient Version: `)
	check("erase", `saved as /etc/tend/tend.toml.rpmsave\n.*No such file or directory\ntend.toml.rpmsave\n`)
	if t.Failed() {
		t.Logf("the whole run:\n%s", out)
	}
}

// The .rpm: the same files, the unit in /usr/lib, the configuration a
// config file, the scripts that make the group and tell systemd.
func checkRPM(t *testing.T, m made) {
	need(t, "rpm")
	if v := run(t, "rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE} %{ARCH}", m.rpm); v != m.debVersion+"-1 x86_64" {
		t.Errorf("version: %q", v)
	}
	list := strings.Split(strings.TrimSpace(run(t, "rpm", "-qpl", m.rpm)), "\n")
	for _, want := range append(contents, "usr/share/licenses/tend/copyright") {
		want = "/" + strings.TrimSuffix(strings.Replace(want, "lib/systemd", "usr/lib/systemd", 1), "/")
		if !slices.Contains(list, want) {
			t.Errorf("the .rpm has no %s", want)
		}
	}
	if c := strings.TrimSpace(run(t, "rpm", "-qp", "--configfiles", m.rpm)); c != "/etc/tend/tend.toml" {
		t.Errorf("config files: %q", c)
	}
	scripts := run(t, "rpm", "-qp", "--scripts", m.rpm)
	for _, want := range []string{"postinstall scriptlet", "groupadd --system tend", "preuninstall scriptlet", "disable --now tend.service"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("the .rpm's scripts have no %q:\n%s", want, scripts)
		}
	}
}

// The .apk: Alpine's version grammar, the files, an OpenRC service, and
// the scripts.
func checkAPK(t *testing.T, m made) {
	need(t, "tar")
	if !regexp.MustCompile(`^\d+(\.\d+)*(_(alpha|beta|pre|rc|git|p)\d*)*$`).MatchString(m.apkVers) {
		t.Errorf("%q is not an Alpine version", m.apkVers)
	}
	list := run(t, "tar", "-tzif", m.apk, "--warning=no-unknown-keyword")
	files := strings.Split(strings.TrimSpace(list), "\n")
	for _, want := range append(contents, ".PKGINFO", ".post-install", ".post-upgrade", ".pre-deinstall", "etc/init.d/tend", "usr/share/licenses/tend/copyright") {
		want = strings.Replace(want, "lib/systemd", "usr/lib/systemd", 1)
		if !slices.Contains(files, want) {
			t.Errorf("the .apk has no %s", want)
		}
	}
	info := run(t, "tar", "-xzOf", m.apk, "--warning=no-unknown-keyword", ".PKGINFO")
	for _, want := range []string{"pkgname = tend\n", "pkgver = " + m.apkVers + "-r1\n", "arch = x86_64\n", "pkgdesc = process supervisor for fleets of hosts\n"} {
		if !strings.Contains(info, want) {
			t.Errorf(".PKGINFO has no %q:\n%s", want, info)
		}
	}
	dir := t.TempDir()
	run(t, "tar", "-xzif", m.apk, "--warning=no-unknown-keyword", "-C", dir, "etc/init.d/tend", ".post-install", ".post-upgrade")
	for _, f := range []string{"etc/init.d/tend", ".post-install", ".post-upgrade"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, f)).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", f, err, out)
		}
	}
}
