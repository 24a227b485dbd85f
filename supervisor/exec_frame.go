package supervisor

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The exec protocol: what the connection of POST /v1/instances/{name}/exec
// carries once the agent has answered 101 Switching Protocols (Upgrade:
// tend-exec). This comment is its one description; exec_api.go serves it
// and Client.Exec speaks it.
//
// Both ways the connection carries frames: a type byte, the payload's
// length as 4 bytes big-endian, then the payload, of at most MaxExecFrame
// bytes. A longer frame is refused: the agent ends the session with an
// error frame saying so, and the client gives up.
//
//	type  name       sent by  payload
//	0     stdin      client   bytes for the command's standard input
//	1     stdout     agent    bytes the command wrote to its standard output
//	2     stderr     agent    bytes the command wrote to its standard error
//	3     exit       agent    4 bytes big-endian: the command's exit status,
//	                          or 128+N when signal N killed it (ExitStatus.ExitCode)
//	4     error      agent    text: why the command could not start, or why
//	                          the session ended without an exit status
//	5     stdin-eof  client   empty: close the command's standard input
//
// The client may send stdin frames as soon as it has the 101, and sends
// stdin-eof once, after its last stdin frame; stdin after stdin-eof, an
// unknown type or an oversized frame ends the session with an error frame.
// Input for a command that no longer reads it is dropped.
//
// The agent sends the command's output as it comes, stdout and stderr each
// in order (not ordered between them), then, after all of it, exactly one
// exit or error frame as its last, and closes the connection. Data frames
// may be empty: while the command is not taking its input, the agent sends
// an empty stdout frame every execCheckClient to learn whether the client
// is still there, and the client writes nothing for it.
//
// The client ends the session by closing the connection; the agent then
// stops the command (SIGTERM to its process group, SIGKILL after
// execKillGrace). When the command exits, whatever it left running in its
// process group is killed.

// ExecProtocol is the Upgrade token of the exec route.
const ExecProtocol = "tend-exec"

// MaxExecFrame is the largest payload of an exec frame, either way.
const MaxExecFrame = 32 << 10

// frameHeader is the size of a frame's type and length.
const frameHeader = 5

// frameType is an exec frame's type byte.
type frameType byte

const (
	frameStdin    frameType = 0
	frameStdout   frameType = 1
	frameStderr   frameType = 2
	frameExit     frameType = 3
	frameError    frameType = 4
	frameStdinEOF frameType = 5
)

// frameSizeError is readFrame's error for a frame longer than
// MaxExecFrame.
type frameSizeError struct{ n uint32 }

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("a frame of %d bytes, over the limit of %d", e.n, MaxExecFrame)
}

// putHeader writes the header of a frame of type t with n bytes of payload
// into b[:frameHeader].
func putHeader(b []byte, t frameType, n int) {
	b[0] = byte(t)
	binary.BigEndian.PutUint32(b[1:frameHeader], uint32(n))
}

// writeFrame writes one frame with a single Write.
func writeFrame(w io.Writer, t frameType, p []byte) error {
	if len(p) > MaxExecFrame {
		return &frameSizeError{n: uint32(len(p))}
	}
	b := make([]byte, frameHeader+len(p))
	putHeader(b, t, len(p))
	copy(b[frameHeader:], p)
	_, err := w.Write(b)
	return err
}

// readFrame reads one frame, its payload into buf (of at least
// MaxExecFrame bytes), and returns the payload as a slice of buf. At the
// end of the stream between frames it returns io.EOF; a stream that ends
// inside a frame is io.ErrUnexpectedEOF. A frame longer than MaxExecFrame
// is not read: the error is a *frameSizeError.
func readFrame(r io.Reader, buf []byte) (frameType, []byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	t, n := frameType(h[0]), binary.BigEndian.Uint32(h[1:])
	if n > MaxExecFrame {
		return t, nil, &frameSizeError{n: n}
	}
	p := buf[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return t, nil, err
	}
	return t, p, nil
}
