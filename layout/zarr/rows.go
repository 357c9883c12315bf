package zarr

// ReadRowsInto fills dst (a whole number of rows, a row being every element
// with one index along the first axis) from rows starting at row0. When
// chunks span whole rows (every dimension but the first unchunked, as
// AnnData writers chunk), rows are copied straight out of the cached
// chunks without the general walk, which matters for gathers of many
// scattered rows; otherwise it is ReadRangeInto.
func (a *Array) ReadRowsInto(dst []byte, row0 int) error {
	m := a.Meta
	item := m.DType.Size
	if m.DType.Kind == 'O' || len(m.Shape) == 0 {
		return a.ReadRangeInto(dst, row0)
	}
	rowElems := 1
	for d := 1; d < len(m.Shape); d++ {
		if m.Chunks[d] < m.Shape[d] {
			if len(m.Shape) == 2 {
				return a.readRows2D(dst, row0)
			}
			return a.ReadRangeInto(dst, row0*product(m.Shape[1:]))
		}
		rowElems *= m.Shape[d]
	}
	rowBytes := rowElems * item
	if rowBytes == 0 || len(dst)%rowBytes != 0 {
		return a.ReadRangeInto(dst, row0*rowElems)
	}
	n := len(dst) / rowBytes
	if row0 < 0 || row0+n > m.Shape[0] {
		return errorf(a.where(), nil, "rows [%d, %d) outside the array's %d rows", row0, row0+n, m.Shape[0])
	}
	// A chunk's row stride: trailing chunk dims may exceed the shape
	// (they are padded), so a chunk row holds product(Chunks[1:]) elements.
	chunkRowBytes := product(m.Chunks[1:]) * item
	idx := make([]int, len(m.Shape))
	cr := m.Chunks[0]
	for done := 0; done < n; {
		r := row0 + done
		idx[0] = r / cr
		c, err := a.chunk(idx)
		if err != nil {
			return err
		}
		b := c.([]byte)
		k := min(n-done, (idx[0]+1)*cr-r)
		in := r - idx[0]*cr
		if chunkRowBytes == rowBytes {
			copy(dst[done*rowBytes:(done+k)*rowBytes], b[in*rowBytes:(in+k)*rowBytes])
		} else {
			for i := 0; i < k; i++ {
				copy(dst[(done+i)*rowBytes:(done+i+1)*rowBytes], b[(in+i)*chunkRowBytes:])
			}
		}
		done += k
	}
	return nil
}

// readRows2D is ReadRowsInto for a 2-D array whose columns are split
// between chunks (zarr's default chunking of obsm matrices).
func (a *Array) readRows2D(dst []byte, row0 int) error {
	m := a.Meta
	item := m.DType.Size
	cols, cr, cc := m.Shape[1], m.Chunks[0], m.Chunks[1]
	rowBytes := cols * item
	if rowBytes == 0 || len(dst)%rowBytes != 0 {
		return a.ReadRangeInto(dst, row0*cols)
	}
	n := len(dst) / rowBytes
	if row0 < 0 || row0+n > m.Shape[0] {
		return errorf(a.where(), nil, "rows [%d, %d) outside the array's %d rows", row0, row0+n, m.Shape[0])
	}
	idx := make([]int, 2)
	for done := 0; done < n; {
		r := row0 + done
		idx[0] = r / cr
		k := min(n-done, (idx[0]+1)*cr-r)
		in := r - idx[0]*cr
		for idx[1] = 0; idx[1]*cc < cols; idx[1]++ {
			c, err := a.chunk(idx)
			if err != nil {
				return err
			}
			b := c.([]byte)
			c0 := idx[1] * cc
			w := min(cc, cols-c0) * item
			for i := 0; i < k; i++ {
				copy(dst[(done+i)*rowBytes+c0*item:][:w], b[(in+i)*cc*item:][:w])
			}
		}
		done += k
	}
	return nil
}
