package zarr

import (
	"bytes"
	"testing"
)

// ReadRowsInto's fast path agrees with the general walk for every row
// range, whatever the chunking (trailing dims whole, padded or split).
func TestReadRowsIntoMatchesReadRange(t *testing.T) {
	for _, c := range []struct {
		shape, chunks []int
		codec         Codec
	}{
		{[]int{23}, []int{5}, nil},
		{[]int{23, 3}, []int{4, 3}, Blosc{CName: "lz4", CLevel: 5, Shuffle: ByteShuffle}},
		{[]int{23, 3}, []int{4, 5}, nil}, // chunk wider than the array
		{[]int{23, 6}, []int{7, 4}, nil}, // columns split: general walk
		{[]int{9, 2, 3}, []int{2, 2, 3}, Zstd{Level: 1}},
	} {
		dir := t.TempDir()
		if err := CreateGroup(dir, "", 2, nil); err != nil {
			t.Fatal(err)
		}
		m := ArrayMeta{Format: 2, Shape: c.shape, Chunks: c.chunks, DType: MustDType("<i4")}
		if c.codec != nil {
			m.Codecs = []Codec{c.codec}
		}
		w, err := CreateArray(dir, "a", m, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, m.Len()*4)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		if err := w.WriteAll(raw); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Array("a")
		if err != nil {
			t.Fatal(err)
		}
		row := m.Len() / c.shape[0]
		for r0 := 0; r0 <= c.shape[0]; r0++ {
			for n := 0; r0+n <= c.shape[0]; n++ {
				got := make([]byte, n*row*4)
				if err := a.ReadRowsInto(got, r0); err != nil {
					t.Fatalf("%v/%v rows [%d,%d): %v", c.shape, c.chunks, r0, r0+n, err)
				}
				if want := raw[r0*row*4 : (r0+n)*row*4]; !bytes.Equal(got, want) {
					t.Fatalf("%v/%v rows [%d,%d) differ", c.shape, c.chunks, r0, r0+n)
				}
			}
		}
		if err := a.ReadRowsInto(make([]byte, row*4), c.shape[0]); err == nil {
			t.Errorf("%v: reading past the last row did not fail", c.shape)
		}
	}
}
