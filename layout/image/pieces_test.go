package image

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// Every read of a Pieces file, at any offset and length, is the same
// bytes as the pieces joined.
func TestPiecesReadsAsTheJoinedPieces(t *testing.T) {
	piece := func(k int) []byte { return bytes.Repeat([]byte(fmt.Sprint(k%10)), k%7) }
	for _, n := range []int{0, 1, 2, 30} {
		var want []byte
		for k := range n {
			want = append(want, piece(k)...)
		}
		p := NewPieces(n, piece)
		if p.Size() != int64(len(want)) {
			t.Fatalf("n=%d: size %d, want %d", n, p.Size(), len(want))
		}
		for off := 0; off <= len(want); off++ {
			for _, l := range []int{1, 3, 8, 200} {
				buf := make([]byte, l)
				got, err := p.ReadAt(buf, int64(off))
				end := min(off+l, len(want))
				if !bytes.Equal(buf[:got], want[off:end]) {
					t.Fatalf("n=%d ReadAt(%d, len %d) = %q, want %q", n, off, l, buf[:got], want[off:end])
				}
				if (got < l) != (err == io.EOF) {
					t.Fatalf("n=%d ReadAt(%d, len %d): %d bytes, err %v", n, off, l, got, err)
				}
			}
		}
	}
}
