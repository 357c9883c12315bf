package obscsv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The expected categories and codes below are what the Python tool 0.3.0
// (_merge_csv_into_obs: pandas read_csv, astype("category"), join) gives
// for the same CSV text, run in .venv-pytool; str() of each category.

func writeCSV(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meta.csv")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var cells = []string{"c1", "c2", "c3"}

type columnCase struct {
	name, text string
	cats       []string
	codes      []int32
}

var columnCases = []columnCase{
	{"strings sorted", "k,C\nc1,T\nc2,NK\nc3,B\n", []string{"B", "NK", "T"}, []int32{2, 1, 0}},
	{"ints sorted as numbers", "k,C\nc1,2\nc2,10\nc3,1\n", []string{"1", "2", "10"}, []int32{1, 2, 0}},
	{"floats", "k,C\nc1,2.5\nc2,10\nc3,1\n", []string{"1.0", "2.5", "10.0"}, []int32{1, 2, 0}},
	{"ints with a missing value are floats", "k,C\nc1,2\nc2,\nc3,1\n", []string{"1.0", "2.0"}, []int32{1, -1, 0}},
	{"empty and NA are missing", "k,C\nc1,T\nc2,NA\nc3,\n", []string{"T"}, []int32{0, -1, -1}},
	{"all missing", "k,C\nc1,None\nc2,n/a\nc3,null\n", []string{}, []int32{-1, -1, -1}},
	{"bools", "k,C\nc1,True\nc2,false\nc3,TRUE\n", []string{"False", "True"}, []int32{1, 0, 1}},
	{"values are not stripped", "k,C\n c1 , T\nc2,B \nc3,B\n", []string{" T", "B", "B "}, []int32{0, 2, 1}},
	{"whitespace only is a value", "k,C\nc1,  \nc2,x\nc3,x\n", []string{"  ", "x"}, []int32{0, 1, 1}},
	{"numbers equal as numbers are one", "k,C\nc1,001\nc2,002\nc3,01\n", []string{"1", "2"}, []int32{0, 1, 0}},
	{"ints around spaces, signs", "k,C\nc1, 2\nc2,+10 \nc3,-0\n", []string{"0", "2", "10"}, []int32{1, 2, 0}},
	{"mixed is text", "k,C\nc1,2\nc2,x\nc3,10\n", []string{"10", "2", "x"}, []int32{1, 2, 0}},
	{"float reprs", "k,C\nc1,1e20\nc2,0.00001\nc3,1e16\n", []string{"1e-05", "1e+16", "1e+20"}, []int32{2, 0, 1}},
	{"inf", "k,C\nc1,inf\nc2,-Infinity\nc3,1\n", []string{"-inf", "1.0", "inf"}, []int32{2, 0, 1}},
	{"extra rows give categories and types", "k,C\nc1,1\nc2,2\nc9,x\nc3,1\n", []string{"1", "2", "x"}, []int32{0, 1, 0}},
	{"an extra row's missing value makes floats", "k,C\nc1,1\nc2,2\nc9,\nc3,1\n", []string{"1.0", "2.0"}, []int32{0, 1, 0}},
	{"repeated extra rows are ignored", "k,C\nc1,T\nc9,B\nc9,B\nc2,B\nc3,x\n", []string{"B", "T", "x"}, []int32{1, 0, 2}},
	{"keys stripped", "k,C\n\" c1\",x\nc2 ,y\n\tc3,y\n", []string{"x", "y"}, []int32{0, 1, 1}},
	{"quoted fields", "k,C\nc1,\"a,b\"\nc2,\"he said \"\"hi\"\"\"\nc3,\"multi\nline\"\n", []string{"a,b", "he said \"hi\"", "multi\nline"}, []int32{0, 1, 2}},
	{"BOM and CRLF and blank lines", "\ufeffk,C\r\nc1,x\r\n\r\nc2,y\r\nc3,x\r\n", []string{"x", "y"}, []int32{0, 1, 0}},
	{"short rows are missing values", "k,C,D\nc1,x\nc2\nc3,y,1\n", []string{"x", "y"}, []int32{0, -1, 1}},
	{"a repeated column name: the first", "k,C,C\nc1,x,1\nc2,y,2\nc3,y,3\n", []string{"x", "y"}, []int32{0, 1, 1}},
}

func TestColumnMatchesThePythonTool(t *testing.T) {
	for _, tc := range columnCases {
		t.Run(tc.name, func(t *testing.T) {
			codes, cats, err := Column(writeCSV(t, tc.text), "", "C", cells)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", cats) != fmt.Sprintf("%q", tc.cats) || fmt.Sprint(codes) != fmt.Sprint(tc.codes) {
				t.Fatalf("got %q %v, want %q %v", cats, codes, tc.cats, tc.codes)
			}
		})
	}
}

func TestColumnJoinColumnAndRepeatedObsNames(t *testing.T) {
	p := writeCSV(t, "C,barcode,other\nx,c2,1\ny, c1,2\n")
	codes, cats, err := Column(p, "barcode", "C", []string{"c1 ", "c2", "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cats, codes) != "[x y] [1 0 1]" {
		t.Fatalf("got %q %v", cats, codes)
	}
}

func TestColumnNoCells(t *testing.T) {
	codes, cats, err := Column(writeCSV(t, "k,C\nc1,x\n"), "", "C", nil)
	if err != nil || len(codes) != 0 || fmt.Sprint(cats) != "[x]" {
		t.Fatalf("got %v %q %v", codes, cats, err)
	}
}

// Errors are one line naming the file and saying what to do.
func TestColumnErrors(t *testing.T) {
	many := "k,C\n"
	for i := 0; i < 3; i++ {
		many += fmt.Sprintf("c%d,x\n", i)
	}
	manyCells := make([]string, 10)
	for i := range manyCells {
		manyCells[i] = fmt.Sprintf("c%d", i)
	}
	for _, tc := range []struct {
		name, text, join string
		cells            []string
		want             []string
	}{
		{"empty", "", "", cells, []string{"empty"}},
		{"no such column", "k,D\nc1,x\n", "", cells, []string{`no column "C"`, `"k", "D"`}},
		{"no such join column", "k,C\nc1,x\n", "barcode", cells, []string{`no join column "barcode"`, `"k", "C"`}},
		{"the column is the join column", "C,k\nc1,x\n", "C", cells, []string{"is the join column"}},
		{"missing cells", "k,C\nc1,x\n", "", cells, []string{"2 of 3 cells have no row", `"c2", "c3"`}},
		{"missing cells listed first few", many, "", manyCells, []string{"7 of 10 cells have no row", `"c3", "c4", "c5", "c6", "c7", ...`}},
		{"header only", "k,C\n", "", cells, []string{"3 of 3 cells have no row"}},
		{"a cell twice", "k,C\nc1,x\nc2,x\nc1 ,x\nc3,x\n", "", cells, []string{`cell "c1" has two rows (lines 2 and 4`, "one row per cell"}},
		{"a long row", "k,C\nc1,x,1\nc2,y\nc3,y\n", "", cells, []string{"line 2 has 3 fields but the header has 2"}},
		{"a quote left open", "k,C\nc1,\"x\nc2,y\n", "", cells, []string{"line 2", "fix the CSV's quoting"}},
		{"a bare quote", "k,C\nc1,a\"b\nc2,y\n", "", cells, []string{"line 2", "bare", "fix the CSV's quoting"}},
		{"not UTF-8", "k,C\nc1,\xff\nc2,y\nc3,y\n", "", cells, []string{"line 2 is not valid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeCSV(t, tc.text)
			_, _, err := Column(p, tc.join, "C", tc.cells)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "CSV file "+p+": ") || strings.Contains(msg, "\n") {
				t.Errorf("not one line naming the file: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
		})
	}
	_, _, err := Column(filepath.Join(t.TempDir(), "absent.csv"), "", "C", cells)
	if err == nil || !strings.Contains(err.Error(), "absent.csv: no such file") {
		t.Errorf("a missing file: %v", err)
	}
}
