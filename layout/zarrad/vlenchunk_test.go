package zarrad

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/annslicer/annslicer/layout/zarr"
)

// A string chunk made on read gives, for every range, the bytes of the
// chunk encoded whole.
func TestVlenChunkReadsAsEncoded(t *testing.T) {
	for _, strs := range [][]string{
		nil,
		{""},
		{"a", "", "héllo", "ü", "", "cell_12345", "x"},
		{"GAPDH", "ACTB", "MT-CO1", "", "ENSG00000141510"},
	} {
		for pad := range 3 {
			want := zarr.EncodeVlenUTF8(append(slices.Clip(strs), make([]string, pad)...))
			f := newVlenChunk(strs, pad)
			if f.Size() != int64(len(want)) {
				t.Fatalf("%q: size %d, want %d", strs, f.Size(), len(want))
			}
			for off := 0; off <= len(want)+1; off++ {
				for n := 0; n <= len(want)+2-off; n++ {
					p := bytes.Repeat([]byte{0xee}, n)
					got, err := f.ReadAt(p, int64(off))
					wantN := max(0, min(n, len(want)-off))
					w := want[min(off, len(want)):][:wantN]
					if got != wantN || !bytes.Equal(p[:got], w) {
						t.Fatalf("%q [%d, +%d): %d bytes %x, want %x", strs, off, n, got, p[:got], w)
					}
					if n > 0 && (got < n) != (err == io.EOF) {
						t.Fatalf("%q [%d, +%d): %d bytes, err %v", strs, off, n, got, err)
					}
				}
			}
		}
	}
}
