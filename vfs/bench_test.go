package vfs

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// BenchmarkFUSECeiling reads a 256 MiB in-memory file sequentially with
// 1 MiB reads through a mount: the FUSE ceiling of this machine, what vfs
// delivers when producing bytes costs nothing.
//
//	buffered: ordinary reads through the kernel page cache and read-ahead
//	          (what h5py, cat and dd do); the file's pages are dropped
//	          (fadvise DONTNEED) before each pass so every byte crosses FUSE.
//	direct:   O_DIRECT reads, one 1 MiB FUSE request per read().
func BenchmarkFUSECeiling(b *testing.B) {
	const size = 256 << 20
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(b, "%v", err)
	}
	mnt := b.TempDir()
	srv, err := MountMemoryFile(mnt, size, Options{})
	if err != nil {
		skipOrFail(b, "%v", err)
	}
	b.Cleanup(func() { srv.Unmount() })
	name := filepath.Join(mnt, MemoryFileName)

	for _, mode := range []struct {
		name string
		flag int
	}{{"buffered", 0}, {"direct", syscall.O_DIRECT}} {
		b.Run(mode.name, func(b *testing.B) {
			buf := alignedBuffer(1 << 20)
			b.SetBytes(size)
			for b.Loop() {
				f, err := os.OpenFile(name, os.O_RDONLY|mode.flag, 0)
				if err != nil {
					b.Fatal(err)
				}
				dropPageCache(b, f)
				var n int64
				for {
					m, err := f.Read(buf)
					n += int64(m)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
				if n != size {
					b.Fatalf("read %d bytes, want %d", n, size)
				}
			}
		})
	}
}

// dropPageCache asks the kernel to forget f's cached pages.
func dropPageCache(b *testing.B, f *os.File) {
	const fadvDontNeed = 4
	_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	if e != 0 {
		b.Fatalf("fadvise: %v", e)
	}
}

// alignedBuffer returns n bytes aligned for O_DIRECT.
func alignedBuffer(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % align); r != 0 {
		off = align - r
	}
	return b[off : off+n]
}
