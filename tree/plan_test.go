package tree

import (
	"encoding/json"
	"reflect"
	"testing"
)

var intLists = []string{
	"[2, 10000]", "[2,10000]", "[]", "[0]", "[-5, 7]", "[123456789012345678]",
	"[1234567890123456789]", "[1.0]", "[1e3]", "[01]", "[1,]", "[,1]", "[ 1]", "[1 ]",
	"[1,  2]", "[-]", "[--1]", "null", "[\"1\"]", "[1, 2", "1, 2]", "[-0]", "[1,\t2]",
}

// AttrInts reads plainly written lists without json, and answers what
// json answers for every list.
func TestAttrIntsAsJSON(t *testing.T) {
	for _, s := range intLists {
		checkAttrInts(t, []byte(s))
	}
}

func checkAttrInts(t *testing.T, raw []byte) {
	t.Helper()
	var want []int64
	wantOK := json.Unmarshal(raw, &want) == nil
	got, ok := AttrInts(Attrs{"shape": raw}, "shape")
	if ok != wantOK || (ok && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0)) {
		t.Errorf("AttrInts(%q) = %v, %v; json gives %v, %v", raw, got, ok, want, wantOK)
	}
}

// Attribute values come from files: whatever their bytes, AttrInts agrees
// with json.
func FuzzAttrInts(f *testing.F) {
	for _, s := range intLists {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkAttrInts(t, raw) })
}
