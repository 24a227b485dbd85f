package supervisor

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func init() {
	// notify:MSG sends MSG to $NOTIFY_SOCKET as soon as it starts, then
	// sleeps.
	helpers["notify"] = func(msg string) int {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"})
		if err != nil {
			return 2
		}
		c.Write([]byte(msg))
		c.Close()
		time.Sleep(10 * time.Minute)
		return 0
	}
}

// A WATCHDOG= message sent the moment the process starts, before the
// agent has finished setting up the run, reaches the watchdog: here
// WATCHDOG=trigger kills the instance at once, though its watchdog
// timeout is an hour. (The watchdog used to be set after the notify
// socket was let through, a data race that -race reports and that lost
// such a message.)
func TestWatchdogMessageSentAtOnceIsNotLost(t *testing.T) {
	a := startTestAgent(t, t.TempDir(), newFakeClock())
	a.apply("early", "kind = \"replicated\"\n[template.liveness]\nwatchdog = \"1h\"", "notify:WATCHDOG=trigger")
	a.waitFor("the watchdog's kill", func() bool {
		for _, e := range a.sup.Events(KindInstance, "") {
			if e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe") {
				return true
			}
		}
		return false
	})
}
