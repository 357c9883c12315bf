// Package zarr reads and writes Zarr stores (format 2 and 3) on a local
// file system, for sharding AnnData out of core.
//
// There is no maintained Go Zarr module, and annslicer needs little of the
// format: regular chunk grids, C order, numeric and string element types,
// and the codecs AnnData writers use (Blosc, Zstd, GZip, Zlib; v3 sharding).
// What it needs beyond reading is exactness: the FUSE mount serves virtual
// stores whose metadata documents must be the bytes zarr-python would write,
// so the document writers here are pure functions that never touch disk.
//
// Reading: Open a Store, then Group or Array by slash path. Element data
// comes back raw, in the byte order the dtype names, so callers can copy it
// without conversion. Decoded chunks are kept in a bounded, shared LRU Cache.
//
// Writing: CreateGroup, CreateArray, ArrayWriter.WriteChunk and Consolidate
// write files directly; atomicity is the caller's (write a temporary
// directory, rename it).
package zarr

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Attrs are a node's attributes, each value kept as raw JSON so it can be
// copied verbatim from one store to another.
type Attrs = map[string]json.RawMessage

var (
	// ErrNotExist is wrapped when a node or document is missing.
	ErrNotExist = errors.New("does not exist")
	// ErrUnsupported is wrapped when a store uses a valid Zarr feature this
	// package does not implement.
	ErrUnsupported = errors.New("not supported")
)

// Error is a one-line error naming the file (or node) and the problem, e.g.
// `zarr: /x/y.zarr/X/data/.zarray: unknown compressor "foo"`.
type Error struct {
	Path string
	Msg  string
	Err  error // ErrNotExist, ErrUnsupported or an underlying cause; may be nil
}

func (e *Error) Error() string { return "zarr: " + e.Path + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errorf(path string, kind error, format string, a ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, a...), Err: kind}
}

// atPath puts a path on an error from code that did not know it.
func atPath(path string, err error) error {
	if err == nil {
		return nil
	}
	var ze *Error
	if errors.As(err, &ze) {
		if ze.Path != "" {
			return err
		}
		return &Error{Path: path, Msg: ze.Msg, Err: ze.Err}
	}
	return &Error{Path: path, Msg: err.Error(), Err: err}
}

// unsupported is a path-less ErrUnsupported error; callers add the path.
func unsupported(format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...), Err: ErrUnsupported}
}
