// Package spill keeps long lists of strings out of the Go heap.
//
// Why: a merge of 2M cells holds their names until its output is written:
// 2M Go strings are 32 MB of headers over ~25 MB of bytes, live, and the
// collector's headroom doubles that: the merge peaked at 176 MB where
// every other run of annslicer stays under 100 MB. In a scratch file the
// same names cost the page cache ~30 MB and the heap a few KB, and they
// are read back in order (the encoders' only way of using them) at the
// speed of memory.
package spill

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"
)

// After is how many strings a list that may spill holds in memory before
// it moves them to a file: short lists (a shard's names, categories) never touch the
// disk. Tests set it to 0 to run every list through a file.
var After = 1 << 16

// markEvery is the strings between two remembered file offsets: reading
// from string k skips at most this many.
const markEvery = 1024

// Strings is a list of strings appended in order, and read back in order
// from any index. Appends come from one goroutine, before any read; reads
// may run at once.
type Strings struct {
	// Spill lets the list move to a file once longer than After (the
	// zero value holds every string in memory)
	Spill bool

	mem   []string // the strings, until the list moves to f
	n     int
	f     *os.File // unlinked: the file goes when the list does
	w     *bufio.Writer
	size  int64   // bytes written to f
	marks []int64 // offset in f of string k*markEvery
	mu    sync.Mutex
	err   error // the first failed write: every later call fails with it
}

// Len is the number of strings appended.
func (l *Strings) Len() int { return l.n }

// Append adds ss at the end of the list.
func (l *Strings) Append(ss ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.Spill && l.f == nil && l.n+len(ss) > After {
		if l.err = l.toFile(); l.err != nil {
			return l.err
		}
	}
	if l.f == nil {
		l.mem = append(l.mem, ss...)
		l.n += len(ss)
		return nil
	}
	l.err = l.write(ss)
	return l.err
}

// AppendEmpty adds n empty strings (placeholders for rows an input lacks).
func (l *Strings) AppendEmpty(n int) error {
	for n > 0 {
		k := min(n, 4096)
		if err := l.Append(make([]string, k)...); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// toFile moves the strings held so far into a new scratch file.
func (l *Strings) toFile() error {
	f, err := os.CreateTemp("", "annslicer-strings-")
	if err != nil {
		return fmt.Errorf("a scratch file for %d strings: %v (give --tmpdir a directory with space)", l.n, err)
	}
	os.Remove(f.Name()) // nothing is left behind, whatever ends the run
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	mem := l.mem
	l.mem, l.n = nil, 0
	return l.write(mem)
}

func (l *Strings) write(ss []string) error {
	var head [binary.MaxVarintLen64]byte
	for _, s := range ss {
		if l.n%markEvery == 0 {
			l.marks = append(l.marks, l.size)
		}
		k := binary.PutUvarint(head[:], uint64(len(s)))
		l.w.Write(head[:k])
		if _, err := l.w.WriteString(s); err != nil {
			return fmt.Errorf("writing strings to a scratch file: %v (give --tmpdir a directory with space)", err)
		}
		l.size += int64(k + len(s))
		l.n++
	}
	return nil
}

// Mem gives the strings when the list holds them in memory, and false
// when they are in its file.
func (l *Strings) Mem() ([]string, bool) {
	if l.f != nil || l.err != nil {
		return nil, false
	}
	return l.mem, true
}

// Slice gives strings [lo, hi) as strings of their own.
func (l *Strings) Slice(lo, hi int) ([]string, error) {
	if mem, ok := l.Mem(); ok && lo >= 0 && lo <= hi && hi <= len(mem) {
		return mem[lo:hi:hi], nil
	}
	out := make([]string, 0, max(0, hi-lo))
	err := l.Each(lo, hi, func(s string) error {
		out = append(out, string([]byte(s)))
		return nil
	})
	return out, err
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 128<<10) }}

// Each calls f with strings [lo, hi) in order, stopping at f's first
// error. s is valid during the call only: f copies what it keeps.
func (l *Strings) Each(lo, hi int, f func(s string) error) error {
	if lo < 0 || hi > l.n || lo > hi {
		return fmt.Errorf("strings [%d, %d) of a list of %d", lo, hi, l.n)
	}
	l.mu.Lock()
	err := l.err
	if err == nil && l.w != nil {
		if err = l.w.Flush(); err != nil {
			err = fmt.Errorf("writing strings to a scratch file: %v (give --tmpdir a directory with space)", err)
			l.err = err
		}
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if l.f == nil {
		for _, s := range l.mem[lo:hi] {
			if err := f(s); err != nil {
				return err
			}
		}
		return nil
	}
	if lo == hi {
		return nil
	}
	m := lo / markEvery
	r := readers.Get().(*bufio.Reader)
	defer readers.Put(r)
	r.Reset(io.NewSectionReader(l.f, l.marks[m], l.size-l.marks[m]))
	var b []byte
	for k := m * markEvery; k < hi; k++ {
		n, err := binary.ReadUvarint(r)
		if err == nil && n > uint64(l.size) {
			err = fmt.Errorf("a string of %d bytes", n)
		}
		if err == nil && k < lo {
			_, err = r.Discard(int(n))
		} else if err == nil {
			if uint64(cap(b)) < n {
				b = make([]byte, n)
			}
			b = b[:n]
			if _, err = io.ReadFull(r, b); err == nil {
				err = f(unsafe.String(unsafe.SliceData(b), len(b)))
				if err != nil {
					return err
				}
			}
		}
		if err != nil {
			return fmt.Errorf("reading back string %d of a scratch file: %v", k, err)
		}
	}
	return nil
}

// Close removes the list's file (it goes with the list anyway, once the
// collector finds the list unused).
func (l *Strings) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f, l.w, l.mem, l.marks = nil, nil, nil, nil
	if l.err == nil {
		l.err = os.ErrClosed
	}
	return err
}
