package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// Merging anndata < 0.7 files (scanpy's bundled pbmc68k, and the shards
// annslicer slices from it, which keep the source's layout).
//
// Such a file keeps obs, var and raw.var as one record array each (the
// first field is the index), obsm, varm and raw.varm as one record array
// whose fields are the embeddings, a categorical column as integer codes
// with its categories in uns/<column>_categories, raw as raw.X, raw.var
// and raw.varm at the root, and the neighbors graphs in uns/neighbors.
// Current anndata converts all of it when it reads the file (read_h5ad,
// read_zarr, compat._clean_uns, compat._move_adj_mtx), and anndata.concat
// writes what it read: so each such input is merged through a view of it
// in the current layout, made the way anndata reads it, and the merge
// rules (written for current files) do the rest. The merged output is a
// current file: dataframes, categoricals, one array per obsm key, raw as
// a group, the graphs in obsp (block-diagonal, as the merge stacks obsp).
// The view is a tree of nodes over the input's own (merge_legacy_nodes.go),
// listed in Overlaid so an h5ad encoder reads them from the view rather
// than copying the file's record arrays.

// currentLayout wraps open: an input in the anndata < 0.7 layout is seen
// in the current one, any other as it is. What an input holds is worked
// out at its first opening: the pool reopens inputs (past poolSize, once
// per output array), and the inputs do not change during a merge.
func currentLayout(open Opener) Opener {
	var mu sync.Mutex
	seen := map[string]*legacyView{} // nil: not a pre-0.7 input
	return func(path string) (*tree.Source, error) {
		src, err := open(path)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		v, ok := seen[path]
		mu.Unlock()
		if !ok {
			if v, err = inspectLegacy(src); err != nil {
				src.Close()
				return nil, err
			}
			mu.Lock()
			seen[path] = v
			mu.Unlock()
		}
		if v == nil {
			return src, nil
		}
		return v.of(src), nil
	}
}

// legacyView is how current anndata reads an anndata < 0.7 input: src,
// and what inspect found in it (never changed after).
type legacyView struct {
	src      *tree.Source
	kids     []tree.Child         // the input's root members
	frames   map[string]*recFrame // "obs", "var", "raw.var"
	mappings map[string]bool      // "obsm", "varm", "raw.varm" held as one record array
	hideUns  map[string]map[string]bool
	graphs   []string              // uns/neighbors members anndata moves to obsp
	cats     map[string]*legacyCat // uns member → the categories it holds
}

// recFrame is a dataframe stored as a record array.
type recFrame struct {
	name   string
	index  zarr.Field
	fields []zarr.Field          // the columns, in order
	strs   map[string][]string   // string fields, decoded (the index too)
	cats   map[string]*legacyCat // columns that become categoricals
}

// legacyCat is uns/<column>_categories, which anndata moves into the
// column it names (in obs and in var) when every code is below its length.
type legacyCat struct {
	member string
	n      int64
	strs   []string // string categories, decoded; nil: numbers, read from uns
}

// inspectLegacy works out the view of src, or nil when obs is not a
// record array (not an anndata < 0.7 file).
func inspectLegacy(src *tree.Source) (*legacyView, error) {
	root, err := src.Root()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", src.Path, err)
	}
	defer root.Close()
	kids, err := root.Children()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", src.Path, err)
	}
	if !slices.Contains(kids, tree.Child{Name: "obs"}) {
		return nil, nil
	}
	v := &legacyView{src: src, kids: kids, frames: map[string]*recFrame{}, mappings: map[string]bool{},
		hideUns: map[string]map[string]bool{}, cats: map[string]*legacyCat{}}
	if err := v.inspect(root); err != nil {
		return nil, fmt.Errorf("%s: %v (an anndata < 0.7 file)", src.Path, err)
	}
	return v, nil
}

// of is src (an opening of the input v was worked out from) seen in the
// current layout.
func (v *legacyView) of(src *tree.Source) *tree.Source {
	w := *v
	w.src = src
	return &tree.Source{Path: src.Path, NObs: src.NObs, Native: src.Native, Overlaid: w.overlaid(),
		Parts: src.Parts, Closer: src.Closer, Root: w.root}
}

func (v *legacyView) has(name string, isGroup bool) bool {
	return slices.Contains(v.kids, tree.Child{Name: name, IsGroup: isGroup})
}

func (v *legacyView) inspect(root tree.Group) error {
	if err := v.unsCategories(root); err != nil {
		return err
	}
	for _, name := range []string{"obs", "var", "raw.var"} {
		if !v.has(name, false) {
			continue
		}
		f, err := readRecFrame(root, name, name != "raw.var", v.cats)
		if err != nil {
			return err
		}
		v.frames[name] = f
	}
	// anndata removes from uns the categories it moved into a column
	for _, f := range v.frames {
		for _, c := range f.cats {
			v.hideUns[c.member] = nil
		}
	}
	for _, name := range []string{"obsm", "varm", "raw.varm"} {
		if !v.has(name, false) {
			continue
		}
		if err := checkRecMapping(root, name); err != nil {
			return err
		}
		v.mappings[name] = true
	}
	if v.has("raw", true) && slices.ContainsFunc(v.kids, func(k tree.Child) bool { return strings.HasPrefix(k.Name, "raw.") }) {
		return fmt.Errorf("holds both raw and raw.* elements, which anndata refuses to read")
	}
	return v.unsGraphs(root)
}

// unsCategories finds uns's <column>_categories arrays (anndata reads
// them all: compat._clean_uns).
func (v *legacyView) unsCategories(root tree.Group) error {
	if !v.has("uns", true) {
		return nil
	}
	uns, err := root.Group("uns")
	if err != nil {
		return err
	}
	defer uns.Close()
	kids, err := uns.Children()
	if err != nil {
		return err
	}
	for _, k := range kids {
		if k.IsGroup || !strings.HasSuffix(k.Name, "_categories") {
			continue
		}
		a, err := uns.Array(k.Name)
		if err != nil {
			return err
		}
		c := &legacyCat{member: k.Name}
		sh, dt := a.Shape(), a.DType()
		switch {
		case len(sh) == 1:
			c.n = sh[0]
		case len(sh) == 0 && stringKind(dt.Kind):
			c.n = 1 // a single category, stored as a scalar string
		default:
			a.Close()
			return fmt.Errorf("uns/%s has shape %v; anndata reads a column's categories from a 1-D array", k.Name, sh)
		}
		if stringKind(dt.Kind) {
			c.strs, err = readStrings(a)
		}
		a.Close()
		if err != nil {
			return fmt.Errorf("uns/%s: %v", k.Name, err)
		}
		v.cats[k.Name] = c
	}
	return nil
}

// readStrings reads a whole string array: fixed-length ones (numpy "S",
// "U") as anndata decodes them, from their bytes (not every backend reads
// them as strings).
func readStrings(a tree.Array) ([]string, error) {
	dt := a.DType()
	if dt.Kind == 'O' {
		return a.Strings(nil)
	}
	n := int64(1)
	for _, d := range a.Shape() {
		n *= d
	}
	if err := checkRowBytes(a.Path(), []int64{n}, dt.Size); err != nil {
		return nil, err
	}
	raw := make([]byte, n*int64(dt.Size))
	if err := a.Rows().ReadRows(raw, 0); err != nil {
		return nil, err
	}
	return zarr.DecodeFixedStrings(dt, raw)
}

// readRecFrame reads the record array name as a dataframe: its index and
// string fields decoded, and (withCats: obs and var) which integer columns
// become categoricals.
func readRecFrame(root tree.Group, name string, withCats bool, cats map[string]*legacyCat) (*recFrame, error) {
	a, err := root.Array(name)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	dt, sh := a.DType(), a.Shape()
	if dt.Rec == nil || len(sh) != 1 {
		return nil, fmt.Errorf("%s is an array of %s, shape %v, not a record array; not an AnnData dataframe", name, dt, sh)
	}
	f := &recFrame{name: name, strs: map[string][]string{}, cats: map[string]*legacyCat{}}
	for _, fl := range dt.Rec.Fields {
		if fl.Name != "" { // "" is padding
			f.fields = append(f.fields, fl)
		}
	}
	if len(f.fields) == 0 || !stringKind(f.fields[0].Type.Kind) || f.fields[0].Shape != nil {
		return nil, fmt.Errorf("%s: the first field of the record array is not strings; anndata takes it for the index", name)
	}
	f.index, f.fields = f.fields[0], f.fields[1:]
	if err := checkRowBytes(a.Path(), sh, dt.Size); err != nil {
		return nil, err
	}
	raw := make([]byte, sh[0]*int64(dt.Size))
	if err := a.Rows().ReadRows(raw, 0); err != nil {
		return nil, err
	}
	column := func(fl zarr.Field) []byte {
		out := make([]byte, sh[0]*int64(fl.Size()))
		fl.Cut(out, raw, dt.Size)
		return out
	}
	// which uns categories name which column (as anndata takes the name:
	// every "_categories" removed)
	byCol := map[string]*legacyCat{}
	for member, c := range cats {
		col := strings.ReplaceAll(member, "_categories", "")
		if o, dup := byCol[col]; dup {
			return nil, fmt.Errorf("uns/%s and uns/%s both hold categories of column %q, which annslicer cannot resolve as anndata does", o.member, member, col)
		}
		byCol[col] = c
	}
	for i, fl := range append([]zarr.Field{f.index}, f.fields...) {
		c := byCol[fl.Name]
		if withCats && c != nil && i > 0 && !isInt(fl.Type) {
			// numpy cannot compare strings with the categories' count,
			// pandas takes no other codes than integers
			return nil, fmt.Errorf("%s: column %q has categories in uns/%s but holds %s, not integer codes; anndata cannot read it either", name, fl.Name, c.member, fl.Type)
		}
		switch {
		case fl.Shape != nil:
			return nil, fmt.Errorf("%s: field %q is a sub-array (%v), which is no dataframe column", name, fl.Name, fl.Shape)
		case fl.Type.Kind == 'S' || fl.Type.Kind == 'U':
			// anndata decodes fixed-length strings (_from_fixed_length_strings)
			s, err := zarr.DecodeFixedStrings(fl.Type, column(fl))
			if err != nil {
				return nil, fmt.Errorf("%s: field %q: %v", name, fl.Name, err)
			}
			f.strs[fl.Name] = s
			continue
		case fl.Type.Kind == 'V' || fl.Type.Kind == 'O':
			return nil, fmt.Errorf("%s: field %q is of type %s, which annslicer cannot merge", name, fl.Name, fl.Type)
		}
		if !withCats || c == nil || i == 0 { // the index is no column
			continue
		}
		ic, _ := intCodecOf(fl.Type)
		codes, below := column(fl), true
		for i := 0; i < len(codes); i += ic.Size {
			if ic.Get(codes[i:]) >= c.n {
				below = false // anndata leaves the column as it is
				break
			}
		}
		if !below {
			continue
		}
		for i := 0; i < len(codes); i += ic.Size {
			if ic.Get(codes[i:]) < -1 {
				return nil, fmt.Errorf("%s: column %q has code %d, below -1: anndata cannot read it as a categorical", name, fl.Name, ic.Get(codes[i:]))
			}
		}
		f.cats[fl.Name] = c
	}
	return f, nil
}

// checkRecMapping checks obsm or varm (or raw.varm) is one 1-D record array
// of numeric fields, which anndata splits into one array per field.
func checkRecMapping(root tree.Group, name string) error {
	a, err := root.Array(name)
	if err != nil {
		return err
	}
	defer a.Close()
	dt, sh := a.DType(), a.Shape()
	if dt.Rec == nil || len(sh) != 1 {
		return fmt.Errorf("%s is an array of %s, shape %v, not a record array of embeddings", name, dt, sh)
	}
	for _, f := range dt.Rec.Fields {
		if f.Name != "" && stringKind(f.Type.Kind) {
			return fmt.Errorf("%s: field %q holds strings, which is no embedding", name, f.Name)
		}
	}
	return nil
}

// unsGraphs finds the neighbors graphs current anndata moves from
// uns/neighbors to obsp (compat._move_adj_mtx: any 2-D matrix named
// distances or connectivities).
func (v *legacyView) unsGraphs(root tree.Group) error {
	if !v.has("uns", true) {
		return nil
	}
	uns, err := root.Group("uns")
	if err != nil {
		return err
	}
	defer uns.Close()
	ng, err := tree.ChildGroup(uns, "neighbors")
	if err != nil || ng == nil {
		return err
	}
	defer ng.Close()
	kids, err := ng.Children()
	if err != nil {
		return err
	}
	for _, c := range kids {
		if !legacyGraphs[c.Name] {
			continue
		}
		sh, ok := graphShape(ng, c)
		if !ok {
			continue
		}
		if n := v.src.NObs; sh[0] != n || sh[1] != n {
			return fmt.Errorf("uns/neighbors/%s has shape %v, not cells x cells (%d); anndata cannot move it to obsp", c.Name, sh, n)
		}
		v.graphs = append(v.graphs, c.Name)
	}
	if len(v.graphs) == 0 {
		return nil
	}
	if v.has("obsp", true) {
		return fmt.Errorf("holds both obsp and neighbors graphs in uns; annslicer cannot merge the two")
	}
	hide := map[string]bool{}
	for _, g := range v.graphs {
		hide[g] = true
	}
	v.hideUns["neighbors"] = hide
	return nil
}

// overlaid lists the root members the view changes.
func (v *legacyView) overlaid() []string {
	var out []string
	for _, k := range v.kids {
		switch {
		case v.frames[k.Name] != nil || v.mappings[k.Name] || k.Name == "X":
			if !strings.HasPrefix(k.Name, "raw.") {
				out = append(out, "/"+k.Name)
			}
		case k.Name == "uns" && len(v.hideUns) > 0:
			out = append(out, "/uns")
		}
	}
	if slices.ContainsFunc(v.kids, func(k tree.Child) bool { return strings.HasPrefix(k.Name, "raw.") }) {
		out = append(out, "/raw")
	}
	for _, name := range []string{"obsm", "varm", "layers", "obsp", "varp"} {
		if !slices.Contains(out, "/"+name) && !v.has(name, true) {
			out = append(out, "/"+name) // made empty by the view
		}
	}
	return out
}
