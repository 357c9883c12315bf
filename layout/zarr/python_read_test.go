package zarr

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestReadsWhatZarrPythonWrote(t *testing.T) {
	t.Parallel() // each waits on a subprocess or the file system
	dir := pyFixtures(t)
	var exp map[string]expected
	readJSONFile(t, filepath.Join(dir, "expect.json"), &exp)
	names := make([]string, 0, len(exp))
	for name := range exp {
		if !strings.HasPrefix(name, "ad:") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, consolidated := range []bool{true, false} {
		s := openStore(t, filepath.Join(dir, "py.zarr"), &Options{IgnoreConsolidated: !consolidated, Cache: NewCache(1 << 20)})
		if s.Consolidated() != consolidated || s.Format() != 2 {
			t.Fatalf("Consolidated() = %v, Format() = %d", s.Consolidated(), s.Format())
		}
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				checkArray(t, openArray(t, s, name), exp[name])
			})
		}
	}
}

// Chunks are returned whole, edge chunks padded, fill where never written.
func TestReadChunkReturnsFullChunks(t *testing.T) {
	dir := pyFixtures(t)
	s := openStore(t, filepath.Join(dir, "py.zarr"), nil)
	tests := []struct {
		array string
		idx   []int
		want  []float32
	}{
		{"fill/2d_missing", []int{0, 1}, []float32{5, 5, 5, 5}},
		{"fill/2d_missing", []int{2, 2}, []float32{-1, -1, -1, -1}}, // missing file, edge chunk
		{"fill/2d_missing", []int{1, 0}, []float32{-1, -1, -1, -1}},
	}
	for _, tt := range tests {
		a := openArray(t, s, tt.array)
		got, err := a.ReadChunk(tt.idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != a.Meta.RawChunkSize() {
			t.Fatalf("chunk %v: %d bytes, want %d", tt.idx, len(got), a.Meta.RawChunkSize())
		}
		want := f32bytes(tt.want...)
		if !bytes.Equal(got, want) {
			t.Errorf("%s chunk %v = %x, want %x", tt.array, tt.idx, got, want)
		}
		if _, err := os.Stat(a.ChunkFile(tt.idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	a := openArray(t, s, "comp/none_i2")
	_, err := a.ReadChunk([]int{4})
	wantErr(t, err, "comp/none_i2", "outside the chunk grid [4]")
}

// The FUSE mount serves metadata it generates; it must be zarr-python's
// bytes exactly, so regenerate every document of zarr-python's stores.
func TestMetadataDocumentsAreByteIdenticalToZarrPython(t *testing.T) {
	dir := pyFixtures(t)
	for _, store := range []string{"py.zarr", "ad.zarr"} {
		root := filepath.Join(dir, store)
		s := openStore(t, root, &Options{IgnoreConsolidated: true})
		docs := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), ".z") || d.Name() == ".zmetadata" {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			orig, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			docs[rel] = orig
			node := strings.TrimSuffix(strings.TrimSuffix(rel, d.Name()), "/")
			var got []byte
			switch d.Name() {
			case ".zarray":
				got, err = openArray(t, s, node).Meta.MarshalZarray()
			case ".zgroup":
				got = ZgroupJSON()
			case ".zattrs":
				var n *Node
				if n, err = s.Stat(node); err == nil {
					got, err = MarshalZattrs(n.Attrs)
				}
			}
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			} else if !bytes.Equal(got, orig) {
				t.Errorf("%s/%s differs:\n got %s\nwant %s", store, rel, got, orig)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalConsolidated(docs)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(root, ".zmetadata"))
		if !bytes.Equal(got, want) {
			t.Errorf("%s/.zmetadata differs", store)
		}
		// Consolidate (which walks the store itself) writes the same bytes.
		cp := filepath.Join(t.TempDir(), store)
		if err := os.CopyFS(cp, os.DirFS(root)); err != nil {
			t.Fatal(err)
		}
		if err := Consolidate(cp); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(cp, ".zmetadata")); !bytes.Equal(got, want) {
			t.Errorf("Consolidate(%s) wrote different .zmetadata", store)
		}
	}
}

func TestReadsAnnDataStoreThroughConsolidatedMetadata(t *testing.T) {
	dir := pyFixtures(t)
	root := filepath.Join(dir, "ad.zarr")
	s := openStore(t, root, nil)
	if !s.Consolidated() {
		t.Fatal("consolidated metadata not used")
	}
	g, err := s.Group("/")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(g.Attrs["encoding-type"]); got != `"anndata"` {
		t.Errorf("root encoding-type = %s", got)
	}
	kids, err := g.Children()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range kids {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "X,layers,obs,obsm,obsp,uns,var,varm,varp" {
		t.Errorf("children %s", got)
	}
	x, err := s.Group("X")
	if err != nil {
		t.Fatal(err)
	}
	if string(x.Attrs["encoding-type"]) != `"csr_matrix"` || string(x.Attrs["shape"]) == "" {
		t.Errorf("X attrs %s", x.Attrs)
	}
	obs, err := s.Group("obs")
	if err != nil {
		t.Fatal(err)
	}
	kids, _ = obs.Children()
	if len(kids) != 3 || kids[0].Name != "_index" || !kids[0].IsArray || kids[1].Name != "cat" || kids[1].IsArray {
		t.Errorf("obs children %+v", kids)
	}
	// Consolidated metadata is what is read: hide a .zarray and still open it.
	var exp map[string]expected
	readJSONFile(t, filepath.Join(dir, "expect.json"), &exp)
	for name, want := range exp {
		if p, ok := strings.CutPrefix(name, "ad:"); ok {
			t.Run(p, func(t *testing.T) { checkArray(t, openArray(t, s, p), want) })
		}
	}
	title := openArray(t, s, "uns/title")
	got, err := title.ReadStrings(0, 1)
	if err != nil || got[0] != "t\u00eftle" {
		t.Errorf("uns/title = %q, %v", got, err)
	}
	if _, err := s.Group("obs/_index"); err == nil {
		t.Error("opened an array as a group")
	}
	_, err = s.Array("nope")
	wantErr(t, err, root+"/nope", "no array or group")
	if !errors.Is(err, ErrNotExist) {
		t.Errorf("%v is not ErrNotExist", err)
	}
}

func TestUnsupportedFeaturesGiveClearErrors(t *testing.T) {
	dir := pyFixtures(t)
	root := filepath.Join(dir, "bad.zarr")
	s := openStore(t, root, nil)
	tests := []struct{ array, msg string }{
		{"vlen_bytes", `unsupported filter "vlen-bytes"`},
		{"json", `unsupported filter "json2"`},
		{"fortran", `order "F" (Fortran) arrays are not supported`},
		{"delta", `unsupported filter "delta"`},
		{"lzma", `unsupported compressor "lzma"`},
		{"datetime", `unsupported dtype "<M8[D]"`},
	}
	for _, tt := range tests {
		t.Run(tt.array, func(t *testing.T) {
			_, err := s.Array(tt.array)
			wantErr(t, err, "zarr: "+filepath.Join(root, tt.array, ".zarray")+": "+tt.msg)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%v is not ErrUnsupported", err)
			}
		})
	}
}
