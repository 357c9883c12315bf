// Package image defines shard images: files whose size is known before any
// of their data is produced, and whose bytes are produced by range.
//
// One definition of a shard's bytes serves both `mount` (a ReadAt per FUSE
// read) and `materialize` (a sequential copy to disk), so a virtual shard and
// a written one are the same bytes.
package image

import "io"

// File is one image file: an io.ReaderAt with a size fixed up front.
// ReadAt must be safe for concurrent use.
type File interface {
	io.ReaderAt
	Size() int64
}

// Entry is one file of a tree image (a zarr store). Path is slash-separated
// and relative to the tree's root, e.g. "X/data/0" or ".zmetadata".
type Entry struct {
	Path string
	File File
}

// Bytes is a File held in memory (metadata documents, small chunks).
type Bytes []byte

func (b Bytes) Size() int64 { return int64(len(b)) }

func (b Bytes) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
