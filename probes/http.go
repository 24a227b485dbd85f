package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userAgent is sent unless Headers set a User-Agent.
const userAgent = "tend-probe/1.0"

// maxRedirects is how many same-host redirects a probe follows before it
// takes the last response, as the kubelet does.
const maxRedirects = 10

// maxHeaderBytes bounds a response's status line and headers.
const maxHeaderBytes = 64 << 10

// HTTPGet probes with GET scheme://host:port/path, as the kubelet's
// httpGet probe does: a status in 200..399 is a Success, anything else, a
// connection error or the timeout is a Failure.
//
// Redirects are followed only to the same host name (at most 10); a
// redirect elsewhere ends the probe with a Success whose message is a
// warning ("Probe terminated redirects, ..."). At most 10 KiB of the body
// is read, then the connection is closed: every probe opens its own
// connection and asks the server to close it (no keep-alive, no pool), so
// nothing is held between probes. https does not verify the certificate.
// No proxy from the environment is used.
//
// Each exchange is one net.Conn driven by the calling goroutine, with
// net/http's request writer and response reader: no transport goroutines,
// which halves the CPU a probe costs compared with an http.Transport.
// The request is written by net/http once, at the first Probe, and its
// bytes kept; the response is read through a pooled buffer. Errors read
// as an http.Client's do.
//
// The fields must not change after the first Probe. Probe may be called
// from several goroutines at once.
type HTTPGet struct {
	Scheme string // "http" (also for "") or "https"
	Host   string // host name or IP address; "" is 127.0.0.1
	Port   int    // <= 0: the scheme's default port
	Path   string // "" is "/"; may carry a query ("/healthz?full=1")
	// Headers are sent as given. "Host" sets the request's Host; a
	// "User-Agent" replaces tend-probe/1.0 (an empty one sends none).
	Headers map[string]string

	once    sync.Once
	url     *url.URL // the first request's
	request []byte   // the first request, as written on the wire
	reqErr  error    // why it could not be written, if so
}

func (p *HTTPGet) init() {
	scheme := strings.ToLower(p.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	host := p.Host
	if host == "" {
		host = "127.0.0.1"
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = host
	if p.Port > 0 {
		u.Host = net.JoinHostPort(host, strconv.Itoa(p.Port))
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	}
	p.url = u
	p.request, p.reqErr = p.requestFor(u)
}

// requestFor returns the GET request for u as net/http writes it. Only
// the bytes are kept, not the header they were made from: a redirect
// followed makes its own.
func (p *HTTPGet) requestFor(u *url.URL) ([]byte, error) {
	header := make(http.Header, len(p.Headers)+2)
	for k, v := range p.Headers {
		header.Set(k, v)
	}
	host := header.Get("Host") // "" sends u.Host
	header.Del("Host")
	if _, ok := header["User-Agent"]; !ok {
		header.Set("User-Agent", userAgent)
	}
	if _, ok := header["Accept"]; !ok {
		header.Set("Accept", "*/*")
	}
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Host:       host,
		Close:      true,
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	return bytes.Clone(b.Bytes()), nil
}

// Probe sends one GET (and follows same-host redirects). ctx's deadline
// is the probe's timeout; a probe still waiting at the deadline fails with
// the kubelet's message, `Get "http://127.0.0.1:8080/": context deadline
// exceeded (Client.Timeout exceeded while awaiting headers)`.
func (p *HTTPGet) Probe(ctx context.Context) (Result, string) {
	p.once.Do(p.init)
	u, req, err := p.url, p.request, p.reqErr
	for redirects := 0; ; redirects++ {
		var code int
		var location, body string
		if err == nil {
			code, location, body, err = p.exchange(ctx, u, req)
		}
		if err != nil {
			return Failure, bound((&url.Error{Op: "Get", URL: u.String(), Err: err}).Error())
		}
		switch {
		case code >= http.StatusOK && code < http.StatusMultipleChoices:
			return Success, ""
		case code < http.StatusMultipleChoices || code >= http.StatusBadRequest:
			return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
		}
		if location != "" && followed(code) {
			next, err := u.Parse(location)
			if err != nil {
				err = fmt.Errorf("failed to parse Location header %q: %v", location, err)
				return Failure, bound((&url.Error{Op: "Get", URL: u.String(), Err: err}).Error())
			}
			if next.Hostname() == p.url.Hostname() && redirects < maxRedirects {
				u = next
				req, err = p.requestFor(u)
				continue
			}
		}
		// A redirect not followed: to another host, or the eleventh. The
		// kubelet counts it a success, with a warning.
		return Success, bound("Probe terminated redirects, Response body: " + body)
	}
}

// followed reports whether an http.Client follows a redirect with code.
func followed(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// Errors worded as an http.Client words a timeout.
var (
	errAwaitingHeaders = errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
	errReadingBody     = errors.New("context deadline exceeded (Client.Timeout or context cancellation while reading body)")
)

// exchange sends req, the GET request for u, on a connection of its
// own and returns the response's status, Location and, for a redirect,
// up to maxRead bytes of its body (of another status, up to maxRead
// bytes are read and dropped).
func (p *HTTPGet) exchange(ctx context.Context, u *url.URL, req []byte) (code int, location, body string, err error) {
	// ctxErr words an error that happened because ctx ended. The
	// connection's deadline is ctx's, so an I/O timeout may come a moment
	// before ctx reports its own.
	deadline, hasDeadline := ctx.Deadline()
	ctxErr := func(err, onDeadline error) error {
		switch {
		case ctx.Err() == context.DeadlineExceeded,
			ctx.Err() == nil && hasDeadline && isTimeout(err) && !time.Now().Before(deadline):
			return onDeadline
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return err
	}

	d := net.Dialer{KeepAlive: -1} // a probe's connection lives for one request: no keep-alive setup
	conn, err := d.DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return 0, "", "", ctxErr(err, errAwaitingHeaders)
	}
	defer conn.Close()
	if hasDeadline {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if u.Scheme == "https" {
		// The kubelet does not verify the instance's certificate either:
		// the probe checks liveness, not identity.
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true}) //nolint:gosec
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, "", "", ctxErr(err, errAwaitingHeaders)
		}
		conn = tc
	}

	if _, err := conn.Write(req); err != nil {
		return 0, "", "", ctxErr(err, errAwaitingHeaders)
	}

	rd := readers.Get().(*reader)
	defer rd.release()
	lr, r := &rd.lr, rd.r
	lr.R, lr.N = conn, maxHeaderBytes
	var resp *http.Response
	for range 5 { // skip informational (1xx) responses, as http.Transport does
		resp, err = http.ReadResponse(r, nil) // nil: the request was a GET
		if err != nil {
			if lr.N <= 0 {
				err = fmt.Errorf("server response headers exceeded %d bytes; aborted", maxHeaderBytes)
			}
			return 0, "", "", ctxErr(err, errAwaitingHeaders)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	lr.N = maxRead + int64(r.Buffered()) // the body is bounded below; this bounds chunk framing
	if resp.Body != http.NoBody {
		// Only a redirect's body is ever shown (in the warning of one not
		// followed); another's is read and dropped, as far as maxRead.
		var b []byte
		if code := resp.StatusCode; code >= http.StatusMultipleChoices && code < http.StatusBadRequest {
			b, err = io.ReadAll(io.LimitReader(resp.Body, maxRead))
		} else {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRead))
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, "", "", ctxErr(err, errReadingBody)
		}
		body = string(b)
	}
	return resp.StatusCode, resp.Header.Get("Location"), body, nil
}

// readerSize is the buffer a probe reads its response through: small,
// as a probe's answer is; longer header lines are read in pieces.
const readerSize = 1 << 10

// A reader reads one response; readers are pooled, so a probe does not
// allocate one, and none is held between probes.
type reader struct {
	lr io.LimitedReader // bounds what is read from the connection
	r  *bufio.Reader    // reads from lr
}

var readers = sync.Pool{New: func() any {
	rd := new(reader)
	rd.r = bufio.NewReaderSize(&rd.lr, readerSize)
	return rd
}}

// release drops what rd read from and returns it to the pool.
func (rd *reader) release() {
	rd.r.Reset(&rd.lr)
	rd.lr = io.LimitedReader{}
	readers.Put(rd)
}

// hostPort returns u's host:port, with the scheme's default port.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
