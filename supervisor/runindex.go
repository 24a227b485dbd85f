package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
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
	if err := os.WriteFile(tmp, []byte(b.String()), logPerm); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// readIndex reads the index of the run whose newest file is log.
func readIndex(log string) (runIndex, error) {
	f, err := os.Open(indexName(log))
	if err != nil {
		return runIndex{}, err
	}
	defer f.Close()
	var x runIndex
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return x, fmt.Errorf("%s: empty", f.Name())
	}
	if _, err := fmt.Sscanf(sc.Text(), "run %d", &x.run); err != nil {
		return x, fmt.Errorf("%s: %w", f.Name(), err)
	}
	for sc.Scan() {
		var e indexEntry
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d", &e.ino, &e.base.bytes, &e.base.lines); err != nil {
			return x, fmt.Errorf("%s: %w", f.Name(), err)
		}
		x.entries = append(x.entries, e)
	}
	return x, sc.Err()
}

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
