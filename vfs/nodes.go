package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Node types, one per kind of entry that has a node:
//
//	rootDir      the mount's root: its attributes, and shards.json's lookup
//	manifestFile shards.json
//
// A shard (shard_N.h5ad, shard_N.zarr/ and all inside it) has no node:
// shardFS answers for it, and for the root's listing, below go-fuse's
// node API (shardfs.go, trees.go).
//
// The kernel mount is read-only ("ro"), so it refuses writes itself; every
// node also answers EROFS to every mutating call, should one get through.

const (
	dirMode  = 0o555
	fileMode = 0o444

	manifestIno   = 2
	firstShardIno = 16 // shard i has inode firstShardIno+i
)

var (
	_ = (fs.NodeLookuper)((*rootDir)(nil))
	_ = (fs.NodeGetattrer)((*rootDir)(nil))
	_ = (fs.NodeStatfser)((*rootDir)(nil))

	_ = (fs.NodeOpener)((*manifestFile)(nil))
	_ = (fs.NodeReader)((*manifestFile)(nil))
	_ = (fs.NodeGetattrer)((*manifestFile)(nil))

	_ = (fs.NodeSetattrer)((*rootDir)(nil))
	_ = (fs.NodeCreater)((*rootDir)(nil))
	_ = (fs.NodeMkdirer)((*rootDir)(nil))
	_ = (fs.NodeMknoder)((*rootDir)(nil))
	_ = (fs.NodeLinker)((*rootDir)(nil))
	_ = (fs.NodeSymlinker)((*rootDir)(nil))
	_ = (fs.NodeUnlinker)((*rootDir)(nil))
	_ = (fs.NodeRmdirer)((*rootDir)(nil))
	_ = (fs.NodeRenamer)((*rootDir)(nil))
	_ = (fs.NodeSetxattrer)((*rootDir)(nil))
	_ = (fs.NodeRemovexattrer)((*rootDir)(nil))
	_ = (fs.NodeSetattrer)((*manifestFile)(nil))
	_ = (fs.NodeGetxattrer)((*rootDir)(nil))
)

// roDir answers EROFS to every call that would change a directory.
type roDir struct{}

func (roDir) Setattr(context.Context, fs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (roDir) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (roDir) Mkdir(context.Context, string, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }
func (roDir) Rmdir(context.Context, string) syscall.Errno  { return syscall.EROFS }
func (roDir) Rename(context.Context, string, fs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}
func (roDir) Setxattr(context.Context, string, []byte, uint32) syscall.Errno { return syscall.EROFS }
func (roDir) Removexattr(context.Context, string) syscall.Errno              { return syscall.EROFS }
func (roDir) Getxattr(context.Context, string, []byte) (uint32, syscall.Errno) {
	return noXattrs()
}
func (roDir) Listxattr(context.Context, []byte) (uint32, syscall.Errno) { return noXattrs() }

// noXattrs answers a request for extended attributes (there are none)
// with ENOSYS, after which the kernel answers them itself, for the whole
// mount: `ls -l` asks for two per file, and the one the kernel did not
// answer itself (security.selinux) was a round trip to the server as long
// as the file's lookup.
func noXattrs() (uint32, syscall.Errno) { return 0, syscall.ENOSYS }

// roFile answers EROFS to every call that would change a file, and opens
// read-only.
type roFile struct{}

func (roFile) Setattr(context.Context, fs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (roFile) Setxattr(context.Context, string, []byte, uint32) syscall.Errno { return syscall.EROFS }
func (roFile) Removexattr(context.Context, string) syscall.Errno              { return syscall.EROFS }
func (roFile) Getxattr(context.Context, string, []byte) (uint32, syscall.Errno) {
	return noXattrs()
}
func (roFile) Listxattr(context.Context, []byte) (uint32, syscall.Errno) { return noXattrs() }

// Flush answers ENOSYS, after which the kernel sends no more (kernels
// older than 5.16 ignore FOPEN_NOFLUSH); flushes counts those that came.
func (roFile) Flush(context.Context, fs.FileHandle) syscall.Errno {
	flushes.Add(1)
	return syscall.ENOSYS
}

var flushes atomic.Int64

// openRO is Open for every file node of the bridge (openFlags).
func openRO(st *state, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fl, errno := openFlags(st, flags)
	return nil, fl, errno
}

// openFlags checks an open of any file: read-only, and the source
// unchanged. Its flags keep the file cached by the kernel across opens
// (the content never changes while mounted).
func openFlags(st *state, flags uint32) (uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return 0, syscall.EROFS
	}
	if err := st.check(); err != nil {
		return 0, syscall.EIO
	}
	// NOFLUSH: nothing is ever written, and a flush per close() (two for
	// dd) is a round trip to the server
	return fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH, 0
}

// readAt is Read for every file: check, then f.ReadAt over [off, off+len).
func readAt(st *state, name string, f image.File, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if err := st.check(); err != nil {
		return nil, syscall.EIO
	}
	size := f.Size()
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	if rest := size - off; int64(len(dest)) > rest {
		dest = dest[:rest]
	}
	n, err := f.ReadAt(dest, off)
	if n < len(dest) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, st.errno(fmt.Sprintf("read %s [%d, +%d)", name, off, len(dest)), err)
	}
	// Re-check: bytes produced while the source changed are not served.
	if err := st.check(); err != nil {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest), 0
}

func (st *state) fileAttr(out *fuse.Attr, size int64) {
	out.Owner = st.owner
	out.Mode = fuse.S_IFREG | fileMode
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blksize = 1 << 20
	out.Blocks = (uint64(size) + 511) / 512
	setTimes(st, out)
}

func dirAttr(st *state, out *fuse.Attr) {
	out.Owner = st.owner
	out.Mode = fuse.S_IFDIR | dirMode
	out.Nlink = 2
	setTimes(st, out)
}

func setTimes(st *state, out *fuse.Attr) {
	out.SetTimes(&st.mtime, &st.mtime, &st.mtime)
}

// rootDir is the root's node: its attributes, and the lookup shardFS
// passes on (shards.json).
type rootDir struct {
	fs.Inode
	roDir
	st *state

	mu       sync.Mutex
	manifest *fs.Inode
}

// manifestNode is shards.json's node, nil until it is looked up.
func (r *rootDir) manifestNode() *fs.Inode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifest
}

func (r *rootDir) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	dirAttr(r.st, &out.Attr)
	return 0
}

func (r *rootDir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize = 1 << 20
	out.Frsize = 1 << 20
	out.NameLen = 255
	out.Files = uint64(len(r.st.shards) + 1)
	return 0
}

func (r *rootDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if name != ManifestName { // shards: shardFS
		return nil, syscall.ENOENT
	}
	r.mu.Lock()
	if r.manifest == nil {
		r.manifest = r.NewPersistentInode(ctx, &manifestFile{st: r.st},
			fs.StableAttr{Mode: fuse.S_IFREG, Ino: manifestIno})
	}
	n := r.manifest
	r.mu.Unlock()
	r.st.fileAttr(&out.Attr, r.st.manifest.Size())
	return n, 0
}

// manifestFile is shards.json.
type manifestFile struct {
	fs.Inode
	roFile
	st *state
}

func (m *manifestFile) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	m.st.fileAttr(&out.Attr, m.st.manifest.Size())
	return 0
}

func (m *manifestFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return openRO(m.st, flags)
}

func (m *manifestFile) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return readAt(m.st, ManifestName, m.st.manifest, dest, off)
}

// readShard is a read of file shard i: its image from the cache (rebuilt
// if evicted, to the size pinned at its first lookup).
func (st *state) readShard(i int, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	name := st.shards[i].Name
	size, err := st.fileSize(i)
	if err != nil {
		return nil, st.errno("build "+name, err)
	}
	f, err := st.images.get(i)
	if err != nil {
		return nil, st.errno("build "+name, err)
	}
	if f.Size() != size {
		return nil, st.errno("rebuild "+name, fmt.Errorf("size changed from %d to %d", size, f.Size()))
	}
	return readAt(st, name, f, dest, off)
}
