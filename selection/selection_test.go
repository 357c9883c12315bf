package selection

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/tree"
)

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"CD4+ T":  "CD4__T",
		"a/b\\c":  "a_b_c",
		"x.y-z_1": "x.y-z_1",
		"é":       "_", // one per character, not per byte
		"日本":      "__",
		"":        "",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// Categories print as Python's str() does, so names and --always-include
// values are those users see in pandas.

func rowsOf(s *Set) [][]int64 {
	var out [][]int64
	for k := 0; k < s.Shards(); k++ {
		out = append(out, s.Rows(k))
		if int64(len(out[k])) != s.Count(k) {
			panic("Count differs from Rows")
		}
	}
	return out
}

func TestCategories(t *testing.T) {
	c := FromCodes("src", "g", []int32{2, 0, -1, 1, 0, 2, 3, 0}, []string{"a", "ctrl", "c", "d d", "empty"})
	s, err := Categories(8, c, []string{"ctrl"})
	if err != nil {
		t.Fatal(err)
	}
	// always-included rows merged in source order, missing codes nowhere
	if got, want := fmt.Sprint(rowsOf(s)), "[[1 3 4 7] [0 3 5] [3 6]]"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
	var names []string
	for k := 0; k < s.Shards(); k++ {
		names = append(names, s.Name(k)+"="+s.Category(k))
	}
	if want := []string{"a=a", "c=c", "d_d=d d"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if !slices.Equal(s.Empty, []string{"empty"}) {
		t.Errorf("empty %q", s.Empty)
	}
	for _, bad := range []struct {
		c      *Column
		always []string
		want   string
	}{
		{FromCodes("src", "g", []int32{0, 1}, []string{"a b", "a_b"}), nil, `categories "a b" and "a_b" of obs column "g" both make the file name "a_b"`},
		{FromCodes("src", "g", []int32{0, 1}, []string{"a", "b"}), []string{"b", "x", "y"}, `--always-include "x", "y" are not categories of obs column "g"`},
		{&Column{Source: "src", Name: "f", DType: "float64", Kind: 'f'}, nil, `obs column "f" is not categorical (its values are float64)`},
	} {
		if _, err := Categories(2, bad.c, bad.always); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("error %v, want %q", err, bad.want)
		}
	}
	// a collision with an always-included category is no collision: it has
	// no output
	if _, err := Categories(2, FromCodes("src", "g", []int32{0, 1}, []string{"a b", "a_b"}), []string{"a b"}); err != nil {
		t.Error(err)
	}
}

func TestRowTableBeyond32Bits(t *testing.T) {
	tb := newRowTable(math.MaxUint32+10, 2)
	tb.set(0, 5)
	tb.set(1, math.MaxUint32+3)
	l := tb.slice(0, 2)
	if l.i64 == nil || l.At(1) != math.MaxUint32+3 {
		t.Errorf("rows beyond 2^32 not kept: %v", l)
	}
}

func TestTruth(t *testing.T) {
	f64 := tree.DType{Kind: 'f', Size: 8, Order: '<'}
	bits := func(f float64) []byte {
		b := make([]byte, 8)
		u := math.Float64bits(f)
		for i := range b {
			b[i] = byte(u >> (8 * i))
		}
		return b
	}
	for f, want := range map[float64]bool{0: false, math.Copysign(0, -1): false, math.NaN(): true, -1e-300: true, math.Inf(1): true} {
		if got := nonZero(bits(f), f64); got != want {
			t.Errorf("nonZero(%v) = %v", f, got)
		}
	}
	c := &Column{Source: "src", Name: "s", Kind: 'O', Text: []string{"True", "FALSE", "1", "0", "tRuE"}}
	keep, err := c.Truth()
	if err != nil || fmt.Sprint(keep) != "[true false true false true]" {
		t.Errorf("%v %v", keep, err)
	}
	c.Text = []string{"yes", "true", "no", "yes", " 1"}
	if _, err := c.Truth(); err == nil || !strings.Contains(err.Error(), `4 cells hold values that are not true or false: " 1", "no", "yes"`) {
		t.Errorf("error %v", err)
	}
	cat := FromCodes("src", "c", []int32{0, 1, 1}, []string{"TRUE", "0"})
	if keep, err := cat.Truth(); err != nil || fmt.Sprint(keep) != "[true false false]" {
		t.Errorf("%v %v", keep, err)
	}
	num := &Column{Source: "src", Name: "n", Categorical: true, Codes: []int32{0, 1, 2}, Categories: []string{"0.0", "2.5", "nan"}, catKind: 'f'}
	if keep, err := num.Truth(); err != nil || fmt.Sprint(keep) != "[false true true]" {
		t.Errorf("%v %v", keep, err)
	}
	cat.Codes = []int32{0, -1}
	if _, err := cat.Truth(); err == nil || !strings.Contains(err.Error(), "1 cell has no value") {
		t.Errorf("error %v", err)
	}
	s, err := Filter(3, &Column{Source: "src", Name: "b", Kind: 'b', NonZero: []bool{false, false, false}})
	if err != nil || s.Shards() != 1 || s.Count(0) != 0 || s.Name(0) != "filtered" {
		t.Errorf("an empty filter must still be one output: %v", err)
	}
}
