package vfs

import (
	"fmt"
	"testing"
)

// The name index finds every shard by its name, and nothing else, in
// tables full enough for names to collide.
func TestNameIndexFindsEveryShard(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 1000, 65537} {
		shards := make([]ShardInfo, n)
		for i := range shards {
			shards[i].Name = fmt.Sprintf("shard_%d.h5ad", i)
		}
		x, dup := newNameIndex(shards)
		if dup >= 0 {
			t.Fatalf("%d shards: duplicate reported at %d", n, dup)
		}
		for i, sh := range shards {
			if k, ok := x.find(sh.Name); !ok || k != i {
				t.Fatalf("%d shards: %s found as %d, %v", n, sh.Name, k, ok)
			}
		}
		for _, name := range []string{"", "shard_-1.h5ad", fmt.Sprintf("shard_%d.h5ad", n), "shard_0.zarr", "shards.json"} {
			if k, ok := x.find(name); ok {
				t.Errorf("%d shards: %q found as %d", n, name, k)
			}
		}
	}
	_, dup := newNameIndex([]ShardInfo{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "b"}})
	if dup != 3 {
		t.Errorf("duplicate reported at %d, want 3", dup)
	}
}
