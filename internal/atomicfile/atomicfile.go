// Package atomicfile writes files whole: a reader sees the old file or
// the new one, and a crash leaves one of them, never a torn or empty
// file.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, of mode: a temporary file of its own in
// the same directory, synced, then renamed over path, and the directory
// synced. A symbolic link at path is replaced, not followed.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, os.Rename)
}

// Create is Write for a path that must not exist: it fails with an error
// wrapping fs.ErrExist if it does, or comes to exist meanwhile (the new
// file is linked into place, which a taken name refuses).
func Create(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, func(tmp, path string) error {
		err := os.Link(tmp, path)
		os.Remove(tmp)
		return err
	})
}

func write(path string, data []byte, mode os.FileMode, place func(tmp, path string) error) error {
	// A new file of its own (never one planted under a known name), with
	// the mode set before a byte is written.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp, path)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrExist) {
			os.Remove(tmp)
		}
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
