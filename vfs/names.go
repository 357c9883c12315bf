package vfs

import "hash/maphash"

// nameIndex finds a shard by its name: an open-addressed table of shard
// numbers hashed by name, at most half full (8 to 16 bytes a shard). A
// map[string]int took ~70 bytes a shard, 7 MB of a mount of 100,000.
type nameIndex struct {
	seed   maphash.Seed
	slots  []int32 // shard number + 1; 0 is an empty slot
	shards []ShardInfo
}

// newNameIndex indexes shards by name. It returns the first shard whose
// name an earlier shard has, or -1.
func newNameIndex(shards []ShardInfo) (*nameIndex, int) {
	n := 16
	for n < 2*len(shards) {
		n *= 2
	}
	x := &nameIndex{seed: maphash.MakeSeed(), slots: make([]int32, n), shards: shards}
	for i, sh := range shards {
		k := x.slot(sh.Name)
		if x.slots[k] != 0 {
			return x, i
		}
		x.slots[k] = int32(i + 1)
	}
	return x, -1
}

// slot is where name is, or the empty slot where it would go.
func (x *nameIndex) slot(name string) int {
	mask := len(x.slots) - 1
	k := int(maphash.String(x.seed, name)) & mask
	for {
		s := x.slots[k]
		if s == 0 || x.shards[s-1].Name == name {
			return k
		}
		k = (k + 1) & mask
	}
}

// find returns the number of the shard named name.
func (x *nameIndex) find(name string) (int, bool) {
	s := x.slots[x.slot(name)]
	return int(s) - 1, s != 0
}
