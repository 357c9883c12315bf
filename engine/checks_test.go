package engine

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/internal/rowstest"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q is not one line", err)
	}
}

func TestCheckCSRSpan(t *testing.T) {
	if err := CheckCSRSpan("/X", 0, 750, 750, 750); err != nil {
		t.Fatal(err)
	}
	if err := CheckCSRSpan("/X", 0, 700, 750, 750); err != nil { // spare room at the end, as scipy allows
		t.Fatal(err)
	}
	wantErr(t, CheckCSRSpan("/X", 0, 1250, 750, 750), "/X: indptr runs from 0 to 1250 but data holds 750 entries")
	wantErr(t, CheckCSRSpan("/X", -1000, 750, 750, 750), "runs from -1000 to 750")
	wantErr(t, CheckCSRSpan("/X", 10, 5, 750, 750), "runs from 10 to 5")
	wantErr(t, CheckCSRSpan("/X", 0, 650, 650, 750), "/X: data holds 650 entries but indices holds 750")
}

func TestCheckRowSpans(t *testing.T) {
	rows := []int64{4, 9, 2}
	ok := func(starts, ends []int64) error { return checkRowSpans("/layers/c", rows, starts, ends, 100, 50) }
	if err := ok([]int64{0, 50, 100}, []int64{50, 100, 100}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, ok([]int64{0, 50, 90}, []int64{50, 100, 101}), "/layers/c: indptr gives row 2 the entries [90, 101) but data holds 100 entries")
	wantErr(t, ok([]int64{-3, 50, 90}, []int64{5, 100, 95}), "row 4 the entries [-3, 5)")
	wantErr(t, ok([]int64{0, 60, 90}, []int64{50, 40, 95}), "indptr decreases at row 9 (from 60 to 40)")
	wantErr(t, ok([]int64{0, 49, 90}, []int64{50, 100, 95}), "indptr gives row 9 51 entries but the matrix has 50 columns")
}

func TestShardPtrRefusesOverflow(t *testing.T) {
	ptr := make([]int64, 3)
	if err := shardPtr("/X", []int64{0, 3}, []int64{3, 10}, ptr); err != nil || ptr[2] != 10 {
		t.Fatalf("ptr %v, err %v", ptr, err)
	}
	wantErr(t, shardPtr("/X", []int64{0, 0}, []int64{math.MaxInt64, math.MaxInt64}, ptr), "more than 2^63 entries")
}

func TestCheckRowBytes(t *testing.T) {
	for _, sh := range [][]int64{{}, {5}, {2000, 50}, {2000, MaxRowBytes / 8}, {10, 4, 3}} {
		if err := checkRowBytes("/obsm/a", sh, 8); err != nil {
			t.Fatalf("%v: %v", sh, err)
		}
	}
	wantErr(t, checkRowBytes("/obsm/a", []int64{2000, 1 << 40}, 8), "/obsm/a declares shape [2000 1099511627776]: 8796093022208 bytes per cell", "limit of 64 MiB")
	wantErr(t, checkRowBytes("/obsm/a", []int64{2000, MaxRowBytes/8 + 1}, 8), "limit")
	// products past 2^64 must not wrap around to a small row
	wantErr(t, checkRowBytes("/obsm/a", []int64{2, 1 << 62}, 8), "more than 2^63 bytes")
	wantErr(t, checkRowBytes("/obsm/a", []int64{2, 1 << 20, 1 << 62}, 8), "more than 2^63 bytes")
	wantErr(t, checkRowBytes("/obsm/a", []int64{2, -4}, 8), "negative dimension")
}

func TestCheckShape(t *testing.T) {
	a := axes{nObs: 200, nVars: 30, nRawVars: 40}
	for _, c := range []struct {
		path  string
		shape []int64
	}{{"/X", []int64{200, 30}}, {"/layers/counts", []int64{200, 30}}, {"/raw/X", []int64{200, 40}},
		{"/obsp/conn", []int64{200, 200}}, {"/obsm/sparse", []int64{200, 7}}, {"/layers/g/x", []int64{200, 3}}} {
		if err := a.checkShape(c.path, c.shape); err != nil {
			t.Fatalf("%s %v: %v", c.path, c.shape, err)
		}
	}
	wantErr(t, a.checkShape("/X", []int64{200, 31}), "/X has shape [200 31] but var holds 30 genes")
	wantErr(t, a.checkShape("/X", []int64{200, 1 << 40}), "but var holds 30 genes")
	wantErr(t, a.checkShape("/X", []int64{200, -5}), "negative column count")
	wantErr(t, a.checkShape("/X", []int64{201, 30}), "the source has 200 cells")
	wantErr(t, a.checkShape("/raw/X", []int64{200, 30}), "raw/var holds 40 genes")
	wantErr(t, a.checkShape("/layers/counts", []int64{200, 29}), "var holds 30 genes")
	wantErr(t, a.checkShape("/obsp/conn", []int64{200, 201}), "the source has 200 cells")
	wantErr(t, a.checkShape("/obsm/sparse", []int64{200, -1}), "negative column count")
	// without a var to count, only the sign is checked
	u := axes{nObs: 200, nVars: -1, nRawVars: -1}
	if err := u.checkShape("/X", []int64{200, 12}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckIndexWidth(t *testing.T) {
	i32 := Ints{Size: 4}
	if err := checkIndexWidth("/obsm/s", []int64{200, 1 << 31}, i32); err != nil {
		t.Fatal(err)
	}
	if err := checkIndexWidth("/obsm/s", []int64{200, 1 << 40}, Ints{Size: 8}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, checkIndexWidth("/obsm/s", []int64{200, 1<<31 + 1}, i32), "32-bit integers, which cannot address 2147483649 columns")
	wantErr(t, checkIndexWidth("/obsm/s", []int64{200, 1 << 40}, i32), "cannot address 1099511627776 columns")
}

func TestCheckWholeStrings(t *testing.T) {
	for _, sh := range [][]int64{{}, {30}, {MaxWholeStrings}, {1 << 12, 1 << 12}} {
		if err := checkWholeStrings("/var/_index", sh); err != nil {
			t.Fatalf("%v: %v", sh, err)
		}
	}
	wantErr(t, checkWholeStrings("/var/_index", []int64{1 << 40}), "/var/_index declares shape [1099511627776]: more strings than annslicer's limit of 16777216")
	wantErr(t, checkWholeStrings("/uns/s", []int64{1 << 40, 1 << 40}), "more strings")
	wantErr(t, checkWholeStrings("/uns/s", []int64{-1}), "negative dimension")
}

func TestCheckRowBytesElementSize(t *testing.T) {
	wantErr(t, checkRowBytes("/uns/title", nil, MaxRowBytes+1), "-byte elements")
}

// An induced graph row longer than one read block (graphBlock) gives the
// same sub-graph as reading it whole.
func TestInducedGraphReadsLongRowsInBlocks(t *testing.T) {
	const n = 3*graphBlock + 123 // entries of source row 5
	ic := Ints{Size: 4}
	idx := make([]byte, 4*(n+2))
	data := make([]byte, 8*(n+2))
	for j := 0; j < n+2; j++ {
		ic.Put(idx[4*j:], int64((j*7919)%50)) // columns 0..49, many duplicates
		ic.Put(data[8*j:], int64(j))          // 8-byte values: entry numbers
	}
	rows := []int64{5, 9, 31}
	pos := positions(rows)
	starts := []int64{1, 0, n + 1} // row 5: entries [1, n+1); row 9: [0, 1); row 31: [n+1, n+2)
	ptr := []int64{0, n, n + 1, n + 2}
	newPtr, newIdx, newData, err := inducedGraph(len(rows), pos, starts, ptr, &rowstest.Rows{B: idx, Unit: 4}, &rowstest.Rows{B: data, Unit: 8}, ic)
	if err != nil {
		t.Fatal(err)
	}
	// expected: per row, kept entries in column order, ties in source order
	var wantIdx, wantData []int64
	wantPtr := []int64{0}
	for i, s := range starts {
		for c := int64(0); c < int64(len(rows)); c++ {
			for j := s; j < s+ptr[i+1]-ptr[i]; j++ {
				if p, ok := pos[ic.Get(idx[4*j:])]; ok && p == c {
					wantIdx = append(wantIdx, p)
					wantData = append(wantData, j)
				}
			}
		}
		wantPtr = append(wantPtr, int64(len(wantIdx)))
	}
	if fmt.Sprint(newPtr) != fmt.Sprint(wantPtr) || len(newIdx) != len(wantIdx) {
		t.Fatalf("indptr %v, want %v", newPtr, wantPtr)
	}
	for k := range wantIdx {
		got := Ints{Size: 8}.Get(newData[8*k:])
		if newIdx[k] != wantIdx[k] || got != wantData[k] {
			t.Fatalf("entry %d: column %d value %d, want column %d value %d", k, newIdx[k], got, wantIdx[k], wantData[k])
		}
	}
}
