package mock_test

import (
	"testing"

	"github.com/tendhq/tend/supervisor/mock"
)

func TestNotifierCoalescesAndStops(t *testing.T) {
	var n mock.Notifier
	ch, stop := n.Subscribe()
	n.Notify()
	n.Notify() // a wake-up is pending: this one neither blocks nor queues
	<-ch
	select {
	case <-ch:
		t.Fatal("two wake-ups for two notifications in a row, want one")
	default:
	}
	stop()
	stop()
	if got := n.Subscribers(); got != 0 {
		t.Fatalf("%d subscribers after stop, want 0", got)
	}
	n.Notify()
	select {
	case <-ch:
		t.Fatal("woken after stop")
	default:
	}
}
