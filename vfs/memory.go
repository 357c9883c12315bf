package vfs

import (
	"encoding/json"
	"errors"
	"math/rand/v2"

	"github.com/annslicer/annslicer/layout/image"
)

// MemoryFileName is the file a MountMemoryFile mount serves.
const MemoryFileName = "memory.bin"

// MountMemoryFile mounts, at mnt, a filesystem holding one file,
// MemoryFileName, of size pseudo-random bytes held in memory. Reading it
// (dd, cat, BenchmarkFUSECeiling) measures the FUSE ceiling of the machine:
// the throughput of vfs when producing bytes costs nothing.
func MountMemoryFile(mnt string, size int64, opts Options) (*Server, error) {
	if size < 0 {
		return nil, errors.New("vfs: negative size")
	}
	return Mount(mnt, &memorySource{data: PseudoRandom(size, 1)}, opts)
}

// PseudoRandom returns n deterministic pseudo-random bytes for seed.
func PseudoRandom(n int64, seed uint64) image.Bytes {
	b := make([]byte, n)
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	rand.NewChaCha8(key).Read(b)
	return b
}

type memorySource struct{ data image.Bytes }

func (m *memorySource) Shards() []ShardInfo { return []ShardInfo{{Name: MemoryFileName}} }
func (m *memorySource) Manifest() image.File {
	b, _ := json.Marshal(map[string]any{"shards": []map[string]any{{"name": MemoryFileName, "bytes": len(m.data)}}})
	return image.Bytes(append(b, '\n'))
}
func (m *memorySource) OpenFile(int) (image.File, error)    { return m.data, nil }
func (m *memorySource) OpenTree(int) ([]image.Entry, error) { return nil, errors.New("no trees") }
func (m *memorySource) Check() error                        { return nil }
