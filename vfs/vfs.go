// Package vfs serves shard images as a read-only FUSE filesystem.
//
// The root of a mount lists every shard of a source, as a file
// (shard_N.h5ad) or a directory tree (shard_N.zarr/), plus shards.json, the
// manifest. Nothing is built at mount time: a shard's image is built when
// its name is first looked up (its size must be exact before any read),
// and its bytes are produced on read.
//
// The shape follows go-fuse's zipfs: one small node type per kind of entry,
// each embedding fs.Inode; except the shards (files, and zarr trees with
// all inside them), which are served with no node (and no memory) of
// their own, below the node API (shardfs.go, trees.go).
package vfs

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/annslicer/annslicer/layout/image"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// ManifestName is the name of the manifest file at the root of a mount.
const ManifestName = "shards.json"

// FileSizer is what a Source may add: the exact size of file shard i
// without building its image, which is then built on the first read.
type FileSizer interface {
	FileSize(i int) (int64, error)
}

// AheadSizer is what a FileSizer may add: FileSize for a shard nobody
// asked for yet, found ahead of `ls -l` on every core (it keeps nothing
// for a read to follow, unlike FileSize).
type AheadSizer interface {
	FileSizeAhead(i int) (int64, error)
}

// Source is what a mount serves; the engine implements it.
type Source interface {
	// Shards lists the shards, known at mount time. A name ending in
	// ".zarr" is served as a directory (OpenTree), any other as a file
	// (OpenFile).
	Shards() []ShardInfo
	// Manifest is shards.json, asked for once at mount time; its bytes
	// may be made on read (materialize's is), like a shard's.
	Manifest() image.File
	// OpenFile builds the image of file shard i. Called lazily, when the
	// shard is first looked up (or again after vfs evicted it); vfs caches
	// the result.
	OpenFile(i int) (image.File, error)
	// OpenTree builds the files of tree shard i, paths relative to the
	// shard's directory. Called when the shard is first looked up, and
	// again after vfs evicted it: it must give the same files each time.
	OpenTree(i int) ([]image.Entry, error)
	// Check returns non-nil once the source changed. It is called on every
	// open and before and after every read, so it must be cheap (a syscall
	// or two), and exact: a read whose bytes were produced after a change
	// must see the change in its second call (no rate limit). After the
	// first error every read fails with EIO.
	Check() error
}

// ShardInfo names one shard.
type ShardInfo struct {
	Name  string // "shard_0.h5ad" or "shard_0.zarr"
	Cells int64  // number of cells (rows) in the shard
}

// IsTree reports whether the shard is served as a directory tree.
func (s ShardInfo) IsTree() bool { return strings.HasSuffix(s.Name, ".zarr") }

// Options tune a mount. The zero value is the recommended setting.
type Options struct {
	// Debug logs every FUSE request and reply (go-fuse's debug output).
	Debug bool
	// Logger receives error lines (the cause of every EIO) and debug
	// output. Default log.Default().
	Logger *log.Logger
	// CheckInterval is the period of a background Source.Check, which
	// catches a changed source even while readers hit only the kernel page
	// cache, and then drops that cache. 0 means 1 s; negative disables the
	// watcher (opens and reads still call Check).
	CheckInterval time.Duration
	// MaxImages bounds the number of file-shard images (and, separately,
	// of tree shards' file sets) kept built; the
	// least recently used is dropped (and rebuilt on its next read).
	// 0 means 256.
	MaxImages int
	// ReadAheadKB sets the kernel read-ahead of the mount (written to
	// /sys/class/bdi/MAJ:MIN/read_ahead_kb; needs root, best effort). The
	// kernel's FUSE default is 128 KiB whatever the filesystem asks for.
	// 0 means 1024; negative leaves the kernel default.
	ReadAheadKB int
	// Timeout is the kernel's attribute and entry cache time. The tree
	// never changes while mounted. 0 means 1 hour.
	Timeout time.Duration
	// AllowOther lets users other than the mounter read the mount (FUSE's
	// allow_other; files are 0444, directories 0555). For a mounter other
	// than root it needs user_allow_other in /etc/fuse.conf.
	AllowOther bool
	// Prefetch makes each file shard whole, in the background, when it is
	// first opened, and hands its bytes to the kernel's page cache, so
	// that the opener's reads (a training loader's small ones all over
	// the shard) find them there instead of each gathering its rows from
	// the source (prefetch.go). Tree (zarr) shards are not prefetched.
	Prefetch bool
}

// Server is a live mount.
type Server struct {
	fuse       *fuse.Server
	mountpoint string
	st         *state
	stop       chan struct{} // closed by Unmount
	done       chan struct{} // closed when the kernel connection ended
	unmount    sync.Once
	unmountErr error
}

// Mount serves src at mountpoint and returns once the kernel answers
// requests. Call Unmount to end it. The mountpoint must be an existing,
// empty directory without a live annslicer mount (PrepareMountpoint); a
// stale one, left by a killed server, is cleared (and logged).
func Mount(mountpoint string, src Source, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = log.Default()
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = time.Second
	}
	if opts.MaxImages <= 0 {
		opts.MaxImages = 256
	}
	if opts.ReadAheadKB == 0 {
		opts.ReadAheadKB = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Hour
	}
	abs, err := resolve(mountpoint)
	if err != nil {
		return nil, err
	}
	note, err := PrepareMountpoint(abs)
	if note != "" {
		opts.Logger.Print(note)
	}
	if err != nil {
		return nil, err
	}
	st, err := newState(src, opts)
	if err != nil {
		return nil, err
	}
	root := &rootDir{st: st}
	st.root = root

	timeout := opts.Timeout
	root0 := os.Geteuid() == 0
	fopts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       "annslicer",
			Name:         "annslicer",
			MaxWrite:     fuse.MAX_KERNEL_WRITE, // also max_read: 1 MiB requests
			MaxReadAhead: fuse.MAX_KERNEL_WRITE,
			// READDIRPLUS stays on: shardFS answers the root's without
			// building a tree shard (a tree's directory needs no build)
			Options:          []string{"ro", "default_permissions"},
			DirectMount:      root0, // mount(2) directly as root, fusermount3 otherwise
			DirectMountFlags: syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV,
			// Splicing a 1 MiB in-memory reply fails (pipe-max-size is
			// 1 MiB, the reply 1 MiB + header): go-fuse logs and copies.
			DisableSplice: true,
			AllowOther:    opts.AllowOther,
			Debug:         opts.Debug,
			Logger:        opts.Logger,
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		UID:             uint32(os.Getuid()),
		GID:             uint32(os.Getgid()),
		Logger:          opts.Logger,
	}
	st.owner = fuse.Owner{Uid: fopts.UID, Gid: fopts.GID}
	raw := &shardFS{RawFileSystem: fs.NewNodeFS(root, fopts), st: st, entryTimeout: timeout, attrTimeout: timeout}
	fsrv, err := fuse.NewServer(raw, abs, &fopts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", abs, err)
	}
	go fsrv.Serve()
	if err := fsrv.WaitMount(); err != nil { // as fs.Mount: the serve loop ends by itself
		return nil, fmt.Errorf("mount %s: %w", abs, err)
	}
	s := &Server{fuse: fsrv, mountpoint: abs, st: st, stop: make(chan struct{}), done: make(chan struct{})}
	go func() { fsrv.Wait(); st.stopAhead(); close(s.done) }()
	if opts.ReadAheadKB > 0 {
		if err := setReadAhead(abs, opts.ReadAheadKB); err != nil && opts.Debug {
			opts.Logger.Printf("read-ahead of %s left at kernel default: %v", abs, err)
		}
	}
	if opts.CheckInterval > 0 {
		go s.watch(opts.CheckInterval)
	}
	return s, nil
}

// Check checks the source now (Source.Check), failing every later read at
// once if it changed; for a caller told of a change out of band (a signal).
func (s *Server) Check() error { return s.st.check() }

// Mountpoint is the absolute path of the mount.
func (s *Server) Mountpoint() string { return s.mountpoint }

// Wait blocks until the filesystem is unmounted (by Unmount, by
// `annslicer unmount`, or by fusermount3 -u).
func (s *Server) Wait() { <-s.done }

// Unmount ends the mount. It tries a clean unmount first; if the mount is
// busy and the process is root, it detaches it lazily (MNT_DETACH): it
// vanishes from the namespace at once and the kernel connection closes with
// the last open file. Safe to call more than once and from a signal
// handler's goroutine.
func (s *Server) Unmount() error {
	s.unmount.Do(func() {
		close(s.stop)
		select {
		case <-s.done: // already unmounted from outside
			return
		default:
		}
		err := s.fuse.Unmount()
		if err != nil {
			select {
			case <-s.done: // unmounted from outside meanwhile
				err = nil
			default:
			}
		}
		if err != nil && os.Geteuid() == 0 {
			if derr := syscall.Unmount(s.mountpoint, syscall.MNT_DETACH); derr == nil {
				err = nil
			}
		}
		s.unmountErr = err
	})
	return s.unmountErr
}

// watch calls Check every interval until unmount, so that a changed source
// drops the kernel page cache even if no request reaches vfs.
func (s *Server) watch(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.st.check() != nil {
				return
			}
		}
	}
}

// Unmount unmounts the annslicer filesystem at mountpoint, whichever
// process serves it (or the stale mount of a dead one): fusermount3 -u (or
// fusermount -u), then, for root, umount2 with MNT_DETACH. It returns
// ErrNotMounted when nothing is mounted there, and refuses to unmount any
// other kind of filesystem.
func Unmount(mountpoint string) error {
	p, err := resolve(mountpoint)
	if err != nil {
		return unwrapPath(err)
	}
	ents, err := mountsAt(p)
	if err != nil {
		return fmt.Errorf("cannot read the mount table: %v", err)
	}
	if len(ents) == 0 {
		if _, err := os.Stat(p); err != nil {
			return unwrapPath(err)
		}
		return ErrNotMounted
	}
	if t := ents[len(ents)-1].FSType; t != FSType {
		return fmt.Errorf("not an annslicer mount (it is %s); not unmounting it", t)
	}
	mountpoint = p
	var errs []error
	for _, bin := range []string{"fusermount3", "fusermount"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		out, err := exec.Command(p, "-u", mountpoint).CombinedOutput()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s -u %s: %v: %s", bin, mountpoint, err, strings.TrimSpace(string(out))))
		break
	}
	if os.Geteuid() == 0 {
		err := syscall.Unmount(mountpoint, syscall.MNT_DETACH)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("umount2 %s: %w", mountpoint, err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("unmount %s: no fusermount3 and not root", mountpoint)
	}
	return errors.Join(errs...)
}

// setReadAhead raises the kernel read-ahead of the FUSE mount at mnt.
func setReadAhead(mnt string, kb int) error {
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err != nil {
		return err
	}
	major := (st.Dev >> 8) & 0xfff
	minor := (st.Dev & 0xff) | ((st.Dev >> 12) & 0xfff00)
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", major, minor)
	return os.WriteFile(p, []byte(fmt.Sprint(kb)), 0)
}
