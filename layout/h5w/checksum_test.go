package h5w

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/annslicer/annslicer/layout/h5"
)

// The superblock and root object header of a file h5py wrote
// (testdata/ref.h5, libver v108) carry libhdf5's checksums.
func TestLookup3MatchesLibhdf5(t *testing.T) {
	b, err := os.ReadFile("testdata/ref.h5")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h5.Checksum(b[:44]), binary.LittleEndian.Uint32(b[44:]); got != want {
		t.Errorf("superblock checksum %08x, libhdf5 wrote %08x", got, want)
	}
	root := binary.LittleEndian.Uint64(b[36:])
	n := int(b[root+6]) // chunk #0 size, one byte (flags 0)
	end := int(root) + 7 + n
	if got, want := h5.Checksum(b[root:end]), binary.LittleEndian.Uint32(b[end:]); got != want {
		t.Errorf("object header checksum %08x, libhdf5 wrote %08x", got, want)
	}
}
