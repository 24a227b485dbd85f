package supervisor

import (
	"context"
	"io"
	"net/url"
)

// What the tests in package supervisor_test (outside the package, since
// supervisor/mock imports it) need of its unexported code.

// Lifelong is lifelong: the goroutines a leak check leaves alone.
var Lifelong = lifelong

// ApplyLabels is applyLabels, so that the API tests' fake applies the
// agent's label rules.
var ApplyLabels = applyLabels

// Do is Client.do, for the API tests' requests that no Client method makes.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.do(ctx, method, path, q, in, out)
}

// The exec protocol's frames, for the tests that speak it by hand.
const (
	FrameStdin    = byte(frameStdin)
	FrameStdout   = byte(frameStdout)
	FrameStderr   = byte(frameStderr)
	FrameExit     = byte(frameExit)
	FrameError    = byte(frameError)
	FrameStdinEOF = byte(frameStdinEOF)
)

// ReadExecFrame is readFrame with a buffer of its own.
func ReadExecFrame(r io.Reader) (byte, []byte, error) {
	t, p, err := readFrame(r, make([]byte, MaxExecFrame))
	return byte(t), p, err
}

// WriteExecFrame is writeFrame.
func WriteExecFrame(w io.Writer, t byte, p []byte) error { return writeFrame(w, frameType(t), p) }
