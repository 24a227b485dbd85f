package units

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Describe returns the probe as kubectl describe prints it, as in
//
//	http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3
//	tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3
//	exec [cat /tmp/healthy] delay=0s timeout=1s period=10s #success=1 #failure=3
//
// and for tend's own mechanisms "notify", "watchdog 30s" and
// "notification-fd 3", which have no timing to show.
func (p *Probe) Describe() string {
	attrs := fmt.Sprintf("delay=%s timeout=%s period=%s #success=%d #failure=%d",
		seconds(p.InitialDelay), seconds(p.Timeout), seconds(p.Period), p.SuccessThreshold, p.FailureThreshold)
	switch {
	case p.HTTPGet != nil:
		h := p.HTTPGet
		scheme := h.Scheme
		if scheme == "" {
			scheme = "http"
		}
		u := url.URL{Scheme: scheme, Host: net.JoinHostPort(h.Host, strconv.Itoa(h.Port)), Path: h.Path}
		return fmt.Sprintf("http-get %s %s", u.String(), attrs)
	case p.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%d %s", p.TCPSocket.Host, p.TCPSocket.Port, attrs)
	case p.Exec != nil:
		return fmt.Sprintf("exec %v %s", p.Exec.Command, attrs)
	case p.Notify:
		return "notify"
	case p.Watchdog > 0:
		return "watchdog " + p.Watchdog.String()
	case p.NotificationFD > 0:
		return "notification-fd " + strconv.Itoa(p.NotificationFD)
	}
	return "unknown " + attrs
}

// seconds formats d as the kubelet does, in whole seconds ("0s", "10s",
// "300s"), unless that would lose a fraction ("500ms", "1.5s").
func seconds(d Duration) string {
	if d%Duration(time.Second) == 0 {
		return strconv.FormatInt(int64(d/Duration(time.Second)), 10) + "s"
	}
	return d.String()
}
