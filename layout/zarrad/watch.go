package zarrad

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/annslicer/annslicer/layout/zarr"
)

// Pin holds a zarr store to its state at mount time: a mount serves the
// store's bytes as they were then, or fails (EIO), never new or mixed ones.
//
// At pin time every file and directory of the store is recorded (device,
// inode, size, mtime, ctime). Every file the store reads afterwards (chunks
// and metadata documents, through zarr.Cache.SetReadFile) is opened,
// fstat'ed and compared with its record before its bytes are used and
// fstat'ed again after they were read; a file missing at pin time must
// still be missing. Why that is exact:
//
//   - The kernel updates a file's mtime and ctime BEFORE it copies written
//     bytes into the file (write, truncate, and the first write to a mapped
//     page alike), so bytes we read that include a write are followed by an
//     fstat showing the new ctime, unless the write left ctime unchanged.
//   - It leaves ctime unchanged only when ctime already equals the current
//     clock tick. Pin therefore waits until every recorded ctime lies
//     pinSettle (2 s, coarser than any Linux filesystem's timestamps, FAT
//     included) before the walk that recorded it: no later write can keep
//     it. (A store just written pays that wait once at mount.)
//   - A file replaced by rename, or removed and recreated, is another inode
//     (or, reusing the inode number, a newer ctime): caught by the open's
//     fstat. Bytes read through an already open descriptor of the old
//     inode are mount-time bytes.
//   - Files read while the store is opened (before any per-read check:
//     .zmetadata, zarr.json, directory listings) are covered by Verify, a
//     second walk after opening that must match the records; directory
//     listings made while a shard is built are covered by VerifyDirs after
//     the build (a directory's ctime changes with any entry added, removed
//     or renamed in it).
//   - Decoded chunks kept in zarr's cache were checked when read.
//
// Not covered: writes that bypass the filesystem (to the block device, by
// another host of a network filesystem, whose server clock may also
// disagree with ours), a clock set back by more than pinSettle, and
// filesystems that do not update ctime on write.
type Pin struct {
	Dir   string // as the store names its files (filepath.Clean of the path)
	files map[string]pinID
	dirs  map[string]pinID
	err   atomic.Pointer[error] // sticky: the first change seen
}

const pinSettle = 2 * time.Second

type pinID struct {
	dev, ino     uint64
	mode         uint32
	size         int64
	mtime, ctime syscall.Timespec
}

func pinIDOf(st *syscall.Stat_t) pinID {
	return pinID{uint64(st.Dev), st.Ino, st.Mode, st.Size, st.Mtim, st.Ctim}
}

// PinStore records the store at path, waiting until it has settled (see
// Pin); it fails for a store still being written after a few tries.
func PinStore(path string) (*Pin, error) {
	p := &Pin{Dir: filepath.Clean(path)}
	for try := 0; ; try++ {
		start := time.Now()
		files, dirs, newest, err := walkStore(p.Dir)
		if err != nil {
			return nil, err
		}
		p.files, p.dirs = files, dirs
		if newest.Before(start.Add(-pinSettle)) {
			return p, nil
		}
		if try == 4 {
			return nil, fmt.Errorf("%s: still being written (changed %v ago); mount it once the writer is done", path, time.Since(newest).Round(time.Millisecond))
		}
		time.Sleep(time.Until(newest.Add(pinSettle + 10*time.Millisecond)))
	}
}

// walkStore records every file and directory under root (following
// symbolic links, not into a directory containing itself), and the newest
// ctime seen. Entries that cannot be stat'ed (dangling or looping links)
// are left out: reading them fails the same way later.
func walkStore(root string) (files, dirs map[string]pinID, newest time.Time, err error) {
	files, dirs = map[string]pinID{}, map[string]pinID{}
	note := func(st *syscall.Stat_t) {
		if c := time.Unix(st.Ctim.Unix()); c.After(newest) {
			newest = c
		}
	}
	var visit func(dir string, st *syscall.Stat_t, up map[[2]uint64]bool) error
	visit = func(dir string, st *syscall.Stat_t, up map[[2]uint64]bool) error {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if up[key] {
			return nil // a link back to an ancestor
		}
		up[key] = true
		defer delete(up, key)
		dirs[dir] = pinIDOf(st)
		note(st)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%s: cannot list: %v", dir, pinUnwrap(err))
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			var est syscall.Stat_t
			if syscall.Stat(p, &est) != nil {
				continue
			}
			if est.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				if err := visit(p, &est, up); err != nil {
					return err
				}
				continue
			}
			files[p] = pinIDOf(&est)
			note(&est)
		}
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Stat(root, &st); err != nil {
		return nil, nil, newest, fmt.Errorf("%s: %v", root, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, nil, newest, fmt.Errorf("%s: not a directory (a .zarr store is a directory)", root)
	}
	err = visit(root, &st, map[[2]uint64]bool{})
	return files, dirs, newest, err
}

func pinUnwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check returns non-nil once a change of the store was seen; it sticks.
func (p *Pin) Check() error {
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

// fail records a change of file (the first one sticks) and returns the
// error for the read that saw it.
func (p *Pin) fail(file, what string) error {
	err := fmt.Errorf("%s: changed since it was mounted (%s %s); remount to serve the new store", p.Dir, file, what)
	p.err.CompareAndSwap(nil, &err)
	return fmt.Errorf("%s since the store was mounted; remount to serve the new store", what)
}

// ReadFile reads file as it was at pin time, or fails (and the pin with
// it). It fails as os.ReadFile does for a file missing then and now.
func (p *Pin) ReadFile(file string) ([]byte, error) {
	if e := p.err.Load(); e != nil {
		return nil, *e
	}
	file = filepath.Clean(file)
	want, ok := p.files[file]
	if !ok {
		_, err := os.Stat(file)
		if err == nil {
			return nil, p.fail(file, "was created")
		}
		return nil, err
	}
	// As the store's own reader: a FIFO would block the open, and a file
	// is never read whole past the largest chunk a store may hold.
	if want.mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file; a store holds only files and directories", file)
	}
	if want.size > zarr.MaxChunkBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than any chunk or document may hold (%d)", file, want.size, int64(zarr.MaxChunkBytes))
	}
	f, err := os.Open(file)
	if err != nil {
		var st syscall.Stat_t
		if serr := syscall.Stat(file, &st); serr != nil || pinIDOf(&st) != want {
			return nil, p.fail(file, "was removed or replaced")
		}
		return nil, err
	}
	defer f.Close()
	if err := p.same(f, file, want); err != nil {
		return nil, err
	}
	data := make([]byte, want.size)
	_, rerr := io.ReadFull(f, data)
	if err := p.same(f, file, want); err != nil { // after: see Pin
		return nil, err
	}
	if rerr != nil {
		return nil, &os.PathError{Op: "read", Path: file, Err: rerr}
	}
	return data, nil
}

func (p *Pin) same(f *os.File, file string, want pinID) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: file, Err: err}
	}
	if pinIDOf(&st) != want {
		return p.fail(file, "changed")
	}
	return nil
}

// Verify walks the store again and fails (sticky) unless every file and
// directory is as recorded. Call it once the store has been opened.
func (p *Pin) Verify() error {
	if err := p.Check(); err != nil {
		return err
	}
	files, dirs, _, err := walkStore(p.Dir)
	if err != nil {
		return p.fail(p.Dir, "could not be walked again")
	}
	for _, m := range [][2]map[string]pinID{{p.files, files}, {p.dirs, dirs}} {
		for k, id := range m[0] {
			if now, ok := m[1][k]; !ok {
				return p.fail(k, "was removed")
			} else if now != id {
				return p.fail(k, "changed")
			}
		}
		for k := range m[1] {
			if _, ok := m[0][k]; !ok {
				return p.fail(k, "was created")
			}
		}
	}
	return nil
}

// VerifyDirs fails (sticky) unless every directory of the store is as
// recorded: call it after listing directories (building a shard).
func (p *Pin) VerifyDirs() error {
	if err := p.Check(); err != nil {
		return err
	}
	for d, want := range p.dirs {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil || pinIDOf(&st) != want {
			return p.fail(d, "changed")
		}
	}
	return nil
}
