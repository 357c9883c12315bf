package h5w

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/h5"
)

// shardLike describes a file shaped like a shard: groups, attributes with
// strings, a string dataset, a scalar and reserved arrays; rng picks what
// they hold (the same structure whatever it picks).
func shardLike(rng *rand.Rand) (*File, []Contents) {
	f := New()
	root := f.Root()
	root.WriteAttrString("encoding-type", "anndata")
	obs := root.Group("obs")
	obs.WriteAttrStrings("column-order", []string{"cell_type", "n_counts"})
	obs.WriteAttrString("_index", "_index")
	n := rng.IntN(5000)
	names := make([]string, n)
	for i := range names {
		names[i] = strings.Repeat("c", rng.IntN(40)) // some cross 4 KiB and 64 KiB collections
	}
	idx := obs.Dataset("_index", h5.TypeInfo{Class: h5.ClassString, Vlen: true, Cset: 1}, []int64{int64(n)})
	idx.Strings(names)
	idx.WriteAttrString("encoding-type", "string-array")
	x := root.Group("X")
	x.WriteAttrInt64s("shape", []int64{int64(n), 100}, false)
	var extents []int64
	for _, name := range []string{"data", "indices", "indptr"} {
		d := x.Dataset(name, h5.TypeInfo{Class: h5.ClassInt, Size: 4, Signed: true}, []int64{int64(rng.IntN(100000))})
		e := []int64{0, 17, 4096, alignFrom - 1, alignFrom, 3 << 20}[rng.IntN(6)]
		d.Reserve(e)
		extents = append(extents, e)
	}
	sc := root.Dataset("scalar", h5.TypeInfo{Class: h5.ClassFloat, Size: 8}, nil)
	sc.Data(make([]byte, 8), nil)
	// contents by object, in File order: root, obs, _index, X, data,
	// indices, indptr, scalar
	cs := []Contents{{}, {}, {Strs: names, Size: VlenSize * n}, {},
		{Extent: extents[0]}, {Extent: extents[1]}, {Extent: extents[2]}, {Size: 8}}
	return f, cs
}

// A Sizer made from one file gives the size h5w lays out for every other
// of the same structure, whatever their strings, data and extents.
func TestSizerGivesTheLaidOutSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ref, _ := shardLike(rng)
	s, err := ref.Sizer()
	if err != nil {
		t.Fatal(err)
	}
	if s.Objects() != 8 || !s.Group(0) || !s.Group(1) || s.Group(2) {
		t.Fatalf("objects: %d", s.Objects())
	}
	for k := range 200 {
		f, cs := shardLike(rng)
		want, err := f.Size()
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Size(func(i int) Contents { return cs[i] }); got != want {
			t.Fatalf("file %d: Sizer gives %d bytes, laid out %d", k, got, want)
		}
	}
}
