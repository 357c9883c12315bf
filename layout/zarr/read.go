package zarr

// Reading elements of an opened array: chunks through the shared cache,
// flat ranges and strings.

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
)

// ChunkFile is the path of a chunk's file.
func (a *Array) ChunkFile(idx []int) string {
	return filepath.Join(a.s.dir, filepath.FromSlash(a.Path), filepath.FromSlash(a.Meta.ChunkKey(idx)))
}

func (a *Array) where() string { return filepath.Join(a.s.dir, filepath.FromSlash(a.Path)) }

func (a *Array) checkIndex(idx []int) error {
	g := a.Meta.Grid()
	if len(idx) != len(g) {
		return errorf(a.where(), nil, "chunk index %v has rank %d, array has rank %d", idx, len(idx), len(g))
	}
	for i := range idx {
		if idx[i] < 0 || idx[i] >= g[i] {
			return errorf(a.where(), nil, "chunk index %v outside the chunk grid %v", idx, g)
		}
	}
	return nil
}

// chunk returns a chunk's decoded elements, shared and read-only: []byte
// or []string. A missing chunk file is a chunk of fill values.
func (a *Array) chunk(idx []int) (any, error) {
	if err := a.checkIndex(idx); err != nil {
		return nil, err
	}
	file := a.ChunkFile(idx)
	return a.s.cache.get(file, func() (any, int64, error) {
		data, err := a.s.cache.readFile(file)
		if err != nil {
			// Only a plain "no such file" is a chunk of fill values: a
			// symlink loop, a fault or a read hook's refusal (a mount's
			// pin: the file changed) is an error, never fill.
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, 0, osError(file, err)
			}
			if ok, serr := statFile(file); serr != nil || ok {
				if serr == nil {
					serr = osError(file, err)
				}
				return nil, 0, serr
			}
			return a.fillChunk(), 0, nil // shared, costs the cache nothing
		}
		v, err := a.Meta.decodeChunk(data)
		if err != nil {
			return nil, 0, atPath(file, err)
		}
		switch x := v.(type) {
		case []byte:
			return x, int64(len(x)), nil
		case []string:
			size := int64(16 * len(x))
			for _, s := range x {
				size += int64(len(s))
			}
			return x, size, nil
		}
		return v, 0, nil
	})
}

func (a *Array) fillChunk() any {
	a.fillOnce.Do(func() {
		if a.Meta.DType.Kind == 'O' {
			s := make([]string, a.Meta.ChunkLen())
			f := fillString(a.Meta.fillJV())
			for i := range s {
				s[i] = f
			}
			a.fill = s
		} else {
			a.fill = bytes.Repeat(a.Meta.fillElement(), a.Meta.ChunkLen())
		}
	})
	return a.fill
}

// ReadChunk returns one decoded chunk's raw element bytes (full chunk
// shape, C order, the dtype's byte order), the fill value when the chunk
// file is missing. The slice is the caller's.
func (a *Array) ReadChunk(idx []int) ([]byte, error) {
	if a.Meta.DType.Kind == 'O' {
		return nil, errorf(a.where(), nil, "ReadChunk on a string array (use ReadChunkStrings)")
	}
	v, err := a.chunk(idx)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), v.([]byte)...), nil
}

// ReadChunkStrings returns one chunk of a string array ('O', 'U' or 'S').
func (a *Array) ReadChunkStrings(idx []int) ([]string, error) {
	if !a.Meta.DType.IsString() {
		return nil, errorf(a.where(), nil, "ReadChunkStrings on a %s array", a.Meta.DType)
	}
	v, err := a.chunk(idx)
	if err != nil {
		return nil, err
	}
	if s, ok := v.([]string); ok {
		return append([]string(nil), s...), nil
	}
	s, err := DecodeFixedStrings(a.Meta.DType, v.([]byte))
	return s, atPath(a.ChunkFile(idx), err)
}

// ReadRange returns n elements starting at flat C-order index start
// (element i of a 2-D array with shape (r, c) is row i/c, column i%c, so
// whole rows k..k+m are ReadRange(k*c, m*c)). The bytes are as stored:
// the dtype's byte order.
func (a *Array) ReadRange(start, n int) ([]byte, error) {
	if a.Meta.DType.Kind == 'O' {
		return nil, errorf(a.where(), nil, "ReadRange on a string array (use ReadStrings)")
	}
	if n < 0 {
		return nil, errorf(a.where(), nil, "negative count %d", n)
	}
	dst := make([]byte, n*a.Meta.DType.Size)
	return dst, a.ReadRangeInto(dst, start)
}

// ReadRangeInto fills dst (a whole number of elements) from flat index
// start, saving an allocation on hot paths.
func (a *Array) ReadRangeInto(dst []byte, start int) error {
	item := a.Meta.DType.Size
	if a.Meta.DType.Kind == 'O' {
		return errorf(a.where(), nil, "ReadRangeInto on a string array (use ReadStrings)")
	}
	if len(dst)%item != 0 {
		return errorf(a.where(), nil, "buffer of %d bytes is not a whole number of %d-byte elements", len(dst), item)
	}
	return a.walk(start, len(dst)/item, func(chunk any, coff, doff, n int) {
		copy(dst[doff*item:(doff+n)*item], chunk.([]byte)[coff*item:(coff+n)*item])
	})
}

// ReadStrings returns n elements of a string array from flat index start.
func (a *Array) ReadStrings(start, n int) ([]string, error) {
	dt := a.Meta.DType
	if !dt.IsString() {
		return nil, errorf(a.where(), nil, "ReadStrings on a %s array", dt)
	}
	if n < 0 {
		return nil, errorf(a.where(), nil, "negative count %d", n)
	}
	out := make([]string, n)
	var ferr error
	err := a.walk(start, n, func(chunk any, coff, doff, k int) {
		if s, ok := chunk.([]string); ok {
			copy(out[doff:doff+k], s[coff:coff+k])
			return
		}
		s, err := DecodeFixedStrings(dt, chunk.([]byte)[coff*dt.Size:(coff+k)*dt.Size])
		if err != nil && ferr == nil {
			ferr = atPath(a.where(), err)
		}
		copy(out[doff:], s)
	})
	if err == nil {
		err = ferr
	}
	return out, err
}

// walk visits the flat range [start, start+n) as runs that lie within one
// chunk and one row of it: fn(chunk, offset in chunk, offset in range,
// run length). Chunks fetched during the call are remembered so a range
// crossing many rows of the same chunks asks the shared cache once each.
func (a *Array) walk(start, n int, fn func(chunk any, coff, doff, n int)) error {
	m := a.Meta
	total := m.Len()
	if start < 0 || n < 0 || start > total || n > total-start {
		return errorf(a.where(), nil, "range [%d, %d) outside the array's %d elements", start, start+n, total)
	}
	if n == 0 {
		return nil
	}
	r := len(m.Shape)
	if r == 0 {
		c, err := a.chunk(nil)
		if err != nil {
			return err
		}
		fn(c, 0, 0, 1)
		return nil
	}
	coords := make([]int, r)
	cidx := make([]int, r)
	local := map[string]any{}
	band := -1
	var keyb []byte
	for done := 0; done < n; {
		// unravel start+done
		f := start + done
		for d := r - 1; d >= 0; d-- {
			coords[d] = f % m.Shape[d]
			f /= m.Shape[d]
		}
		keyb = keyb[:0]
		coff := 0
		for d := 0; d < r; d++ {
			cidx[d] = coords[d] / m.Chunks[d]
			coff = coff*m.Chunks[d] + coords[d]%m.Chunks[d]
			keyb = strconv.AppendInt(append(keyb, ','), int64(cidx[d]), 10)
		}
		if cidx[0] != band {
			// Rows have moved past this band of chunks: let go of them.
			clear(local)
			band = cidx[0]
		}
		last := m.Chunks[r-1]
		runEnd := min((cidx[r-1]+1)*last, m.Shape[r-1])
		k := min(runEnd-coords[r-1], n-done)
		key := string(keyb)
		c, ok := local[key]
		if !ok {
			var err error
			if c, err = a.chunk(cidx); err != nil {
				return err
			}
			local[key] = c
		}
		fn(c, coff, done, k)
		done += k
	}
	return nil
}

// Store is the store the array belongs to.
func (a *Array) Store() *Store { return a.s }
