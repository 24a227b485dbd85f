package supervisor

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// handoffMemfd writes data into a memfd, as Handoff.Exec does, and sets
// TEND_HANDOFF_FD to it for the test.
func handoffMemfd(t *testing.T, data []byte) {
	t.Helper()
	mfd, err := unix.MemfdCreate("tend-handoff-test", 0)
	if err != nil {
		t.Skip("no memfd:", err)
	}
	if _, err := unix.Write(mfd, data); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Seek(mfd, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Setenv(handoffEnv, strconv.Itoa(mfd))
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// A re-executed agent reads its handoff while it opens the rest: by the
// time StartReadHandoff returns, no descriptor the old agent passed on
// can reach a child any more, and the wait gives the handoff decoded.
func TestStartReadHandoff(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(r.Fd())
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil { // as Exec leaves it
		t.Fatal(err)
	}
	data, err := json.Marshal(&Handoff{Version: HandoffVersion, Runs: []HandoffRun{{Instance: "web-1", PID: 4242, Log: fd, Notify: -1, NotifyFD: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	handoffMemfd(t, data)
	wait := StartReadHandoff()
	if _, set := os.LookupEnv(handoffEnv); set {
		t.Errorf("%s is still in the environment: an instance would see it", handoffEnv)
	}
	if unix.CloseRange(3, 3, unix.CLOSE_RANGE_CLOEXEC) == nil && !cloexec(t, fd) {
		t.Errorf("descriptor %d, handed over, is not close-on-exec when StartReadHandoff returns", fd)
	}
	h, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Runs) != 1 || h.Runs[0].Instance != "web-1" || h.Runs[0].Log != fd || !cloexec(t, fd) {
		t.Errorf("handoff %+v (descriptor %d close-on-exec: %v), want web-1's run with its log on %d", h, fd, cloexec(t, fd), fd)
	}

	for _, tc := range []struct{ name, env, data, want string }{
		{"not a descriptor", "x", "", "not a descriptor"},
		{"another version", "", `{"version": 99}`, "version 99, this agent reads 1"},
		{"not JSON", "", `{"version": `, "read the handoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(handoffEnv, tc.env)
			} else {
				handoffMemfd(t, []byte(tc.data))
			}
			h, err := StartReadHandoff()()
			if h != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %+v, %v; want no handoff and an error saying %q", h, err, tc.want)
			}
		})
	}
	t.Setenv(handoffEnv, "")
	os.Unsetenv(handoffEnv)
	if h, err := StartReadHandoff()(); h != nil || err != nil {
		t.Errorf("started afresh: %+v, %v; want neither", h, err)
	}
}
