package zarrad

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// recordPlanArray is a 1-D record array of rows records of dt whose byte
// k is k%251 (every field's bytes distinct), served from memory.
func recordPlanArray(path string, dt zarr.DType, rows int64) (*tree.PlanArray, []byte) {
	raw := make([]byte, rows*int64(dt.Size))
	for k := range raw {
		raw[k] = byte(k % 251)
	}
	fill := func(p []byte, off int64) error {
		if off < 0 || off+int64(len(p)) > int64(len(raw)) {
			return fmt.Errorf("fill %d..%d outside %d bytes", off, off+int64(len(p)), len(raw))
		}
		copy(p, raw[off:])
		return nil
	}
	return &tree.PlanArray{Path: path, DType: dt, Shape: []int64{rows}, Fill: fill}, raw
}

// anndata < 0.7's obsm record array becomes a dict group of one array per
// field (padding dropped, a scalar field a column), each array's bytes
// the field's bytes of every record, whatever range is asked for.
func TestPrepareSplitsLegacyObsm(t *testing.T) {
	dt, err := zarr.NewRecord([]zarr.Field{
		{Name: "X_pca", Type: zarr.MustDType("<f4"), Shape: []int{3}},
		{Name: "", Type: zarr.DType{Kind: 'V', Size: 2, Order: '|'}},
		{Name: "grid", Type: zarr.MustDType(">i2"), Shape: []int{2, 2}},
		{Name: "score", Type: zarr.MustDType("<f8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	obsm, raw := recordPlanArray("obsm", dt, 7)
	z := &tree.Plan{Groups: []tree.PlanGroup{{Path: ""}}, Arrays: []*tree.PlanArray{obsm}}
	if err := Prepare(z); err != nil {
		t.Fatal(err)
	}
	if len(z.Groups) != 2 || z.Groups[1].Path != "obsm" || string(z.Groups[1].Attrs["encoding-type"]) != `"dict"` {
		t.Fatalf("groups %+v", z.Groups)
	}
	var got []string
	for _, a := range z.Arrays {
		got = append(got, fmt.Sprintf("%s:%s%v:%s", a.Path, a.DType, a.Shape, a.Attrs["encoding-type"]))
	}
	if want := `obsm/X_pca:<f4[7 3]:"array" obsm/grid:>i2[7 2 2]:"array" obsm/score:<f8[7 1]:"array"`; strings.Join(got, " ") != want {
		t.Fatalf("arrays %s, want %s", strings.Join(got, " "), want)
	}
	for i, f := range []zarr.Field{dt.Rec.Fields[0], dt.Rec.Fields[2], dt.Rec.Fields[3]} {
		a := z.Arrays[i]
		var want []byte
		for r := 0; r < 7; r++ {
			want = append(want, raw[r*dt.Size+f.Offset:r*dt.Size+f.Offset+f.Size()]...)
		}
		for _, span := range [][2]int{{0, len(want)}, {5, 17}, {f.Size() - 1, 1}, {len(want) - 3, 3}} {
			p := make([]byte, span[1])
			if err := a.Fill(p, int64(span[0])); err != nil {
				t.Fatalf("%s: %v", a.Path, err)
			}
			if !bytes.Equal(p, want[span[0]:span[0]+span[1]]) {
				t.Errorf("%s bytes %d+%d: %x, want %x", a.Path, span[0], span[1], p, want[span[0]:span[0]+span[1]])
			}
		}
		if err := a.Fill(make([]byte, 2), int64(len(want)-1)); err == nil {
			t.Errorf("%s: a fill past the end", a.Path)
		}
	}
}

// Any other record array with sub-array fields has no form current
// anndata reads in zarr: refused in one line; plain records pass.
func TestPrepareRefusesOtherSubArrays(t *testing.T) {
	sub, err := zarr.NewRecord([]zarr.Field{{Name: "n", Type: zarr.MustDType("<i4")}, {Name: "v", Type: zarr.MustDType("<f4"), Shape: []int{3}}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := zarr.NewRecord([]zarr.Field{{Name: "n", Type: zarr.MustDType("<i4")}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := recordPlanArray("obs", plain, 4)
	z := &tree.Plan{Arrays: []*tree.PlanArray{a}}
	if err := Prepare(z); err != nil || len(z.Arrays) != 1 || z.Arrays[0] != a {
		t.Errorf("a plain record array: %v, %d arrays", err, len(z.Arrays))
	}
	for _, path := range []string{"uns/sub", "obs"} {
		a, _ := recordPlanArray(path, sub, 4)
		err := Prepare(&tree.Plan{Arrays: []*tree.PlanArray{a}})
		want := "/" + path + `: record field "v" is a sub-array (<f4, shape [3]), which zarr-python 3 cannot read`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
