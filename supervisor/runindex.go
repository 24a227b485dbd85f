package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A run's index, current.idx beside current.log (previous.idx beside
// previous.log), says where in the run each of its latest files begins:
//
//	run 1718000000000000000
//	<inode> <bytes before the file> <lines before the file>
//	...
//
// The first line names the run (the time it began, in Unix nanoseconds);
// then one line for each of the run's latest indexKeep files, oldest
// first. Bytes are the run's stored bytes (time stamps included); lines
// end with the file's last: rotation happens between lines. The copier
// rewrites it (a new file renamed over the old) each time it rotates.
//
// A follower finds its files in the index by inode: it holds them open,
// so no file of the index that it holds can share an inode with another,
// and of two entries with one inode the later is the live file. A run
// written by an agent from before the index has none: its followers still
// skip ahead, but cannot say how much they skipped.
type runIndex struct {
	run     int64
	entries []indexEntry
}

type indexEntry struct {
	ino  uint64
	base logPos
}

// logPos is a position in a run: stored bytes and lines before it.
type logPos struct{ bytes, lines int64 }

// indexName is the index of the run whose newest file is log.
func indexName(log string) string { return strings.TrimSuffix(log, ".log") + indexSuffix }

// add records that f begins at base, forgetting the oldest entry beyond
// indexKeep.
func (x *runIndex) add(f *os.File, base logPos) error {
	ino, err := inode(f)
	if err != nil {
		return err
	}
	x.entries = append(x.entries, indexEntry{ino: ino, base: base})
	if n := len(x.entries); n > indexKeep {
		x.entries = append(x.entries[:0], x.entries[n-indexKeep:]...)
	}
	return nil
}

// last is where the newest file begins.
func (x *runIndex) last() logPos {
	if len(x.entries) == 0 {
		return logPos{}
	}
	return x.entries[len(x.entries)-1].base
}

// find returns where f begins, if the index knows f.
func (x *runIndex) find(f *os.File) (logPos, bool) {
	ino, err := inode(f)
	if err != nil {
		return logPos{}, false
	}
	for i := len(x.entries) - 1; i >= 0; i-- {
		if x.entries[i].ino == ino {
			return x.entries[i].base, true
		}
	}
	return logPos{}, false
}

// write replaces the index of the run whose newest file is log.
func (x *runIndex) write(log string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d\n", x.run)
	for _, e := range x.entries {
		fmt.Fprintf(&b, "%d %d %d\n", e.ino, e.base.bytes, e.base.lines)
	}
	name := indexName(log)
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp")
	if err := writeSmall(tmp, []byte(b.String()), uint32(logPerm)); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// readIndex reads the index of the run whose newest file is log. A
// takeover reads a thousand of them: one buffer on the stack, plain
// system calls (readSmall), no scanner.
func readIndex(log string) (runIndex, error) {
	name := indexName(log)
	var buf [maxIndexSize]byte
	n, err := readSmall(name, buf[:])
	if err != nil {
		return runIndex{}, err
	}
	var x runIndex
	if n == 0 {
		return x, fmt.Errorf("%s: empty", name)
	}
	lines := strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n")
	run, ok := strings.CutPrefix(lines[0], "run ")
	if x.run, err = strconv.ParseInt(run, 10, 64); !ok || err != nil {
		return x, fmt.Errorf("%s: line 1: %q is not \"run N\"", name, lines[0])
	}
	for k, line := range lines[1:] {
		f := strings.Fields(line)
		var e indexEntry
		var errs [3]error
		if len(f) == 3 {
			e.ino, errs[0] = strconv.ParseUint(f[0], 10, 64)
			e.base.bytes, errs[1] = strconv.ParseInt(f[1], 10, 64)
			e.base.lines, errs[2] = strconv.ParseInt(f[2], 10, 64)
		}
		if len(f) != 3 || errs != [3]error{} {
			return x, fmt.Errorf("%s: line %d: %q is not \"INODE BYTES LINES\"", name, k+2, line)
		}
		x.entries = append(x.entries, e)
	}
	return x, nil
}

// maxIndexSize bounds an index: its run line and indexKeep entries of
// three numbers of at most 20 digits each.
const maxIndexSize = (indexKeep + 1) * 64

func inode(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no inode", f.Name())
	}
	return st.Ino, nil
}
