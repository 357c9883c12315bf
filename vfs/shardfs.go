package vfs

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileShardNode0 is the FUSE node id of file shard 0; file shard i is
// fileShardNode0+i. go-fuse's node bridge numbers its own nodes from 2
// upwards, one at a time, so the two ranges never meet.
const fileShardNode0 = 1 << 62

// shardFS answers, at the level of FUSE requests, the root's listing and
// every request about a shard (a file shard, a zarr shard and every
// directory and file in it: trees.go), and passes every other request to
// go-fuse's node bridge (the root's attributes, shards.json).
//
// Why: through go-fuse's node API every entry the kernel knows is an
// fs.Inode kept in the bridge's tables until the kernel forgets it, and
// the kernel keeps what `ls -l` or `du` looked up: a mount of 100,000
// shards grew by ~55 MB once listed (the nodes, the bridge's tables, the
// root's children and its listing). A shard needs no state of its own
// (its number is in its node id, its size is pinned in state.sizes, its
// bytes come from the image or tree cache), so here it has none: the
// memory of a mount does not grow with the shards listed or stat'ed.
type shardFS struct {
	fuse.RawFileSystem // go-fuse's node bridge, for every other node
	st                 *state
	entryTimeout       time.Duration
	attrTimeout        time.Duration
}

// ours reports whether node is shardFS's (a file or tree shard's), not
// the bridge's.
func (s *shardFS) ours(node uint64) bool { return node >= treeNode0 }

// shard returns the index of the file shard whose node id is node, and
// whether node is in the file shards' range at all. An id in the range
// but past the last shard (never handed out) gives ok with i < 0.
func (s *shardFS) shard(node uint64) (i int, ok bool) {
	if node < fileShardNode0 {
		return 0, false
	}
	k := node - fileShardNode0
	if k >= uint64(len(s.st.shards)) || s.st.shards[k].IsTree() {
		return -1, true
	}
	return int(k), true
}

func (s *shardFS) Init(srv *fuse.Server) {
	s.st.server.Store(srv)
	s.RawFileSystem.Init(srv)
}

// entry fills out for file shard i, as a lookup's (or READDIRPLUS's)
// answer.
func (s *shardFS) entry(i int, out *fuse.EntryOut) fuse.Status {
	if s.st.check() != nil {
		return fuse.EIO
	}
	size, err := s.st.fileSize(i)
	if err != nil {
		return fuse.Status(s.st.errno("build "+s.st.shards[i].Name, err))
	}
	out.NodeId = fileShardNode0 + uint64(i)
	out.Generation = 1
	s.st.fileAttr(&out.Attr, size)
	out.Ino = firstShardIno + uint64(i)
	out.SetEntryTimeout(s.entryTimeout)
	out.SetAttrTimeout(s.attrTimeout)
	return fuse.OK
}

func (s *shardFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId == fuse.FUSE_ROOT_ID {
		if i, ok := s.st.byName.find(name); ok {
			if s.st.shards[i].IsTree() {
				s.treeEntry(i, 0, nil, out)
				return fuse.OK
			}
			return s.entry(i, out)
		}
	}
	if i, k, ok := s.treeNodeOf(h.NodeId); ok {
		return s.treeLookup(i, k, name, out)
	}
	if _, ok := s.shard(h.NodeId); ok {
		return fuse.ENOTDIR
	}
	return s.RawFileSystem.Lookup(cancel, h, name, out)
}

// Forget: shardFS's nodes have no lookup count to keep.
func (s *shardFS) Forget(node, n uint64) {
	if !s.ours(node) {
		s.RawFileSystem.Forget(node, n)
	}
}

func (s *shardFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if i, k, ok := s.treeNodeOf(in.NodeId); ok {
		return s.treeGetAttr(i, k, out)
	}
	i, ok := s.shard(in.NodeId)
	if !ok {
		return s.RawFileSystem.GetAttr(cancel, in, out)
	}
	if i < 0 {
		return fuse.Status(syscall.ESTALE)
	}
	size, err := s.st.fileSize(i)
	if err != nil {
		return fuse.Status(s.st.errno("build "+s.st.shards[i].Name, err))
	}
	s.st.fileAttr(&out.Attr, size)
	out.Ino = firstShardIno + uint64(i)
	out.SetTimeout(s.attrTimeout)
	return fuse.OK
}

func (s *shardFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if i, k, ok := s.treeNodeOf(in.NodeId); ok {
		if _, st := s.treeNode(i, k, fileNode); st != fuse.OK {
			return st
		}
	} else if i, ok := s.shard(in.NodeId); !ok {
		return s.RawFileSystem.Open(cancel, in, out)
	} else if i < 0 {
		return fuse.Status(syscall.ESTALE)
	}
	flags, errno := openFlags(s.st, in.Flags)
	out.OpenFlags = flags
	if i, ok := s.shard(in.NodeId); ok && errno == 0 {
		s.st.opened(i)
	}
	return fuse.Status(errno)
}

func (s *shardFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if uint32(len(buf)) > in.Size {
		buf = buf[:in.Size]
	}
	if i, k, ok := s.treeNodeOf(in.NodeId); ok {
		return s.treeRead(i, k, buf, int64(in.Offset))
	}
	i, ok := s.shard(in.NodeId)
	if !ok {
		return s.RawFileSystem.Read(cancel, in, buf)
	}
	if i < 0 {
		return nil, fuse.Status(syscall.ESTALE)
	}
	r, errno := s.st.readShard(i, buf, int64(in.Offset))
	if errno == 0 {
		s.st.read(i, int64(in.Offset), int64(r.Size()))
	}
	return r, fuse.Status(errno)
}

// Release: opening a file of shardFS's made nothing to free.
func (s *shardFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if !s.ours(in.NodeId) {
		s.RawFileSystem.Release(cancel, in)
	}
}

func (s *shardFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if s.ours(in.NodeId) {
		flushes.Add(1)
		return fuse.ENOSYS // as roFile.Flush: the kernel sends no more
	}
	return s.RawFileSystem.Flush(cancel, in)
}

func (s *shardFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if s.ours(h.NodeId) {
		n, errno := noXattrs()
		return n, fuse.Status(errno)
	}
	return s.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (s *shardFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	if s.ours(h.NodeId) {
		n, errno := noXattrs()
		return n, fuse.Status(errno)
	}
	return s.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (s *shardFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if s.ours(h.NodeId) {
		root := *h
		root.NodeId = fuse.FUSE_ROOT_ID // the file system's, whichever file is asked
		return s.RawFileSystem.StatFs(cancel, &root, out)
	}
	return s.RawFileSystem.StatFs(cancel, h, out)
}

// The root's listing is made from the shard list at each request, by
// position (entry k has offset k+1): nothing is kept per open directory.

const (
	rootDots     = 2 // "." and ".."
	rootManifest = rootDots
	rootShard0   = rootManifest + 1
)

func (s *shardFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if in.NodeId == fuse.FUSE_ROOT_ID {
		s.st.sizeAhead()
		out.Fh = 0
		return fuse.OK
	}
	if i, k, ok := s.treeNodeOf(in.NodeId); ok {
		_, st := s.treeNode(i, k, dirNode)
		return st
	}
	if _, ok := s.shard(in.NodeId); ok {
		return fuse.ENOTDIR
	}
	return s.RawFileSystem.OpenDir(cancel, in, out)
}

// ReleaseDir: opening the root or a tree's directory made nothing to free.
func (s *shardFS) ReleaseDir(in *fuse.ReleaseIn) {
	if in.NodeId != fuse.FUSE_ROOT_ID && !s.ours(in.NodeId) {
		s.RawFileSystem.ReleaseDir(in)
	}
}

func (s *shardFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if in.NodeId == fuse.FUSE_ROOT_ID || s.ours(in.NodeId) {
		return fuse.ENOSYS // nothing is ever written
	}
	return s.RawFileSystem.FsyncDir(cancel, in)
}

// addEntry adds e to a listing, and for READDIRPLUS returns the zeroed
// entry to fill for it (a zero entry tells the kernel nothing); ok is
// false once the listing is full.
func addEntry(out *fuse.DirEntryList, e fuse.DirEntry, plus bool) (eo *fuse.EntryOut, ok bool) {
	if !plus {
		return nil, out.AddDirEntry(e)
	}
	eo = out.AddDirLookupEntry(e)
	return eo, eo != nil
}

// rootEntry is entry k of the root's listing.
func (s *shardFS) rootEntry(k int) fuse.DirEntry {
	e := fuse.DirEntry{Off: uint64(k) + 1}
	switch {
	case k == 0:
		e.Name, e.Mode, e.Ino = ".", fuse.S_IFDIR, fuse.FUSE_ROOT_ID
	case k == 1:
		e.Name, e.Mode, e.Ino = "..", fuse.S_IFDIR, fuse.FUSE_ROOT_ID
	case k == rootManifest:
		e.Name, e.Mode, e.Ino = ManifestName, fuse.S_IFREG, manifestIno
	default:
		i := k - rootShard0
		sh := s.st.shards[i]
		e.Name, e.Mode, e.Ino = sh.Name, fuse.S_IFREG, firstShardIno+uint64(i)
		if sh.IsTree() {
			e.Mode, e.Ino = fuse.S_IFDIR, treeNodeID(i, 0)
		}
	}
	return e
}

func (s *shardFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return s.readDir(cancel, in, out, false)
}

func (s *shardFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return s.readDir(cancel, in, out, true)
}

// readDir is ReadDir and ReadDirPlus (plus). READDIRPLUS gives each
// shard's attributes with its name, so `ls -l` needs no lookup of its own
// per shard: a tree shard's directory needs no build, a file shard's size
// none from a FileSizer source. (A tree's directories are listed the same
// way: `du` of a zarr mount then needs no lookup per file, a round trip
// each.)
func (s *shardFS) readDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	if in.NodeId != fuse.FUSE_ROOT_ID {
		if i, k, ok := s.treeNodeOf(in.NodeId); ok {
			return s.treeList(i, k, in.Offset, out, plus)
		}
		if _, ok := s.shard(in.NodeId); ok {
			return fuse.ENOTDIR
		}
		if plus {
			return s.RawFileSystem.ReadDirPlus(cancel, in, out)
		}
		return s.RawFileSystem.ReadDir(cancel, in, out)
	}
	n := rootShard0 + len(s.st.shards)
	for k := int(in.Offset); k < n; k++ {
		e := s.rootEntry(k)
		eo, ok := addEntry(out, e, plus)
		if !ok {
			break
		}
		if eo == nil {
			continue
		}
		// A zero entry (node id 0) tells the kernel nothing: it looks the
		// name up itself when it needs to ("." and "..", a shard whose
		// size failed or needs its image built).
		switch {
		case k == rootManifest:
			h := in.InHeader
			if s.RawFileSystem.Lookup(cancel, &h, ManifestName, eo) != fuse.OK {
				*eo = fuse.EntryOut{}
			}
		case k >= rootShard0 && e.Mode == fuse.S_IFDIR: // a tree: nothing built
			s.treeEntry(k-rootShard0, 0, nil, eo)
		case k >= rootShard0 && s.st.sizeKnown(k-rootShard0):
			if s.entry(k-rootShard0, eo) != fuse.OK {
				*eo = fuse.EntryOut{}
			}
		}
	}
	return fuse.OK
}

// Every call below changes a file or directory, or asks what none has: it
// is refused here for shardFS's nodes (the bridge has none for them).

func (s *shardFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.SetAttr(cancel, in, out)
}

func (s *shardFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (s *shardFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if s.ours(h.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (s *shardFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if s.ours(in.NodeId) {
		if in.Mask&unixWOK != 0 {
			return fuse.EROFS
		}
		return fuse.OK
	}
	return s.RawFileSystem.Access(cancel, in)
}

const unixWOK = 2 // W_OK

func (s *shardFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	if s.ours(h.NodeId) {
		return nil, fuse.EINVAL
	}
	return s.RawFileSystem.Readlink(cancel, h)
}

func (s *shardFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Mknod(cancel, in, name, out)
}

func (s *shardFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (s *shardFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if s.ours(h.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Unlink(cancel, h, name)
}

func (s *shardFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if s.ours(h.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Rmdir(cancel, h, name)
}

func (s *shardFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if s.ours(in.NodeId) || s.ours(in.Newdir) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (s *shardFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	if s.ours(in.NodeId) || s.ours(in.Oldnodeid) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Link(cancel, in, name, out)
}

func (s *shardFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, to, name string, out *fuse.EntryOut) fuse.Status {
	if s.ours(h.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Symlink(cancel, h, to, name, out)
}

func (s *shardFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Create(cancel, in, name, out)
}

func (s *shardFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Tmpfile(cancel, in, out)
}

func (s *shardFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS // the kernel seeks itself
	}
	return s.RawFileSystem.Lseek(cancel, in, out)
}

func (s *shardFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return s.RawFileSystem.GetLk(cancel, in, out)
}

func (s *shardFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return s.RawFileSystem.SetLk(cancel, in)
}

func (s *shardFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return s.RawFileSystem.SetLkw(cancel, in)
}

func (s *shardFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if s.ours(in.NodeId) {
		return 0, fuse.EROFS
	}
	return s.RawFileSystem.Write(cancel, in, data)
}

func (s *shardFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if s.ours(in.NodeId) {
		return 0, fuse.EROFS
	}
	return s.RawFileSystem.Writev(cancel, in, data)
}

func (s *shardFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	if s.ours(in.NodeId) || s.ours(in.NodeIdOut) {
		return 0, fuse.ENOSYS // the kernel copies by reads and writes
	}
	return s.RawFileSystem.CopyFileRange(cancel, in)
}

func (s *shardFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return s.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (s *shardFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS // nothing is ever written
	}
	return s.RawFileSystem.Fsync(cancel, in)
}

func (s *shardFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.EROFS
	}
	return s.RawFileSystem.Fallocate(cancel, in)
}

func (s *shardFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	if s.ours(in.NodeId) {
		return fuse.ENOSYS // as the bridge answers for every node: the kernel asks GETATTR
	}
	return s.RawFileSystem.Statx(cancel, in, out)
}
