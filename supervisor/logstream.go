package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
)

// The log stream: what GET /v1/instances/{name}/logs answers. A client
// that asks with framed=1 gets, with Content-Type LogFramesType, frames in
// the exec protocol's format (exec_frame.go: a type byte, the payload's
// length as 4 bytes big-endian, the payload, at most MaxExecFrame bytes):
//
//	type  name     payload
//	1     output   bytes of the instance's stored output, in order
//	2     skipped  JSON LogSkipped: a follower fell behind log rotation
//	               and lost that much output before the next output frame
//	3     end      empty: all the output asked for has been sent (for a
//	               follower: the run's output has ended)
//	4     error    text: why the stream ends before that
//
// The last frame is end or error; a stream that stops without one was cut
// (the agent died, the connection broke). Without framed=1 (curl, older
// clients) the answer is the output as text/plain, a skip as one line
// that begins "tend: skipped", and both kinds of end look alike.
//
// This comment is the stream's one description; api.go serves it and
// Client.Logs reads it.

// LogFramesType is the Content-Type of a framed log stream.
const LogFramesType = "application/vnd.tend.log-frames"

const (
	logOutput  frameType = 1
	logSkipped frameType = 2
	logEnd     frameType = 3
	logError   frameType = 4
)

// Notice is the line that tells a reader of instance's output about the
// skip, without a newline.
func (e *LogSkipped) Notice(instance string) string {
	if e.Lines < 0 {
		return fmt.Sprintf("tend: skipped some of %s's output (how much is not known): the reader fell behind log rotation", instance)
	}
	return fmt.Sprintf("tend: skipped %d bytes (%d lines) of %s's output: the reader fell behind log rotation", e.Bytes, e.Lines, instance)
}

// isLogFrames reports whether contentType is LogFramesType.
func isLogFrames(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	return err == nil && t == LogFramesType
}

// logFrameReader reads a framed log stream as the output it carries; see
// LogSkipped for what its Read returns at a skip.
type logFrameReader struct {
	body io.ReadCloser
	buf  []byte
	data []byte // output not yet returned, in buf
	err  error  // sticky: the stream's end
}

func newLogFrameReader(body io.ReadCloser) *logFrameReader {
	return &logFrameReader{body: body, buf: make([]byte, MaxExecFrame)}
}

func (r *logFrameReader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		t, payload, err := readFrame(r.body, r.buf)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			r.err = errors.New("the agent's log stream was cut off (the agent stopped, or the connection broke)")
		case err != nil:
			r.err = err
		case t == logOutput:
			r.data = payload
		case t == logSkipped:
			var skip LogSkipped
			if err := json.Unmarshal(payload, &skip); err != nil {
				r.err = fmt.Errorf("a bad skip notice from the agent: %w", err)
				continue
			}
			return 0, &skip
		case t == logEnd:
			r.err = io.EOF
		case t == logError:
			r.err = fmt.Errorf("agent: %s", payload)
		default:
			r.err = fmt.Errorf("a log frame of unknown type %d from the agent", t)
		}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func (r *logFrameReader) Close() error { return r.body.Close() }
