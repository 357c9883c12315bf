package zarrad

import (
	"encoding/json"
	"fmt"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Record arrays whose fields are sub-arrays in zarr.
//
// anndata < 0.7 wrote obsm and varm as one record array each, a row per
// cell (gene), whose fields are sub-arrays: scanpy's bundled pbmc68k has
// obsm [("X_pca", "<f4", (50,)), ("X_umap", "<f8", (2,))]. zarr v2 has a
// form for such a dtype ([name, typestr, shape]) but zarr-python 3 reads
// none (and writes sub-array fields as raw bytes), so current anndata could
// not open a store holding one. anndata itself reads that record array as
// a mapping of arrays (obsm["X_pca"] is a float32 array of (cells, 50))
// and writes it as a dict group of them: a zarr output does the same with
// the legacy mappings at the root. Any other record array with sub-array
// fields is refused for zarr.

// legacyMappings are the anndata < 0.7 mappings stored as one record array.
var legacyMappings = map[string]bool{"obsm": true, "varm": true, "raw.varm": true}

// Prepare makes the plan one zarr can store: its verbatim elements
// expanded, and its record arrays with sub-array fields split into
// mappings (or refused). Every zarr encoder calls it first.
func Prepare(z *tree.Plan) error {
	if err := z.ExpandVerbatim(); err != nil {
		return err
	}
	arrays := z.Arrays[:0:0]
	for _, a := range z.Arrays {
		if !a.DType.HasSubArrays() {
			arrays = append(arrays, a)
			continue
		}
		if !legacyMappings[a.Path] || len(a.Shape) != 1 {
			f := firstSubArray(a.DType)
			return fmt.Errorf("/%s: record field %q is a sub-array (%s, shape %v), which zarr-python 3 cannot read (it has no data type for it); write h5ad shards, or convert the field with anndata first", a.Path, f.Name, f.Type, f.Shape)
		}
		z.Groups = append(z.Groups, tree.PlanGroup{Path: a.Path, Attrs: encoding("dict", "0.1.0")})
		for _, f := range a.DType.Rec.Fields {
			if f.Name == "" {
				continue // padding
			}
			arrays = append(arrays, fieldArray(a, f))
		}
	}
	z.Arrays = arrays
	return nil
}

func firstSubArray(d tree.DType) zarr.Field {
	for _, f := range d.Rec.Fields {
		if f.Shape != nil {
			return f
		}
	}
	return zarr.Field{}
}

func encoding(typ, version string) tree.Attrs {
	return tree.Attrs{"encoding-type": json.RawMessage(`"` + typ + `"`), "encoding-version": json.RawMessage(`"` + version + `"`)}
}

// fieldArray is field f of record array a (1-D) as an array of its own:
// shape (rows, *f.Shape), f's type, as anndata writes an obsm entry (a
// scalar field is a column: anndata makes 1-D obsm values (rows, 1)).
func fieldArray(a *tree.PlanArray, f zarr.Field) *tree.PlanArray {
	rows := a.Shape[0]
	shape := []int64{rows}
	for _, d := range f.Shape {
		shape = append(shape, int64(d))
	}
	if f.Shape == nil {
		shape = append(shape, 1)
	}
	rec, fs := int64(a.DType.Size), int64(f.Size())
	fill := func(p []byte, off int64) error {
		if len(p) == 0 {
			return nil
		}
		// the records holding bytes [off, off+len(p)) of the field's
		// array, read at once, then the field cut out of each
		r0, r1 := off/fs, (off+int64(len(p))+fs-1)/fs
		if off < 0 || r1 > rows {
			return fmt.Errorf("bytes %d..%d outside field %q of %d records", off, off+int64(len(p)), f.Name, rows)
		}
		buf := make([]byte, (r1-r0)*rec)
		if err := a.Fill(buf, r0*rec); err != nil {
			return err
		}
		out := make([]byte, (r1-r0)*fs)
		f.Cut(out, buf, int(rec))
		copy(p, out[off-r0*fs:])
		return nil
	}
	return &tree.PlanArray{Path: tree.Join(a.Path, f.Name), Attrs: encoding("array", "0.2.0"), DType: f.Type, Shape: shape, Fill: fill}
}
