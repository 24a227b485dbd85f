package probes

import (
	"context"
	"net"
	"strconv"
)

// TCPSocket probes by opening a TCP connection, as the kubelet's
// tcpSocket probe does: a Success when the connection opens before ctx's
// deadline (it is closed at once), a Failure otherwise, with the dialer's
// message (`dial tcp 127.0.0.1:8080: connect: connection refused`,
// `dial tcp 10.0.0.1:8080: i/o timeout`).
//
// Probe may be called from several goroutines at once.
type TCPSocket struct {
	Host string // host name or IP address; "" is 127.0.0.1
	Port int
}

// Probe dials once.
func (p *TCPSocket) Probe(ctx context.Context) (Result, string) {
	host := p.Host
	if host == "" {
		host = "127.0.0.1"
	}
	d := net.Dialer{KeepAlive: -1} // a probe's connection lives for one request: no keep-alive setup
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p.Port)))
	if err != nil {
		return Failure, bound(err.Error())
	}
	conn.Close()
	return Success, ""
}
