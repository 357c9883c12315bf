package filewrite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// calls records each write a writer gets.
type calls struct {
	buf   []byte
	sizes []int
	fail  int // the write (counted from 1) that fails, 0: none
}

func (c *calls) WriteAt(p []byte, off int64) (int, error) {
	c.sizes = append(c.sizes, len(p))
	if len(c.sizes) == c.fail {
		return 0, errors.New("disk full")
	}
	if need := int(off) + len(p); need > len(c.buf) {
		c.buf = append(c.buf, make([]byte, need-len(c.buf))...)
	}
	copy(c.buf[off:], p)
	return len(p), nil
}

func (c *calls) Write(p []byte) (int, error) { return c.WriteAt(p, int64(len(c.buf))) }

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}

// Every write call gets at most Piece bytes, and the bytes land where one
// call would have put them.
func TestWritesGoInPieces(t *testing.T) {
	for _, n := range []int{0, 1, Piece - 1, Piece, Piece + 1, 5*Piece + 123} {
		p := data(n)
		var a, w calls
		if err := WriteAt(&a, p, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := (Writer{&w}).Write(p); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*calls{&a, &w} {
			for _, s := range c.sizes {
				if s > Piece {
					t.Errorf("%d bytes: a write of %d", n, s)
				}
			}
			if want := (n + Piece - 1) / Piece; len(c.sizes) != want {
				t.Errorf("%d bytes: %d writes, want %d", n, len(c.sizes), want)
			}
		}
		if n > 0 && !bytes.Equal(a.buf[7:], p) {
			t.Errorf("%d bytes: WriteAt put other bytes", n)
		}
		if !bytes.Equal(w.buf, p) {
			t.Errorf("%d bytes: Writer put other bytes", n)
		}
	}
}

func TestAFailedPieceStopsTheWrite(t *testing.T) {
	c := calls{fail: 2}
	if err := WriteAt(&c, data(3*Piece), 0); err == nil || len(c.sizes) != 2 {
		t.Errorf("WriteAt: error %v after %d writes; want the second's", err, len(c.sizes))
	}
	c = calls{fail: 2}
	if n, err := (Writer{&c}).Write(data(3 * Piece)); err == nil || n != Piece {
		t.Errorf("Writer: %d bytes, error %v; want %d and the second write's", n, err, Piece)
	}
}

func TestWriteFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, data(3*Piece), 0o600); err != nil {
		t.Fatal(err)
	}
	p := data(Piece + 5)[3:]
	if err := WriteFile(name, p, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, p) {
		t.Errorf("the file holds %d bytes (%v), not the %d written", len(got), err, len(p))
	}
}
