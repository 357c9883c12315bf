// Package tree is the format-neutral AnnData element tree: groups and
// arrays with JSON attributes and numpy dtypes, read lazily. Sources (h5ad
// by layout/h5ad, zarr v2/v3 by layout/zarrad) are opened as trees; the
// engine's rules map source trees to a Plan, itself a tree of output
// elements whose large arrays are made by range; encoders (layout/h5ad,
// layout/zarrad) write any Plan. So a rule is written once for every
// source format, and an encoder knows nothing of shards.
package tree

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/annslicer/annslicer/layout/zarr"
)

// Attrs are an element's attributes as JSON values, as zarr holds them
// (h5ad attributes are converted the way anndata writes them to zarr).
type Attrs = map[string]json.RawMessage

// DType is a numpy dtype ("<f4", "|O"): the vocabulary of AnnData. It is
// the zarr layer's model, which speaks numpy already.
type DType = zarr.DType

// Child is a member of a group.
type Child struct {
	Name    string
	IsGroup bool
}

// Node is a group or an array of a source.
type Node interface {
	Path() string // "/obs/cell_type": for messages
	// Attrs may be the map the source keeps: never change it (WithAttr
	// makes a changed copy).
	Attrs() (Attrs, error)
	Close()
}

// Group is a group of a source.
type Group interface {
	Node
	// Children may be the slice the source keeps: never change it (a
	// mount plans every shard from the same listings).
	Children() ([]Child, error)
	Group(name string) (Group, error)
	Array(name string) (Array, error)
}

// Array is an array of a source.
type Array interface {
	Node
	Shape() []int64
	DType() DType // Kind 'O' for variable-length strings
	// Rows reads a fixed-size array (0-d: one row) as raw bytes.
	Rows() RowReader
	// Strings reads a string array ('O') at rows of its first axis, in
	// that order (whole rows of a multi-dimensional one); nil: all of it.
	Strings(rows []int64) ([]string, error)
}

// RowReader reads whole rows (first-axis indices) of a fixed-size array as
// the raw bytes of its dtype.
type RowReader interface {
	ReadRows(p []byte, row0 int64) error
	RowBytes() int64
}

// Source is an AnnData source opened as an element tree.
type Source struct {
	Path   string // the file or store, for messages
	NObs   int64
	Root   func() (Group, error)
	Closer func() // nil: nothing to release
	// Native, when not nil, is the format's own handle (an *h5ad.Source):
	// an encoder of the same format may copy verbatim elements through it
	// (HDF5 H5Ocopy keeps every type, attribute and reference).
	Native any
	// Overlaid lists the paths ("/obs/cell_type") whose nodes, and those
	// below, are not Native's: an overlay (package obscsv) made them. An
	// encoder copying verbatim elements natively reads these from the tree.
	Overlaid []string
	// Parts are the files a collection concatenates, in order, each with
	// the row where its cells start (nil: one file, Path).
	Parts []Part

	// planLens are the list lengths of the last plan made from this
	// source (NewPlan, NotePlan).
	planLens [4]atomic.Int32

	verbatimMu   sync.Mutex
	verbatimStrs map[string]*verbatimStrings // VerbatimStrings
}

// verbatimStrings is one array's strings, read once: its own lock lets
// plans wanting other arrays go on while it is read.
type verbatimStrings struct {
	mu   sync.Mutex
	strs []string
	read bool
}

// VerbatimStrings returns the strings of the string array at path (in
// the source), an element every shard copies whole (var, uns): read the
// first time, by read, then shared, read-only, by every plan. A mount of
// zarr shards read var's names again for each shard's tree, and kept one
// copy per tree it held: 10,000 names a shard were most of the time of
// `du` over 200 zarr shards, and of its garbage.
func (s *Source) VerbatimStrings(path string, read func() ([]string, error)) ([]string, error) {
	s.verbatimMu.Lock()
	e := s.verbatimStrs[path]
	if e == nil {
		if s.verbatimStrs == nil {
			s.verbatimStrs = map[string]*verbatimStrings{}
		}
		e = &verbatimStrings{}
		s.verbatimStrs[path] = e
	}
	s.verbatimMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.read {
		strs, err := read()
		if err != nil {
			return nil, err // not kept: the next plan reads again
		}
		e.strs, e.read = strs, true
	}
	return e.strs, nil
}

// Part is one file of a collection source.
type Part struct {
	Path string
	Row0 int64 // its first cell's row in the collection
	NObs int64
}

// Close releases the source.
func (s *Source) Close() {
	if s.Closer != nil {
		s.Closer()
	}
}

// OpenGroup opens member name of g with its attributes, which most rules
// look at first (the encoding); the caller closes the group.
func OpenGroup(g Group, name string) (Group, Attrs, error) {
	sg, err := g.Group(name)
	if err != nil {
		return nil, nil, err
	}
	attrs, err := sg.Attrs()
	if err != nil {
		sg.Close()
		return nil, nil, err
	}
	return sg, attrs, nil
}

// ChildGroup opens member name of g if it is a group; nil (and no error)
// if g has no such member or it is an array.
func ChildGroup(g Group, name string) (Group, error) {
	kids, err := g.Children()
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		if k.Name == name && k.IsGroup {
			return g.Group(name)
		}
	}
	return nil, nil
}
