package h5

// #include <stdlib.h>
// #include "storage.h"
// #include "helpers.h"
import "C"

import (
	"unsafe"
)

// StorageSize is the number of bytes allocated in the file for the
// dataset's data (for filtered chunks, their stored, compressed size).
func (d *Dataset) StorageSize() int64 { return int64(C.ans_ds_storage_size(d.id)) }

// NumChunks is the number of written chunks of a chunked dataset.
func (d *Dataset) NumChunks() (int64, error) {
	n := int64(C.ans_ds_num_chunks(d.id))
	if n < 0 {
		return 0, fail("count the chunks of", d.Path)
	}
	return n, nil
}

// ChunkInfo describes one written chunk.
type ChunkInfo struct {
	Offset []int64 // coordinates of its first element
	Mask   uint32  // filters skipped for this chunk (bit i: filter i)
	Addr   int64   // file offset of its stored bytes
	Size   int64   // stored (filtered) size
}

// ChunkInfo is the idx-th written chunk (0 <= idx < NumChunks).
func (d *Dataset) ChunkInfo(idx int64) (ChunkInfo, error) {
	off := make([]C.hsize_t, len(d.Dims)+1)
	var mask C.unsigned
	var addr, size C.int64_t
	if C.ans_ds_chunk_info(d.id, C.int64_t(idx), &off[0], &mask, &addr, &size) < 0 {
		return ChunkInfo{}, fail("locate a chunk of", d.Path)
	}
	ci := ChunkInfo{Mask: uint32(mask), Addr: int64(addr), Size: int64(size)}
	for i := range d.Dims {
		ci.Offset = append(ci.Offset, int64(off[i]))
	}
	return ci, nil
}

// FilterInfo is one stage of a dataset's filter pipeline.
type FilterInfo struct {
	ID int
	CD []uint32 // client data values
}

// Filters lists the dataset's filter pipeline in the order it is applied
// on writing.
func (d *Dataset) Filters() ([]FilterInfo, error) {
	n := int(C.ans_ds_nfilters(d.id))
	var out []FilterInfo
	for i := 0; i < n; i++ {
		var id C.unsigned
		var cd [16]C.unsigned
		ncd := C.size_t(len(cd))
		if C.ans_ds_filter(d.id, C.int(i), &id, &cd[0], &ncd) < 0 {
			return nil, fail("read the filters of", d.Path)
		}
		f := FilterInfo{ID: int(id)}
		for j := 0; j < int(ncd) && j < len(cd); j++ {
			f.CD = append(f.CD, uint32(cd[j]))
		}
		out = append(out, f)
	}
	return out, nil
}

// VlenDiskSize is the byte size of a variable-length descriptor in the
// file: a 4-byte length, a global heap address, a 4-byte object index.
func (f *File) VlenDiskSize() (int, error) {
	n := int(C.ans_vlen_disk_size(f.id))
	if n < 0 {
		return 0, fail("read the superblock of", f.Path)
	}
	return n, nil
}

// LZFDecompress decompresses src into dst; it returns the decompressed
// size, or 0 when src is not valid LZF or does not fit in dst.
func LZFDecompress(dst, src []byte) int {
	if len(src) == 0 || len(dst) == 0 {
		return 0
	}
	return int(C.ans_lzf_decompress(unsafe.Pointer(&src[0]), C.size_t(len(src)), unsafe.Pointer(&dst[0]), C.size_t(len(dst))))
}

// IsChunked reports whether the dataset is stored in chunks.
func (d *Dataset) IsChunked() bool { return C.ans_ds_layout(d.id) == C.H5D_CHUNKED }

// IsCompact reports whether the dataset's data lives in its object header.
func (d *Dataset) IsCompact() bool { return C.ans_ds_layout(d.id) == C.H5D_COMPACT }

// BaseAddr is where the file's addresses count from: the end of its user
// block (0 without one).
func (f *File) BaseAddr() (int64, error) {
	n := int64(C.ans_userblock(f.id))
	if n < 0 {
		return 0, fail("read the superblock of", f.Path)
	}
	return n, nil
}

// OddNumbers reports whether the dataset holds integers or floats in a
// layout numpy cannot represent (a corrupt datatype message).
func (d *Dataset) OddNumbers() bool { return C.ans_ds_type_odd(d.id) == 1 }

// HeaderAddr is the file address of the object's header, -1 when
// libhdf5 does not expose addresses. Attributes are not decoded.
func (o *Object) HeaderAddr() (int64, error) {
	a := int64(C.ans_obj_addr(o.id))
	if a == -2 {
		return 0, fail("locate the header of", o.Path)
	}
	return a, nil
}

// AttrCounts counts the object's attributes holding variable-length data:
// plain (strings, sequences) and nested in compounds or arrays. Attribute
// messages are decoded, values are not read.
func (o *Object) AttrCounts() (nvar, nnested int, err error) {
	var v, n C.int
	if C.ans_obj_attr_info(o.id, &v, &n) < 0 {
		return 0, 0, fail("list the attributes of", o.Path)
	}
	return int(v), int(n), nil
}

// VlenBaseSize is the byte size of the elements of a variable-length
// dataset's values (1 for strings), -1 when it is not variable-length.
func (d *Dataset) VlenBaseSize() int64 { return int64(C.ans_ds_vlen_base_size(d.id)) }

// LinkAddrs gives, for each member in name order, the header address of
// the object it links to (-1 for soft and external links), without
// loading those objects: so their headers can be checked first.
func (g *Group) LinkAddrs() ([]int64, error) {
	n := int(C.ans_child_count(g.id))
	if n < 0 {
		return nil, fail("list", g.Path)
	}
	out := make([]int64, 0, min(n, 1<<16))
	for i := 0; i < n; i++ {
		a := int64(C.ans_link_addr(g.id, C.int(i)))
		if a == -2 {
			return nil, fail("list", g.Path)
		}
		out = append(out, a)
	}
	return out, nil
}
