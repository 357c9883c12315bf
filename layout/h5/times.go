package h5

// #include "helpers.h"
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
)

// A copy of an element whose objects record times (files h5py wrote with
// track_times, as anndata 0.6 did) must carry the source's times, or two
// runs give different bytes: H5Ocopy keeps them, but CopyFrom then
// rewrites the copy's object-reference attributes and libhdf5 stamps the
// time of day into each header it changes. libhdf5 has no call to set an
// object's times, so File.Close writes the noted ones back into the
// closed file's headers: version 1 keeps the modification time in a
// message (type 0x12), version 2 keeps four times in the header's prefix,
// covered by its checksum.

// touched is a copied header libhdf5 stamped, with its source object's
// times (which H5Ocopy had copied).
type touched struct {
	addr                       int64
	atime, mtime, ctime, btime uint32
}

const msgModTime = 0x12

func (f *File) noteTouched(ts []C.ans_touched) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		f.touched = append(f.touched, touched{int64(t.addr), uint32(t.atime), uint32(t.mtime), uint32(t.ctime), uint32(t.btime)})
	}
}

// restoreTimes writes the noted times into the file, closed by now;
// base is where its addresses count from (the end of its user block).
func (f *File) restoreTimes(ts []touched, base int64) error {
	if len(ts) == 0 {
		return nil
	}
	fh, err := os.OpenFile(f.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	st, err := fh.Stat()
	if err == nil {
		read := ReaderAt(fh, base, st.Size())
		for _, t := range ts {
			if err = restoreHeaderTimes(fh, read, base, t); err != nil {
				break
			}
		}
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: restoring copied objects' times: %w", f.Path, err)
	}
	return nil
}

// restoreHeaderTimes writes t's times into its header; read reads the
// file at addresses from base, as the header's own (continuations) are.
func restoreHeaderTimes(fh *os.File, read HeaderReader, base int64, t touched) error {
	mtime := int64(-1) // version 1: where the message keeps the time
	h, err := WalkHeader(read, t.addr, func(m Message) error {
		if m.Type == msgModTime && len(m.Data) >= 8 && m.Data[0] == 1 {
			mtime = m.Off + 4
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case h.Version == 1 && mtime >= 0:
		var b [4]byte
		// libhdf5 reports a version 1 header's one time as its change time
		binary.LittleEndian.PutUint32(b[:], t.ctime)
		_, err = fh.WriteAt(b[:], base+mtime)
		return err
	case h.Version == 2 && h.Flags&0x20 != 0:
		chunk, err := read(t.addr, h.Chunk0)
		if err != nil {
			return err
		}
		for i, v := range []uint32{t.atime, t.mtime, t.ctime, t.btime} {
			binary.LittleEndian.PutUint32(chunk[6+4*i:], v)
		}
		n := len(chunk) - 4
		binary.LittleEndian.PutUint32(chunk[n:], Checksum(chunk[:n]))
		_, err = fh.WriteAt(chunk, base+t.addr)
		return err
	}
	return nil
}
