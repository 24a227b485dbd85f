package probes

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReports()
		w := NewWatchdog(30*time.Second, rep.Report)
		defer w.Stop()

		time.Sleep(20 * time.Second)
		w.Feed() // deadline 50s
		time.Sleep(29 * time.Second)
		synctest.Wait()
		check(t, "fed: no report", rep.Got(), []string(nil))

		w.Extend(40 * time.Second) // at 49s: deadline 89s, once
		time.Sleep(39 * time.Second)
		synctest.Wait()
		check(t, "extended: no report", rep.Got(), []string(nil))
		time.Sleep(time.Second) // 89s: 69s since the feed at 20s
		synctest.Wait()
		check(t, "expired", rep.Got(), []string{"1m29s Liveness Failure changed KILL"})
		check(t, "message", rep.Messages(), []string{"watchdog timeout: no WATCHDOG=1 for 69s"})

		// Spent: feeding does not rearm it.
		w.Feed()
		time.Sleep(time.Hour)
		check(t, "spent", len(rep.Got()), 1)
	})
}

func TestWatchdogExtendOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReports()
		w := NewWatchdog(10*time.Second, rep.Report)
		defer w.Stop()
		w.Extend(5 * time.Second) // earlier than the deadline: no change
		time.Sleep(5 * time.Second)
		w.Extend(60 * time.Second) // at 5s: deadline 65s
		time.Sleep(55 * time.Second)
		w.Feed() // at 60s: back to the normal timeout, deadline 70s
		time.Sleep(time.Hour)
		check(t, "at", rep.At(), []time.Duration{70 * time.Second})
		check(t, "message", rep.Messages(), []string{"watchdog timeout: no WATCHDOG=1 for 10s"})
	})
}

func TestWatchdogSetTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReports()
		w := NewWatchdog(0, rep.Report)
		defer w.Stop()
		w.Extend(time.Second) // disabled: nothing to extend
		time.Sleep(time.Hour)
		synctest.Wait()
		check(t, "disabled", rep.At(), []time.Duration(nil))

		w.SetTimeout(1500 * time.Millisecond) // WATCHDOG_USEC=1500000
		time.Sleep(time.Hour)
		check(t, "expiry", rep.At(), []time.Duration{time.Hour + 1500*time.Millisecond})
		check(t, "message", rep.Messages(), []string{"watchdog timeout: no WATCHDOG=1 for 1.5s"})

		w2 := NewWatchdog(10*time.Second, rep.Report)
		time.Sleep(5 * time.Second)
		w2.SetTimeout(0) // WATCHDOG_USEC=0: disabled
		time.Sleep(time.Hour)
		w2.Stop()
		check(t, "disabled later", len(rep.At()), 1)
	})
}

func TestWatchdogTriggerAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := newReports()
		w := NewWatchdog(time.Minute, rep.Report)
		w.Trigger()
		w.Trigger()
		w.Stop()
		w.Stop()
		check(t, "trigger", rep.Messages(), []string{"watchdog triggered by the instance (WATCHDOG=trigger)"})
		check(t, "kill", rep.Got(), []string{"0s Liveness Failure changed KILL"})

		rep = newReports()
		w = NewWatchdog(time.Minute, rep.Report)
		time.Sleep(59 * time.Second)
		w.Stop()
		time.Sleep(time.Hour)
		check(t, "stopped", rep.Got(), []string(nil))
	})
}
