package zarr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// zarr-python 3 reads every array of Go's v3 store (every dtype kind,
// strings, records, byte strings, every codec, sharded and not) as the
// values written, without a warning, through the consolidated metadata
// Consolidate put in the root zarr.json, and writes each array's zarr.json
// with the same bytes.
func TestZarrPython3ReadsGoV3Stores(t *testing.T) {
	t.Parallel() // each waits on a subprocess or the file system
	requireCurrentPython(t)
	dir, arrays := writeStoreOf(t, 3, zarrPython3Arrays())
	args := []string{"testdata/zarr3tool.py", "dump", dir}
	for _, a := range arrays {
		args = append(args, a.path)
	}
	cmd := exec.Command(currentPython, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zarr-python 3 could not read the store: %v\n%s", err, stderr.String())
	}
	var got map[string]struct {
		expected
		Error        string   `json:"error"`
		DocSame      bool     `json:"doc_same"`
		DocWant      string   `json:"doc_want"`
		Consolidated []string `json:"consolidated"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	var wantNodes []string
	seen := map[string]bool{}
	for _, a := range arrays {
		for _, p := range []string{filepath.Dir(a.path), a.path} {
			if !seen[p] {
				seen[p] = true
				wantNodes = append(wantNodes, p)
			}
		}
	}
	sortStrings(wantNodes)
	if cons := got[""].Consolidated; !reflect.DeepEqual(cons, wantNodes) {
		t.Errorf("consolidated metadata lists %v, want %v", cons, wantNodes)
	}
	for _, a := range arrays {
		t.Run(a.path, func(t *testing.T) {
			g := got[a.path]
			if g.Error != "" {
				t.Fatalf("zarr-python 3: %s", g.Error)
			}
			want := a.want(t)
			wantDT := string(a.meta.DType.Kind) + itoa(a.meta.DType.Size)
			if a.meta.DType.Kind == 'O' {
				wantDT = "string"
			}
			if g.DType != wantDT || !equalInts(g.Shape, want.Shape) {
				t.Errorf("zarr-python 3 sees %s %v, want %s %v", g.DType, g.Shape, wantDT, want.Shape)
			}
			if want.Strings != nil {
				if !reflect.DeepEqual(g.Strings, want.Strings) {
					t.Errorf("zarr-python 3 reads %q, want %q", g.Strings, want.Strings)
				}
			} else if wb := hex.EncodeToString(toLittleEndian(a.meta.DType, want.bytes(t))); g.Hex == nil || *g.Hex != wb {
				t.Errorf("zarr-python 3 reads\n%v, want\n%s", g.Hex, wb)
			}
			if len(a.attrs) > 0 {
				var ga Attrs
				json.Unmarshal(g.Attrs, &ga)
				if !equalAttrs(t, ga, a.attrs) {
					t.Errorf("zarr-python 3 reads attrs %s", g.Attrs)
				}
			}
			if !g.DocSame {
				b, _ := os.ReadFile(filepath.Join(dir, a.path, "zarr.json"))
				t.Errorf("zarr-python 3 writes this zarr.json as\n%s\nwe wrote\n%s", g.DocWant, b)
			}
		})
	}
}

// The root zarr.json Consolidate writes is byte for byte the one
// zarr.consolidate_metadata (what anndata's write_zarr calls) writes for
// the same store.
func TestConsolidatedV3IsZarrPythons(t *testing.T) {
	t.Parallel() // each waits on a subprocess or the file system
	requireCurrentPython(t)
	dir, _ := writeStoreOf(t, 3, zarrPython3Arrays())
	ours, err := os.ReadFile(filepath.Join(dir, "zarr.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(currentPython, "testdata/zarr3tool.py", "consolidate", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("zarr.consolidate_metadata: %v\n%s", err, out)
	}
	theirs, err := os.ReadFile(filepath.Join(dir, "zarr.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("root zarr.json differs from zarr-python's:\n ours %s\ntheirs %s", ours, theirs)
	}
}

// zarrPython3Arrays is the v3 round-trip matrix but for numcodecs' zlib,
// which zarr-python 3 reads with a warning ("numcodecs.zlib" is no v3
// codec; the CLI refuses zlib for v3 output, see zarrad.Layout.Codec).
func zarrPython3Arrays() []*rtArray {
	var out []*rtArray
	for _, a := range roundTripArrays(3) {
		zlib := false
		for _, c := range a.meta.Codecs {
			_, ok := c.(Zlib)
			zlib = zlib || ok
		}
		if a.meta.Shard != nil {
			for _, c := range a.meta.Shard.Codecs {
				_, ok := c.(Zlib)
				zlib = zlib || ok
			}
		}
		if !zlib {
			out = append(out, a)
		}
	}
	return out
}
