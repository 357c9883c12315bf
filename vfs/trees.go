package vfs

import (
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Tree shards (shard_N.zarr/) are served as file shards are, by shardFS
// with no node of their own: a node id names a tree shard and a node of
// its tree, and the tree is built (through the state's bounded cache,
// again after an eviction) when a request needs its files. Through
// go-fuse's node API every directory and file of every tree looked up
// stayed a node: `du` over 2,000 zarr shards of 79 files left 158,000.

const (
	treeNode0 = 1 << 61 // node id of tree shard 0's directory
	treeBits  = 24      // the low bits of a tree node's id: its node in the tree
)

func treeNodeID(i, k int) uint64 { return treeNode0 + uint64(i)<<treeBits + uint64(k) }

// treeIndex is a built tree shard: its files, and the directories their
// paths make, numbered.
type treeIndex struct {
	entries []image.Entry
	nodes   []treeNode // nodes[0] is the shard's directory
	pin     int64      // what every rebuild must give again (> 0)
}

type treeNode struct {
	name  string
	path  string  // in the tree, for messages
	entry int     // a file's entry; -1 for a directory
	kids  []int32 // a directory's, sorted by name
}

func (n *treeNode) isDir() bool { return n.entry < 0 }

// newTreeIndex numbers the files of entries and the directories their
// paths make.
func newTreeIndex(entries []image.Entry) (*treeIndex, error) {
	ti := &treeIndex{entries: entries, nodes: []treeNode{{entry: -1}}}
	byPath := map[string]int32{"": 0}
	h := fnv.New64a()
	add := func(parent int32, p, name string, entry int) int32 {
		k := int32(len(ti.nodes))
		ti.nodes = append(ti.nodes, treeNode{name: name, path: p, entry: entry})
		ti.nodes[parent].kids = append(ti.nodes[parent].kids, k)
		byPath[p] = k
		return k
	}
	for k, e := range entries {
		if e.File == nil {
			return nil, fmt.Errorf("entry %q has no file", e.Path)
		}
		clean := path.Clean(e.Path)
		if clean != e.Path || clean == "." || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("bad entry path %q", e.Path)
		}
		parts := strings.Split(clean, "/")
		p := int32(0)
		for j, c := range parts[:len(parts)-1] {
			dir := strings.Join(parts[:j+1], "/")
			d, ok := byPath[dir]
			if !ok {
				d = add(p, dir, c, -1)
			} else if !ti.nodes[d].isDir() {
				return nil, fmt.Errorf("entry %q: %q is a file", e.Path, dir)
			}
			p = d
		}
		if _, ok := byPath[clean]; ok {
			return nil, fmt.Errorf("duplicate entry %q", e.Path)
		}
		add(p, clean, parts[len(parts)-1], k)
		fmt.Fprintf(h, "%s\x00%d\x00", e.Path, e.File.Size())
	}
	if len(ti.nodes) >= 1<<treeBits {
		return nil, fmt.Errorf("%d files and directories: at most %d", len(ti.nodes), 1<<treeBits-1)
	}
	for k := range ti.nodes {
		slices.SortFunc(ti.nodes[k].kids, func(a, b int32) int { return strings.Compare(ti.nodes[a].name, ti.nodes[b].name) })
	}
	ti.pin = int64(h.Sum64()>>1) | 1
	return ti, nil
}

// child finds directory k's entry called name.
func (ti *treeIndex) child(k int, name string) (int, bool) {
	kids := ti.nodes[k].kids
	j, ok := slices.BinarySearchFunc(kids, name, func(c int32, name string) int { return strings.Compare(ti.nodes[c].name, name) })
	if !ok {
		return 0, false
	}
	return int(kids[j]), true
}

// tree is tree shard i, built (or from the cache). A rebuild must give
// the tree of the first build (its paths and sizes): the kernel may hold
// its attributes and pages.
func (st *state) tree(i int) (*treeIndex, error) {
	ti, err := st.trees.get(i)
	if err != nil {
		return nil, err
	}
	if st.sizes[i].CompareAndSwap(0, ti.pin) {
		st.treeLen[i].Store(int32(len(ti.nodes))) // the first build: as many nodes every time
	} else if st.sizes[i].Load() != ti.pin {
		return nil, fmt.Errorf("its rebuilt tree differs from the first build")
	}
	return ti, nil
}

// buildTree is tree(i) as a request's answer.
func (s *shardFS) buildTree(i int) (*treeIndex, fuse.Status) {
	if s.st.check() != nil {
		return nil, fuse.EIO
	}
	ti, err := s.st.tree(i)
	if err != nil {
		return nil, fuse.Status(s.st.errno("build "+s.st.shards[i].Name, err))
	}
	return ti, fuse.OK
}

// treeNodeOf returns the tree shard and node that node id names; ok
// false for any other id, i < 0 for an id in the range never handed out.
func (s *shardFS) treeNodeOf(node uint64) (i, k int, ok bool) {
	if node < treeNode0 || node >= fileShardNode0 {
		return 0, 0, false
	}
	n := node - treeNode0
	i, k = int(n>>treeBits), int(n&(1<<treeBits-1))
	if i >= len(s.st.shards) || !s.st.shards[i].IsTree() {
		return -1, 0, true
	}
	return i, k, true
}

// treeAttr fills out with node k's attributes (ti may be nil for k = 0,
// the shard's directory: its attributes need no build).
func (s *shardFS) treeAttr(i, k int, ti *treeIndex, out *fuse.Attr) {
	if k == 0 || ti.nodes[k].isDir() {
		dirAttr(s.st, out)
	} else {
		s.st.fileAttr(out, ti.entries[ti.nodes[k].entry].File.Size())
	}
	out.Ino = treeNodeID(i, k)
}

func (s *shardFS) treeEntry(i, k int, ti *treeIndex, out *fuse.EntryOut) {
	out.NodeId = treeNodeID(i, k)
	out.Generation = 1
	s.treeAttr(i, k, ti, &out.Attr)
	out.SetEntryTimeout(s.entryTimeout)
	out.SetAttrTimeout(s.attrTimeout)
}

// What a request needs node k to be (treeNode).
const (
	anyNode = iota
	dirNode
	fileNode
)

// treeNode builds tree shard i for a request about its node k, which
// must be of kind want.
func (s *shardFS) treeNode(i, k, want int) (*treeIndex, fuse.Status) {
	if i < 0 {
		return nil, fuse.Status(syscall.ESTALE)
	}
	ti, st := s.buildTree(i)
	if st != fuse.OK {
		return nil, st
	}
	if k >= len(ti.nodes) {
		return nil, fuse.Status(syscall.ESTALE)
	}
	switch isDir := ti.nodes[k].isDir(); {
	case want == dirNode && !isDir:
		return nil, fuse.ENOTDIR
	case want == fileNode && isDir:
		return nil, fuse.Status(syscall.EISDIR)
	}
	return ti, fuse.OK
}

func (s *shardFS) treeLookup(i, k int, name string, out *fuse.EntryOut) fuse.Status {
	ti, st := s.treeNode(i, k, dirNode)
	if st != fuse.OK {
		return st
	}
	c, ok := ti.child(k, name)
	if !ok {
		// as go-fuse's bridge: an empty entry, cached like the others
		out.NodeId = 0
		out.SetEntryTimeout(s.entryTimeout)
		return fuse.OK
	}
	s.treeEntry(i, c, ti, out)
	return fuse.OK
}

func (s *shardFS) treeGetAttr(i, k int, out *fuse.AttrOut) fuse.Status {
	var ti *treeIndex
	if k != 0 || i < 0 { // the shard's directory needs no build
		var st fuse.Status
		if ti, st = s.treeNode(i, k, anyNode); st != fuse.OK {
			return st
		}
	}
	s.treeAttr(i, k, ti, &out.Attr)
	out.SetTimeout(s.attrTimeout)
	return fuse.OK
}

func (s *shardFS) treeRead(i, k int, buf []byte, off int64) (fuse.ReadResult, fuse.Status) {
	ti, st := s.treeNode(i, k, fileNode)
	if st != fuse.OK {
		return nil, st
	}
	n := &ti.nodes[k]
	r, errno := readAt(s.st, s.st.shards[i].Name+"/"+n.path, ti.entries[n.entry].File, buf, off)
	return r, fuse.Status(errno)
}

// treeList is ReadDir and ReadDirPlus of directory k of tree shard i, by
// position: ".", "..", then its entries by name.
func (s *shardFS) treeList(i, k int, offset uint64, out *fuse.DirEntryList, plus bool) fuse.Status {
	ti, st := s.treeNode(i, k, dirNode)
	if st != fuse.OK {
		return st
	}
	kids := ti.nodes[k].kids
	for j := int(offset); j < rootDots+len(kids); j++ {
		e := fuse.DirEntry{Off: uint64(j) + 1, Mode: fuse.S_IFDIR, Ino: treeNodeID(i, k)}
		c := -1
		switch j {
		case 0:
			e.Name = "."
		case 1:
			e.Name = ".." // its Ino is ignored by the kernel
		default:
			c = int(kids[j-rootDots])
			e.Name, e.Ino = ti.nodes[c].name, treeNodeID(i, c)
			if !ti.nodes[c].isDir() {
				e.Mode = fuse.S_IFREG
			}
		}
		eo, ok := addEntry(out, e, plus)
		if !ok {
			break
		}
		if eo != nil && c >= 0 {
			s.treeEntry(i, c, ti, eo)
		}
	}
	return fuse.OK
}
