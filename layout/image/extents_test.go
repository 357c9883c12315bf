package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A shard has many small arrays, each written by its own WriteExtents call
// with a window meant for large ones: the buffer must be sized to the
// extent (and reused), not a fresh window per call — with 16 MiB windows
// and the CLI's 48 MiB memory limit that was a collection every few arrays.
func TestWriteExtentsBufferFitsTheExtent(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1000
	e := Extent{Name: "small", Off: 10, Size: size, Fill: func(p []byte, off int64) error {
		for i := range p {
			p[i] = byte(off + int64(i))
		}
		return nil
	}}
	write := func() {
		if err := WriteExtents(context.Background(), f, []Extent{e}, 16<<20, nil); err != nil {
			t.Fatal(err)
		}
	}
	write()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 20
	for i := 0; i < calls; i++ {
		write()
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > calls<<17 {
		t.Errorf("%d calls writing a %d-byte extent allocated %d bytes; the buffer should fit the extent", calls, size, got)
	}
	got := make([]byte, size)
	if _, err := f.ReadAt(got, 10); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	e.Fill(want, 0)
	if !bytes.Equal(got, want) {
		t.Error("the extent's bytes were not written as made")
	}
}
