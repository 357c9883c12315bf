package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/annslicer/annslicer/tree"
)

// anndata.concat's label, keys and index_unique: each input has a key;
// label names an obs column, a categorical whose categories are the keys
// (in input order) and whose codes say which input each cell comes from;
// index_unique appends SEP + key to every obs name. The column's codes
// are made by range from the inputs' row offsets, the names are the
// strings the merge holds anyway.

// InputKeys are a merge's keys and what they label.
type InputKeys struct {
	Keys        []string // one per input; needed when Label is set or IndexUnique
	Label       string   // obs column naming each cell's input ("": none)
	IndexUnique bool     // obs names become name + Sep + key
	Sep         string
}

func (k InputKeys) used() bool { return k.Label != "" || k.IndexUnique }

// check refuses keys anndata.concat would refuse, and a label no obs
// column may take.
func (k InputKeys) check(inputs int) error {
	if !k.used() {
		return nil
	}
	if len(k.Keys) != inputs {
		return fmt.Errorf("%d keys for %d inputs; give exactly one key per input", len(k.Keys), inputs)
	}
	seen := map[string]bool{}
	for _, key := range k.Keys {
		if seen[key] {
			return fmt.Errorf("key %q is given twice; keys must be unique", key)
		}
		seen[key] = true
	}
	if strings.Contains(k.Label, "/") {
		return fmt.Errorf("label %q contains '/', which no element name may hold; choose another column name", k.Label)
	}
	return nil
}

// checkLabelName refuses a label that would take the obs index's place
// (anndata refuses to write such a dataframe) or anndata 0.7's
// categories group.
func (m *merger) checkLabelName(idx string) error {
	if l := m.keys.Label; l != "" && (l == idx || l == "_index" || l == "__categories") {
		return fmt.Errorf("%s: obs/%s: the label %q is the name of obs's index or of a reserved element; choose another column name", m.tplPath(), l, l)
	}
	return nil
}

// isLabel says whether obs column name of frame f is the label: it is
// planned as a kLabel node, whatever the inputs hold there (concat
// overwrites it).
func (m *merger) isLabel(f *mnode, name string) bool {
	return f.path == "obs" && m.keys.Label != "" && name == m.keys.Label
}

// labelNode plans the label column in frame f.
func labelNode(f *mnode, name string) *mnode {
	n := mchild(f, name, kLabel)
	n.optional, n.col = true, true
	return n
}

// placeLabel puts the label where concat puts it: in place of an obs
// column of that name the join keeps, else after every other column.
func (m *merger) placeLabel() {
	if m.keys.Label == "" {
		return
	}
	i := slices.IndexFunc(m.root.kids, func(n *mnode) bool { return n.path == "obs" && n.dropped == "" })
	if i < 0 {
		return
	}
	obs := m.root.kids[i]
	if slices.ContainsFunc(obs.kids, func(n *mnode) bool { return n.mkind == kLabel && n.dropped == "" }) {
		return
	}
	labelNode(obs, m.keys.Label)
	obs.addCols = append(obs.addCols, m.keys.Label)
}

// label plans the label column: string categories (the keys), codes of
// pandas' width, as anndata writes pd.Categorical.from_codes.
func (ob *outBuilder) label(n *mnode) error {
	m := ob.m
	keys := m.keys.Keys
	version := func(enc string) tree.Attrs {
		return tree.Attrs{
			"encoding-type":    json.RawMessage(`"` + enc + `"`),
			"encoding-version": json.RawMessage(`"0.2.0"`),
		}
	}
	ob.group(n.path, tree.WithAttr(version("categorical"), "ordered", false))
	ob.array(&tree.PlanArray{Path: n.path + "/categories", Attrs: version("string-array"),
		DType: tree.DType{Kind: 'O', Order: '|'}, Shape: []int64{int64(len(keys))}, Strs: slices.Clone(keys)})
	dt := outInts(pandasCodesWidth(len(keys)))
	oc, _ := intCodecOf(dt)
	rows := m.inputs
	fill := func(p []byte, off int64) error {
		return byUnits(p, off, int64(oc.Size), func(buf []byte, u0 int64) error {
			// the input holding row u0: the last starting at or before it
			k := sort.Search(len(rows), func(j int) bool { return rows[j].row0 > u0 }) - 1
			for j := 0; j*oc.Size < len(buf); j++ {
				for k+1 < len(rows) && rows[k+1].row0 <= u0+int64(j) {
					k++
				}
				oc.Put(buf[j*oc.Size:], int64(k))
			}
			return nil
		})
	}
	ob.array(&tree.PlanArray{Path: n.path + "/codes", Attrs: version("array"), DType: dt, Shape: []int64{m.n}, Fill: fill})
	return nil
}

// checkIndex refuses index_unique when obs's index is not strings.
func (m *merger) checkIndex() error {
	if !m.keys.IndexUnique {
		return nil
	}
	if n := m.obsIdx; n == nil || n.mkind != kStrings {
		return fmt.Errorf("%s: obs's index is not an array of strings, so names cannot be made unique with the keys; rewrite the file with anndata", m.tplPath())
	}
	return nil
}
