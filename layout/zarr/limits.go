package zarr

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Sizes in metadata are untrusted: an edited .zarray can declare any shape
// or chunk shape, and nothing may be allocated by a declared number before
// it is bounded. Validate refuses what no sane store holds (and what would
// overflow an int); StoredChunks lets a reader bound a chunk grid by the
// files actually present.

const (
	// MaxChunkBytes bounds one decoded chunk (a shard counts as one chunk).
	// zarr-python's default chunks are a few MiB; 2 GiB is far beyond any
	// writer's choice and still allocatable.
	MaxChunkBytes = 2 << 30
	// MaxRank bounds the number of dimensions (numpy's own limit is 64).
	MaxRank = 32
	// maxElems bounds an array's element count so that element and byte
	// offsets (elements × item size) never overflow an int.
	maxElems = 1 << 52
	// maxItemSize bounds a fixed-size string dtype's item size ('S', 'U').
	maxItemSize = 1 << 24
	// stringItemBytes is what one decoded string of an 'O' chunk costs in
	// memory before its text (a Go string header).
	stringItemBytes = 16
)

// checkSizes is the part of Validate that bounds declared sizes. It runs
// before anything is sized by them (fill values, chunk buffers).
func (m *ArrayMeta) checkSizes() error {
	if len(m.Shape) > MaxRank {
		return fmt.Errorf("rank %d exceeds %d dimensions", len(m.Shape), MaxRank)
	}
	if m.DType.Kind != 'O' && (m.DType.Size <= 0 || m.DType.Size > maxItemSize) {
		return fmt.Errorf("item size %d bytes of dtype %s is out of range", m.DType.Size, m.DType)
	}
	elems := 1
	for _, d := range m.Shape {
		if d > maxElems || (d > 0 && elems > maxElems/d) {
			return fmt.Errorf("shape %v declares more than 2^52 elements", m.Shape)
		}
		elems *= d
	}
	item := m.DType.Size
	if m.DType.Kind == 'O' {
		item = stringItemBytes
	}
	per := item
	for _, c := range m.Chunks {
		if c > MaxChunkBytes/per {
			return fmt.Errorf("chunk shape %v of %s declares more than %d bytes per chunk", m.Chunks, m.DType, MaxChunkBytes)
		}
		per *= c
	}
	return nil
}

// ChunkCount is the number of chunks in the grid (product of Grid).
// Validate bounds it by the element count, so it never overflows.
func (m *ArrayMeta) ChunkCount() int { return product(m.Grid()) }

// EachChunk calls fn with every chunk index of the grid in C order (the
// slice is reused), stopping at the first error. It holds no table of
// chunks, so a grid of any declared size costs only the calls made.
func (m *ArrayMeta) EachChunk(fn func(idx []int) error) error {
	g := m.Grid()
	n := product(g)
	idx := make([]int, len(g))
	for ; n > 0; n-- {
		if err := fn(idx); err != nil {
			return err
		}
		nextIndex(idx, g)
	}
	return nil
}

// StoredChunks counts the chunk (or shard) files under the array's
// directory, stopping once it has seen limit of them, so the count costs
// at most what is on disk. Metadata documents and hidden files are not
// chunks.
func (a *Array) StoredChunks(limit int) (int, error) {
	dir := a.where()
	n := 0
	stop := errors.New("enough")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return osError(p, err)
		}
		name := d.Name()
		if p != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || name == "zarr.json" {
			return nil
		}
		if n++; n >= limit {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return n, err
	}
	return n, nil
}

// osError is a one-line error for a failed file operation that says what
// actually went wrong: a symlink loop, a permission problem or a disk fault
// is not a missing file, and telling the user so sends them to the fix.
func osError(path string, err error) error {
	var ze *Error
	if errors.As(err, &ze) {
		return err // already says what and where
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path != "" {
		path = pe.Path
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		if errors.Is(err, fs.ErrNotExist) {
			return errorf(path, ErrNotExist, "does not exist")
		}
		return errorf(path, err, "%v", unwrapPathErr(err))
	}
	switch errno {
	case syscall.ENOENT:
		return errorf(path, ErrNotExist, "does not exist")
	case syscall.ELOOP:
		return errorf(path, errno, "symlink loop at %s (a symbolic link that leads back to itself; fix or remove the link)", path)
	case syscall.EACCES, syscall.EPERM:
		return errorf(path, errno, "permission denied (make it readable to this user)")
	case syscall.EISDIR:
		return errorf(path, errno, "is a directory where a file belongs (the store is damaged)")
	case syscall.ENOTDIR:
		return errorf(path, errno, "a path component is a file where a directory belongs (the store is damaged)")
	case syscall.EIO:
		return errorf(path, errno, "I/O error (the disk or file system reported a fault; check it and retry)")
	case syscall.ENAMETOOLONG:
		return errorf(path, errno, "file name too long")
	}
	return errorf(path, errno, "%v", errno)
}

// statFile reports whether the file at path exists (a directory there is
// an error: every caller expects a document or a chunk), failing on anything but a plain
// "no such file" (a symlink loop or an unreadable directory must not read
// as absent: that would silently drop a node or fill a chunk).
func statFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err == nil {
		if fi.IsDir() {
			return false, osError(path, syscall.EISDIR)
		}
		if !fi.Mode().IsRegular() {
			return false, errorf(path, nil, "not a regular file but %s; a store holds only files and directories", fileKind(fi.Mode()))
		}
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		var errno syscall.Errno
		if !errors.As(err, &errno) || errno == syscall.ENOENT {
			// A link whose target is gone is damage, not an absent chunk.
			if target, lerr := os.Readlink(path); lerr == nil {
				return false, errorf(path, ErrNotExist, "dangling symlink (it points to %s, which does not exist)", target)
			}
			return false, nil
		}
	}
	return false, osError(path, err)
}

// HasChunk reports whether the chunk's file exists; a symlink loop, a
// permission problem or a fault is an error saying so, not "missing".
func (a *Array) HasChunk(idx []int) (bool, error) {
	if err := a.checkIndex(idx); err != nil {
		return false, err
	}
	return statFile(a.ChunkFile(idx))
}

// ChunkBytes is what one decoded chunk costs in memory: RawChunkSize, or
// for strings their headers alone (their text is counted as it is read).
func (m *ArrayMeta) ChunkBytes() int {
	if m.DType.Kind == 'O' {
		return m.ChunkLen() * stringItemBytes
	}
	return m.RawChunkSize()
}

// readFile reads a store file, refusing anything but a regular file: a
// FIFO where a chunk belongs would block the read forever, a device would
// never end. O_NONBLOCK keeps the open itself from waiting on a FIFO.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
		}
		return nil, errorf(path, nil, "not a regular file but %s; a store holds only files and directories", fileKind(fi.Mode()))
	}
	if fi.Size() > MaxChunkBytes {
		return nil, errorf(path, nil, "%d bytes, more than any chunk or document may hold (%d)", fi.Size(), MaxChunkBytes)
	}
	return io.ReadAll(io.NewSectionReader(f, 0, fi.Size()))
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}
