// Package filewrite writes large buffers into files in pieces of at most
// Piece bytes.
//
// Why: Linux sizes the page-cache folios a buffered write allocates by the
// write's length, and a write of 2 MiB or more gets 2 MiB folios, taken
// from the largest free blocks. On a virtual machine whose balloon reports
// free memory to the host (virtio-balloon free page reporting, as on the
// machine annslicer is built on), those blocks are the memory handed back,
// and the first copy into each page takes a host fault. Measured there,
// writing 320 MB into new files: 8 MiB pwrites 120-230 MB/s, 1 MiB ones
// 4.0-4.7 GB/s, the rate of cp; a shuffled slice of 200,000 cells went
// from 1.2-1.5 s to 0.55 s. Once a run writes more than the memory the
// guest freed recently, every size slows to the host's ~150 MB/s (cp
// too). On a machine without such a balloon the sizes run alike: a system
// call a MiB costs nothing next to the copy.
package filewrite

import (
	"io"
	"os"
)

// Piece is the most bytes given to one write call.
const Piece = 1 << 20

// WriteAt writes p at off, a piece at a time.
func WriteAt(f io.WriterAt, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), Piece)
		if _, err := f.WriteAt(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// Writer passes each write on to W a piece at a time (under a bufio
// writer, whose large writes go straight through).
type Writer struct{ W io.Writer }

func (w Writer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := w.W.Write(p[done:min(len(p), done+Piece)])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// WriteFile is os.WriteFile, a piece at a time.
func WriteFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = Writer{f}.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
