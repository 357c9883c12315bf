package zarrad

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// v3Plan is a small plan with every element kind the encoder meets: a 2-D
// float array (23 rows), bools, strings, a numpy unicode scalar, a record
// array and an empty array.
func v3Plan(t *testing.T) (*tree.Plan, map[string][]byte, map[string][]string) {
	t.Helper()
	raw := map[string][]byte{}
	strs := map[string][]string{}
	z := &tree.Plan{}
	attrs := func(kv ...string) tree.Attrs {
		a := tree.Attrs{}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i]] = json.RawMessage(kv[i+1])
		}
		return a
	}
	z.Groups = append(z.Groups, tree.PlanGroup{Path: "", Attrs: attrs("encoding-type", `"anndata"`, "encoding-version", `"0.1.0"`)},
		tree.PlanGroup{Path: "obsm", Attrs: attrs("encoding-type", `"dict"`, "encoding-version", `"0.1.0"`)},
		tree.PlanGroup{Path: "uns", Attrs: attrs("encoding-type", `"dict"`, "encoding-version", `"0.1.0"`)})
	fixed := func(p string, dt tree.DType, shape []int64, b []byte) {
		raw[p] = b
		z.Arrays = append(z.Arrays, &tree.PlanArray{Path: p, DType: dt, Shape: shape, Attrs: attrs("encoding-type", `"array"`),
			Fill: func(dst []byte, off int64) error { copy(dst, b[off:]); return nil }})
	}
	f := make([]byte, 23*3*4)
	for i := 0; i < 23*3; i++ {
		binary.LittleEndian.PutUint32(f[4*i:], math.Float32bits(float32(i)+0.5))
	}
	fixed("obsm/pca", zarr.MustDType("<f4"), []int64{23, 3}, f)
	b := make([]byte, 23)
	for i := range b {
		b[i] = byte(i % 3 & 1)
	}
	fixed("obsm/flag", zarr.MustDType("|b1"), []int64{23}, b)
	fixed("obsm/empty", zarr.MustDType("<i8"), []int64{0}, nil)
	rec, err := zarr.NewRecord([]zarr.Field{{Name: "a", Type: zarr.MustDType("<i4")}, {Name: "b", Type: zarr.MustDType("<f8")}})
	if err != nil {
		t.Fatal(err)
	}
	fixed("uns/rec", rec, []int64{4}, bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 4))
	fixed("uns/title", zarr.DType{Kind: 'U', Size: 8, Order: '<'}, nil, []byte("h\x00\x00\x00\xe9\x00\x00\x00"))
	s := make([]string, 23)
	for i := range s {
		s[i] = string(rune('a'+i)) + "\u00e9"
	}
	strs["obsm/names"] = s
	z.Arrays = append(z.Arrays, &tree.PlanArray{Path: "obsm/names", DType: zarr.MustDType("|O"), Shape: []int64{23}, Strs: s,
		Attrs: attrs("encoding-type", `"string-array"`)})
	return z, raw, strs
}

func entryBytes(t *testing.T, z *tree.Plan, l Layout) map[string][]byte {
	t.Helper()
	es, err := l.Entries(z)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range es {
		b := make([]byte, e.File.Size())
		if n, err := e.File.ReadAt(b, 0); n != len(b) {
			t.Fatalf("%s: read %d of %d bytes: %v", e.Path, n, len(b), err)
		}
		out[e.Path] = b
	}
	return out
}

func dirBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The entries a v3 mount serves are the files Write writes uncompressed,
// byte for byte, sharded or not; and the stores, compressed or not, read
// back as the plan's values (partial last shards, inner chunks past the
// end, unicode as strings, records unsharded).
func TestV3EntriesAreWhatWriteWrites(t *testing.T) {
	for _, l := range []Layout{{Version: 3}, {Version: 3, ShardRows: 7}, {Version: 3, ShardRows: 100}, {Version: 3, ShardRows: 1}} {
		z, raw, strs := v3Plan(t)
		dir := filepath.Join(t.TempDir(), "s.zarr")
		if err := l.Write(z, dir, nil); err != nil {
			t.Fatal(err)
		}
		got, want := entryBytes(t, z, l), dirBytes(t, dir)
		if !reflect.DeepEqual(keys(got), keys(want)) {
			t.Fatalf("%+v: entries %v, files %v", l, keys(got), keys(want))
		}
		for p := range want {
			if !bytes.Equal(got[p], want[p]) {
				t.Errorf("%+v: %s differs between Entries and Write", l, p)
			}
		}
		for _, codec := range []zarr.Codec{nil, AnnDataBlosc} {
			cdir := filepath.Join(t.TempDir(), "c.zarr")
			if err := l.Write(z, cdir, codec); err != nil {
				t.Fatal(err)
			}
			checkV3Store(t, cdir, l, raw, strs)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func checkV3Store(t *testing.T, dir string, l Layout, raw map[string][]byte, strs map[string][]string) {
	t.Helper()
	s, err := zarr.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Format() != 3 || !s.Consolidated() {
		t.Fatalf("%s: format %d, consolidated %v", dir, s.Format(), s.Consolidated())
	}
	for p, want := range raw {
		a, err := s.Array(p)
		if err != nil {
			t.Fatal(err)
		}
		sharded := a.Meta.Shard != nil
		if wantSharded := l.ShardRows > 0 && len(a.Meta.Shape) > 0 && a.Meta.DType.Rec == nil && p != "uns/title"; sharded != wantSharded {
			t.Errorf("%+v %s: sharded %v, want %v", l, p, sharded, wantSharded)
		}
		if p == "uns/title" {
			if a.Meta.DType.Kind != 'O' {
				t.Errorf("%s: dtype %s, want a vlen string (as anndata writes str)", p, a.Meta.DType)
			}
			got, err := a.ReadStrings(0, 1)
			if err != nil || got[0] != "h\u00e9" {
				t.Errorf("%s = %q, %v", p, got, err)
			}
			continue
		}
		got := make([]byte, len(want))
		if len(want) > 0 {
			if err := a.ReadRowsInto(got, 0); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%+v %s reads back different bytes", l, p)
		}
	}
	for p, want := range strs {
		a, err := s.Array(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.ReadStrings(0, len(want))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v %s = %q, %v", l, p, got, err)
		}
	}
}

func TestLayoutChecks(t *testing.T) {
	for _, c := range []struct {
		l    Layout
		want string
	}{
		{Layout{}, ""}, {Layout{Version: 2}, ""}, {Layout{Version: 3}, ""}, {Layout{Version: 3, ShardRows: 10}, ""},
		{Layout{ShardRows: 10}, "--zarr-shard-size needs --zarr-version 3"},
		{Layout{Version: 4}, "--zarr-version 4 is not supported"},
		{Layout{Version: 3, ShardRows: -1}, "--zarr-shard-size must be a positive number"},
	} {
		err := c.l.Check()
		if (err == nil) != (c.want == "") || err != nil && !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
	if _, err := (Layout{Version: 3}).Codec("zlib"); err == nil {
		t.Error("zlib accepted for zarr v3")
	}
	if c, err := (Layout{}).Codec("zlib"); err != nil || c == nil {
		t.Errorf("zlib refused for zarr v2: %v", err)
	}
	for _, c := range []struct{ n, limit, want int }{{1000, 131, 125}, {10, 100, 10}, {1009, 500, 1}, {12, 5, 4}, {7, 0, 1}} {
		if got := largestDivisor(c.n, c.limit); got != c.want {
			t.Errorf("largestDivisor(%d, %d) = %d, want %d", c.n, c.limit, got, c.want)
		}
	}
}
