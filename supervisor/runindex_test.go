package supervisor

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An index as large as one can be (indexKeep entries of the largest
// numbers) reads back as written; a damaged one is an error that names
// the file and the line, never a wrong position.
func TestRunIndexReadBack(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, currentLog)
	x := runIndex{run: math.MaxInt64}
	for range indexKeep {
		x.entries = append(x.entries, indexEntry{ino: math.MaxUint64, base: logPos{bytes: math.MaxInt64, lines: math.MaxInt64}})
	}
	if err := x.write(log); err != nil {
		t.Fatal(err)
	}
	got, err := readIndex(log)
	if err != nil {
		t.Fatal(err)
	}
	if got.run != x.run || len(got.entries) != indexKeep || got.entries[indexKeep-1] != x.entries[indexKeep-1] {
		t.Errorf("read back %+v, wrote %+v", got, x)
	}

	idx := indexName(log)
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "empty"},
		{"no run line", "12 0 0\n", `line 1: "12 0 0" is not "run N"`},
		{"run not a number", "run x\n", `line 1: "run x" is not "run N"`},
		{"short entry", "run 1\n5 0 0\n7 10\n", `line 3: "7 10" is not "INODE BYTES LINES"`},
		{"negative inode", "run 1\n-5 0 0\n", `line 2: "-5 0 0" is not "INODE BYTES LINES"`},
		{"too large", "run 1\n" + strings.Repeat("1 1 1\n", maxIndexSize), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(idx, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readIndex(log)
			if err == nil || !strings.Contains(err.Error(), idx) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("readIndex of %q: %v, want an error naming %s and saying %q", tc.text, err, idx, tc.want)
			}
		})
	}
}
