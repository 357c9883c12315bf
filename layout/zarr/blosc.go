package zarr

// Blosc goes through libblosc (Debian libblosc-dev) rather than a Go port:
// AnnData's default compressor is Blosc(lz4), and only the C library covers
// every cname (lz4, lz4hc, zstd, zlib, blosclz) and both shuffles exactly as
// numcodecs does. The *_ctx entry points are used because they keep no
// global state, so concurrent calls need no lock.

/*
#cgo LDFLAGS: -lblosc
#include <stdlib.h>
#include <blosc.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Blosc shuffle modes, numbered as in numcodecs and libblosc.
const (
	AutoShuffle = -1 // numcodecs: bit shuffle for one-byte items, else byte
	NoShuffle   = 0
	ByteShuffle = 1
	BitShuffle  = 2
)

// Blosc is numcodecs' Blosc and the v3 "blosc" codec.
type Blosc struct {
	CName     string // lz4, lz4hc, zstd, zlib, blosclz
	CLevel    int    // 0..9
	Shuffle   int    // NoShuffle, ByteShuffle, BitShuffle or AutoShuffle
	TypeSize  int    // shuffle element size; v2 takes it from the dtype
	BlockSize int    // 0: automatic
}

var bloscCNames = map[string]bool{"lz4": true, "lz4hc": true, "zstd": true, "zlib": true, "blosclz": true}

var v3Shuffles = []string{"noshuffle", "shuffle", "bitshuffle"}

func newBloscFromConfig(cfg *jvalue, format int) (Codec, error) {
	var b Blosc
	var err error
	cn, ok := cfg.get("cname")
	if !ok || cn.kind != jString {
		return nil, fmt.Errorf("missing string \"cname\"")
	}
	if !bloscCNames[cn.str] {
		return nil, fmt.Errorf("unknown cname %q", cn.str)
	}
	b.CName = cn.str
	if b.CLevel, err = cfgInt(cfg, "clevel", 5); err != nil {
		return nil, err
	}
	if b.CLevel < 0 || b.CLevel > 9 {
		return nil, fmt.Errorf("clevel %d out of range 0..9", b.CLevel)
	}
	if b.BlockSize, err = cfgInt(cfg, "blocksize", 0); err != nil {
		return nil, err
	}
	if b.TypeSize, err = cfgInt(cfg, "typesize", 0); err != nil {
		return nil, err
	}
	sv, ok := cfg.get("shuffle")
	switch {
	case !ok || sv.kind == jNull:
		b.Shuffle = ByteShuffle
	case sv.kind == jString:
		b.Shuffle = -2
		for i, name := range v3Shuffles {
			if sv.str == name {
				b.Shuffle = i
			}
		}
		if b.Shuffle == -2 {
			return nil, fmt.Errorf("unknown shuffle %q", sv.str)
		}
	default:
		if b.Shuffle, err = cfgInt(cfg, "shuffle", 1); err != nil {
			return nil, err
		}
		if b.Shuffle < AutoShuffle || b.Shuffle > BitShuffle {
			return nil, fmt.Errorf("unknown shuffle %d", b.Shuffle)
		}
	}
	return b, nil
}

func (Blosc) ID() string     { return "blosc" }
func (Blosc) v3Name() string { return "blosc" }

func (b Blosc) config(format int) obj {
	if format == 2 {
		return obj{{"blocksize", b.BlockSize}, {"clevel", b.CLevel}, {"cname", b.CName}, {"shuffle", b.Shuffle}}
	}
	return obj{
		{"typesize", b.TypeSize}, {"cname", b.CName}, {"clevel", b.CLevel},
		{"shuffle", v3Shuffles[b.effectiveShuffle()]}, {"blocksize", b.BlockSize},
	}
}

func (b Blosc) effectiveShuffle() int {
	if b.Shuffle == AutoShuffle {
		if b.TypeSize == 1 {
			return BitShuffle
		}
		return ByteShuffle
	}
	return b.Shuffle
}

func (b Blosc) Encode(raw []byte) ([]byte, error) {
	if !bloscCNames[b.CName] {
		return nil, fmt.Errorf("blosc: unknown cname %q", b.CName)
	}
	ts := b.TypeSize
	if ts <= 0 {
		ts = 1
	}
	dst := make([]byte, len(raw)+C.BLOSC_MAX_OVERHEAD)
	cname := C.CString(b.CName)
	defer C.free(unsafe.Pointer(cname))
	var src unsafe.Pointer
	if len(raw) > 0 {
		src = unsafe.Pointer(&raw[0])
	} else {
		src = unsafe.Pointer(&dst[0]) // libblosc wants a pointer even for 0 bytes
	}
	n := C.blosc_compress_ctx(C.int(b.CLevel), C.int(b.effectiveShuffle()), C.size_t(ts),
		C.size_t(len(raw)), src, unsafe.Pointer(&dst[0]), C.size_t(len(dst)),
		cname, C.size_t(b.BlockSize), 1)
	if n <= 0 {
		return nil, fmt.Errorf("blosc: compression failed (%d)", int(n))
	}
	return dst[:n], nil
}

func (Blosc) Decode(enc []byte, size int) ([]byte, error) {
	if len(enc) < C.BLOSC_MIN_HEADER_LENGTH {
		return nil, fmt.Errorf("blosc: %d bytes, too short for a header", len(enc))
	}
	var nbytes C.size_t
	if C.blosc_cbuffer_validate(unsafe.Pointer(&enc[0]), C.size_t(len(enc)), &nbytes) < 0 {
		return nil, fmt.Errorf("blosc: corrupt header")
	}
	if size >= 0 && int(nbytes) != size {
		return nil, fmt.Errorf("blosc: header says %d decoded bytes, want %d", int(nbytes), size)
	}
	if int(nbytes) > MaxChunkBytes {
		return nil, fmt.Errorf("blosc: header says %d decoded bytes, more than a chunk may hold (%d)", int(nbytes), MaxChunkBytes)
	}
	if size < 0 && int(nbytes) > bloscProbe {
		if err := bloscProbeAll(enc, int(nbytes)); err != nil {
			return nil, err
		}
	}
	dst := make([]byte, int(nbytes)+1) // +1: a valid pointer when nbytes is 0
	n := C.blosc_decompress_ctx(unsafe.Pointer(&enc[0]), unsafe.Pointer(&dst[0]), nbytes, 1)
	if n < 0 {
		return nil, fmt.Errorf("blosc: decompression failed (%d)", int(n))
	}
	return dst[:n], nil
}

// bloscProbe is the piece size in which a chunk of unknown decoded size is
// test-decoded before its whole buffer is allocated.
const bloscProbe = 1 << 20

// bloscProbeAll decodes enc piece by piece into one small buffer, so that
// a header declaring a large size (nothing else bounds it when the chunk
// size is not known, as for string chunks) must be backed by data that
// really decodes before that size is allocated.
func bloscProbeAll(enc []byte, nbytes int) error {
	var ts C.size_t
	var flags C.int
	C.blosc_cbuffer_metainfo(unsafe.Pointer(&enc[0]), &ts, &flags)
	item := max(int(ts), 1)
	items := nbytes / item
	step := max(bloscProbe/item, 1)
	scratch := make([]byte, step*item)
	for start := 0; start < items; start += step {
		n := min(step, items-start)
		if C.blosc_getitem(unsafe.Pointer(&enc[0]), C.int(start), C.int(n), unsafe.Pointer(&scratch[0])) < 0 {
			return fmt.Errorf("blosc: corrupt data (header says %d decoded bytes)", nbytes)
		}
	}
	return nil
}
