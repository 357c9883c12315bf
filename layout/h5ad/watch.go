package h5ad

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Pin holds an h5ad source file to its content at mount time, so that a
// mount serves those bytes or fails (EIO), never new or mixed ones.
//
// Why it is exact:
//
//   - A read lease (fcntl F_SETLEASE F_RDLCK) is taken on a read-only
//     descriptor of the file BEFORE libhdf5 or anything else reads it. The
//     kernel grants it only while no one has the file open for writing, and
//     then makes every open for writing (and every truncate) of that inode
//     wait until the lease holder lets go: the writer's open blocks, this
//     process gets SIGIO, and the lease reads as "breaking" (F_GETLEASE no
//     longer says F_RDLCK) from that moment on. So while F_GETLEASE says
//     F_RDLCK, no byte of the inode has changed since the lease was taken.
//   - Check asks F_GETLEASE (and fstats the descriptor) on every call, and
//     vfs calls it before and after producing the bytes of every read. A
//     read whose second Check passes therefore used only mount-time bytes;
//     one that overlaps a change fails. No rate limit, no window.
//   - On a break, Check first records the change (sticky: every later read
//     fails), then releases the lease so the writer proceeds at once
//     instead of waiting out /proc/sys/fs/lease-break-time. Were the release
//     late (this process stopped), the kernel breaks the lease itself after
//     that time, and F_GETLEASE says so: still exact.
//   - Bind checks that the descriptors the Source reads through (its pread
//     descriptor, and by path libhdf5's) are the leased inode. A file
//     renamed over or unlinked later leaves them on the old inode, which
//     keeps its mount-time bytes: that is not a change.
//   - The fstat identity (device, inode, size, mtime) also catches what
//     does not open the file for writing: a touch makes reads fail
//     (conservatively; the bytes did not change).
//
// Without a lease (the mounter neither owns the file nor is root, or the
// filesystem does not support leases, e.g. NFS), Pin falls back to the
// fstat identity alone, waiting at pin time until the file's ctime lies
// pinSettle in the past: the kernel updates mtime and ctime before it
// copies written bytes into the file, and a later write can then no longer
// leave ctime unchanged (same clock tick), so an fstat after a read sees
// every write whose bytes it could have read. That relies on the
// filesystem's timestamps and the clock not being set back.
//
// Not covered either way: writes that bypass the filesystem (to the block
// device, by another host on a network filesystem, a corrupting disk).
type Pin struct {
	Path   string
	f      *os.File
	id     pinID
	leased bool
	why    error // why there is no lease

	err     atomic.Pointer[error] // sticky: the first change seen
	release sync.Once
}

// pinSettle bounds timestamp granularity (2 s: FAT; ext4, xfs, btrfs and
// tmpfs are far finer): a file whose ctime is older than this before a stat
// cannot be changed again without a newer ctime.
const pinSettle = 2 * time.Second

type pinID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func pinStat(f *os.File) (pinID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return pinID{}, err
	}
	return pinID{uint64(st.Dev), st.Ino, st.Size, st.Mtim, st.Ctim}, nil
}

const (
	pinSetLease = syscall.F_SETLEASE
	pinGetLease = syscall.F_GETLEASE
)

func pinFcntl(f *os.File, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// PinFile opens path read-only and pins it (a read lease if possible); call
// it before opening path as a Source, then Bind the Source. The process
// gets SIGIO when a writer wants the file: the caller should then call
// Check (directly, or through its mount) so that the writer is let go.
func PinFile(path string) (*Pin, error) { return pinFile(path, true) }

// pinFile is PinFile; without tryLease it pins by identity alone (the
// fallback, for tests).
func pinFile(path string, tryLease bool) (*Pin, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, expected an .h5ad file", path)
	} else if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file, expected an .h5ad file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, fmt.Errorf("%s: %v", path, pinPathErr(err))
	}
	p := &Pin{Path: path, f: f}
	err = errors.New("not tried")
	if tryLease {
		_, err = pinFcntl(f, pinSetLease, syscall.F_RDLCK)
	}
	switch {
	case err == nil:
		p.leased = true
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EBUSY):
		f.Close()
		return nil, fmt.Errorf("%s: open for writing by another process; mount it once that process is done", path)
	default:
		p.why = err
	}
	if p.id, err = pinStat(f); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if !p.leased {
		if err := p.settle(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// settle waits until the file's ctime lies pinSettle in the past, so that
// any later change shows in its identity; it fails for a file still being
// written after a few tries.
func (p *Pin) settle() error {
	for try := 0; ; try++ {
		start := time.Now()
		id, err := pinStat(p.f)
		if err != nil {
			return fmt.Errorf("%s: %v", p.Path, err)
		}
		p.id = id
		ctime := time.Unix(id.ctime.Unix())
		if ctime.Before(start.Add(-pinSettle)) {
			return nil
		}
		if try == 4 {
			return fmt.Errorf("%s: still being written (changed %v ago); mount it once the writer is done", p.Path, time.Since(ctime).Round(time.Millisecond))
		}
		time.Sleep(time.Until(ctime.Add(pinSettle + 10*time.Millisecond)))
	}
}

// Leased reports whether the pin holds a lease, and if not, why.
func (p *Pin) Leased() (bool, error) { return p.leased, p.why }

// Bind checks that s reads the pinned inode: its pread descriptor is it,
// and path still names it (libhdf5 opened it by path after the pin).
func (p *Pin) Bind(s *Source) error {
	raw, err := pinStat(s.raw)
	if err != nil {
		return fmt.Errorf("%s: %v", p.Path, err)
	}
	var st syscall.Stat_t
	err = syscall.Stat(p.Path, &st)
	if err != nil || raw.dev != p.id.dev || raw.ino != p.id.ino || uint64(st.Dev) != p.id.dev || st.Ino != p.id.ino {
		return fmt.Errorf("%s: replaced while it was being opened; mount it again", p.Path)
	}
	if p.Check() != nil {
		return fmt.Errorf("%s: changed while it was being opened; mount it again once the writer is done", p.Path)
	}
	return nil
}

// Check returns non-nil once the file may have changed since PinFile; the
// first error sticks. It costs one or two syscalls.
func (p *Pin) Check() error {
	if e := p.err.Load(); e != nil {
		return *e
	}
	if p.leased {
		if t, err := pinFcntl(p.f, pinGetLease, 0); err != nil || t != syscall.F_RDLCK {
			return p.fail("is being opened for writing")
		}
	}
	id, err := pinStat(p.f)
	if err != nil {
		return p.fail(err.Error())
	}
	if p.leased {
		// The lease guards the bytes; ctime also moves when the file is
		// renamed over or chmod'ed, which changes no byte.
		id.ctime = p.id.ctime
	}
	if id != p.id {
		return p.fail("its size, mtime or ctime changed")
	}
	return nil
}

// fail records the change (first one wins), then lets a waiting writer go.
func (p *Pin) fail(what string) error {
	err := fmt.Errorf("%s: changed since it was mounted (%s); remount to serve the new file", p.Path, what)
	p.err.CompareAndSwap(nil, &err)
	p.unlease()
	return *p.err.Load()
}

func (p *Pin) unlease() {
	if p.leased {
		p.release.Do(func() { pinFcntl(p.f, pinSetLease, syscall.F_UNLCK) })
	}
}

// Close releases the lease and the descriptor.
func (p *Pin) Close() {
	p.unlease()
	p.f.Close() // a Check after this fails (EBADF): harmless
}

func pinPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
