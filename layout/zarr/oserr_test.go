package zarr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// File-system faults are named for what they are: a symlink loop, a
// dangling link, a directory where a chunk belongs, a permission problem or
// an I/O error is never "missing" (nor, in v3, silently a chunk of fill
// values).
func TestFileFaultsAreNamed(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("nowhere", dangling); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Reading a FIFO would wait for a writer forever.
	if _, err := readFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("readFile(fifo): %v", err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want string
	}{
		{loop, "symlink loop at " + loop},
		{dangling, "dangling symlink (it points to nowhere"},
		{sub, "is a directory where a file belongs"},
		{fifo, "not a regular file"},
	} {
		ok, err := statFile(c.path)
		if ok || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("statFile(%s) = %v, %v; want an error with %q", c.path, ok, err, c.want)
		}
	}
	if ok, err := statFile(filepath.Join(dir, "absent")); ok || err != nil {
		t.Errorf("absent file: %v, %v", ok, err)
	}
	// Errors root cannot provoke on a real file, mapped the same way.
	for errno, want := range map[syscall.Errno]string{
		syscall.EACCES: "permission denied", syscall.EPERM: "permission denied",
		syscall.EIO: "I/O error", syscall.ENOTDIR: "a file where a directory belongs",
	} {
		err := osError("/s.zarr/X/0", &fs.PathError{Op: "open", Path: "/s.zarr/X/0", Err: errno})
		if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "zarr: /s.zarr/X/0: ") || errors.Is(err, ErrNotExist) {
			t.Errorf("%v: %q, want %q", errno, err, want)
		}
	}
}
