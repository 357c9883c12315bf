package engine

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/annslicer/annslicer/internal/rowstest"
)

func TestShufflePlanIsAPermutationAndReproducible(t *testing.T) {
	for _, n := range []int64{1, 2, 3, 7, 64, 100, 1000, 4097, 100003} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			seed := uint64(42)
			p, err := NewPlan(n, 37, true, &seed)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := NewPlan(n, 37, true, &seed)
			seen := make([]bool, n)
			var total int64
			for k := 0; k < p.Shards(); k++ {
				rows, again := p.Rows(k), q.Rows(k)
				if int64(len(rows)) != p.Count(k) {
					t.Fatalf("shard %d: %d rows, Count says %d", k, len(rows), p.Count(k))
				}
				for i, r := range rows {
					if r < 0 || r >= n || seen[r] {
						t.Fatalf("row %d out of range or repeated", r)
					}
					seen[r] = true
					if again[i] != r {
						t.Fatal("the same seed gave a different order")
					}
				}
				total += int64(len(rows))
			}
			if total != n {
				t.Fatalf("%d rows in shards, want %d", total, n)
			}
		})
	}
}

func TestShuffleActuallyMixes(t *testing.T) {
	seed := uint64(1)
	p, _ := NewPlan(100000, 1000, true, &seed)
	rows := p.Rows(0)
	if Contiguous(rows) {
		t.Fatal("shuffled shard is contiguous")
	}
	// a fair shuffle puts about a tenth of shard 0's rows in each tenth of the file
	var dec [10]int
	for _, r := range rows {
		dec[r/10000]++
	}
	for i, c := range dec {
		if c < 60 || c > 140 {
			t.Errorf("decile %d holds %d of 1000 rows", i, c)
		}
	}
	other := uint64(2)
	q, _ := NewPlan(100000, 1000, true, &other)
	if fmt.Sprint(q.Rows(0)[:20]) == fmt.Sprint(rows[:20]) {
		t.Error("different seeds gave the same order")
	}
}

func TestContiguousPlan(t *testing.T) {
	p, err := NewPlan(10, 4, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Shards() != 3 || fmt.Sprint(p.Rows(2)) != "[8 9]" || !Contiguous(p.Rows(1)) {
		t.Fatalf("shards %d, last %v", p.Shards(), p.Rows(2))
	}
	if _, err := NewPlan(10, 0, false, nil); err == nil {
		t.Error("size 0 accepted")
	}
	s := uint64(1)
	if _, err := NewPlan(10, 4, false, &s); err == nil {
		t.Error("seed without shuffle accepted")
	}
}

func TestGathersAtAnyOffsetEqualTheRowsOfTheSource(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	src := &rowstest.Rows{B: make([]byte, 5000*12), Unit: 12}
	rng.Read(src.B)
	rows := rng.Perm(5000)[:1700]
	rows64 := make([]int64, len(rows))
	var want []byte
	for i, r := range rows {
		rows64[i] = int64(r)
		want = append(want, src.B[r*12:(r+1)*12]...)
	}
	fill := denseRows(src, rows64)
	for _, w := range []struct{ off, n int64 }{{0, int64(len(want))}, {5, 1}, {7, 4096}, {12, 24}, {int64(len(want)) - 3, 3}, {999, 12345}} {
		got := make([]byte, w.n)
		if err := fill(got, w.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[w.off:w.off+w.n]) {
			t.Errorf("dense window %+v differs", w)
		}
	}

	// CSR: row i has i%7 elements starting at starts[i]
	starts := make([]int64, len(rows))
	ptr := make([]int64, len(rows)+1)
	var wantCSR []byte
	for i, r := range rows {
		n := int64(i % 7)
		starts[i] = int64(r % 4990)
		ptr[i+1] = ptr[i] + n
		wantCSR = append(wantCSR, src.B[starts[i]*12:(starts[i]+n)*12]...)
	}
	csr := csrElems(src, starts, ptr)
	for _, w := range []struct{ off, n int64 }{{0, int64(len(wantCSR))}, {13, 1000}, {int64(len(wantCSR)) - 30, 30}} {
		got := make([]byte, w.n)
		if err := csr(got, w.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantCSR[w.off:w.off+w.n]) {
			t.Errorf("csr window %+v differs", w)
		}
	}
}

func TestContiguousGatherIsOneRead(t *testing.T) {
	src := &rowstest.Rows{B: make([]byte, 1000*8), Unit: 8}
	rows := make([]int64, 300)
	for i := range rows {
		rows[i] = int64(200 + i)
	}
	got := make([]byte, 300*8)
	if err := denseRows(src, rows)(got, 0); err != nil {
		t.Fatal(err)
	}
	if src.Reads != 1 {
		t.Fatalf("contiguous rows took %d reads, want 1", src.Reads)
	}
}

func TestIntsFillWritesTheSourceDtype(t *testing.T) {
	vals := []int64{0, 5, 70000, 1 << 40}
	for _, c := range []struct {
		codec Ints
		want  []byte
	}{
		{Ints{Size: 8}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}},
		{Ints{Size: 4, BE: true}, []byte{0, 0, 0, 0, 0, 0, 0, 5}},
	} {
		got := make([]byte, len(c.want))
		if err := intsFill(vals, c.codec)(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%+v: got %v want %v", c.codec, got, c.want)
		}
		part := make([]byte, 3)
		intsFill(vals, c.codec)(part, 2)
		if !bytes.Equal(part, c.want[2:5]) {
			t.Errorf("%+v: unaligned read %v", c.codec, part)
		}
	}
}
