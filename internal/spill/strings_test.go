package spill

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sample(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(fmt.Sprint(i%7), i%300) // 0 to 299 bytes, some empty
	}
	return out
}

// every range of a list read back equals what was appended, in memory
// and in a file, appended in pieces of any size
func TestReadBackEqualsAppended(t *testing.T) {
	want := sample(5000)
	for _, after := range []int{1 << 20, 0, 2500} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			old := After
			After = after
			defer func() { After = old }()
			l := Strings{Spill: true}
			for i := 0; i < len(want); i += 333 {
				if err := l.Append(want[i:min(i+333, len(want))]...); err != nil {
					t.Fatal(err)
				}
			}
			if _, inMem := l.Mem(); inMem != (after >= len(want)) {
				t.Fatalf("in memory: %v with After %d", inMem, after)
			}
			if l.Len() != len(want) {
				t.Fatalf("Len %d, want %d", l.Len(), len(want))
			}
			for _, r := range [][2]int{{0, 5000}, {0, 0}, {1023, 1025}, {1024, 2049}, {4999, 5000}, {3000, 3000}, {17, 4100}} {
				got, err := l.Slice(r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want[r[0]:r[1]]) {
					t.Fatalf("strings %v differ", r)
				}
			}
			if err := l.Each(10, 5001, func(string) error { return nil }); err == nil {
				t.Fatal("a range past the end read without error")
			}
			l.Close()
		})
	}
}

// a list moved to a file holds nothing of its strings in memory, and its
// file is unlinked from the start
func TestSpilledListLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	old := After
	After = 10
	defer func() { After = old }()
	l := Strings{Spill: true}
	if err := l.Append(sample(100)...); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEmpty(5000); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left in TMPDIR: %v", left)
	}
	if l.mem != nil || l.f == nil {
		t.Fatal("the strings stayed in memory")
	}
	got, err := l.Slice(95, 105)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, append(sample(100)[95:], make([]string, 5)...)) {
		t.Fatalf("got %q", got)
	}
	l.Close()
	if err := l.Each(0, 1, func(string) error { return nil }); err == nil {
		t.Fatal("a closed list read without error")
	}
}

// a list that cannot make its file says so, and keeps failing
func TestNoScratchSpaceIsAnError(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	old := After
	After = 1
	defer func() { After = old }()
	l := Strings{Spill: true}
	err := l.Append("a", "b")
	if err == nil || !strings.Contains(err.Error(), "--tmpdir") {
		t.Fatalf("got %v", err)
	}
	if l.Append("c") == nil {
		t.Fatal("a failed list took more strings")
	}
}
