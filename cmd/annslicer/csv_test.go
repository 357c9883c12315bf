package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// metaCSV writes a CSV for the 503 cells of full.h5ad (obs names
// cell_0...): barcode (padded with spaces: keys are compared stripped),
// guide (g1, g2 or NTC), keep (true/false), plus rows for cells it does
// not have. It returns the path and, per cell, its guide and keep.
func metaCSV(t *testing.T, dir string) (string, []string, []bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("barcode,guide,keep\n")
	guides, keeps := make([]string, 503), make([]bool, 503)
	for i := 502; i >= 0; i-- { // not in obs order: the join is by name
		guides[i] = []string{"g1", "g2", "NTC", "g1", "g2"}[(i*7)%5]
		keeps[i] = (i*13)%3 != 0
		fmt.Fprintf(&b, " cell_%d ,%s,%v\n", i, guides[i], keeps[i])
	}
	b.WriteString("not_a_cell,g3,true\n")
	p := filepath.Join(dir, "meta.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, guides, keeps
}

// checkOverlay runs obscsv's oracle: shard is source[rows] with obs
// column `column` from the CSV (current anndata, every element).
func checkOverlay(t *testing.T, shard string, rows []int, csv, column string) {
	t.Helper()
	checkOverlayOf(t, fixture("full.h5ad"), shard, rows, csv, column)
}

func checkOverlayOf(t *testing.T, source, shard string, rows []int, csv, column string) {
	t.Helper()
	b, _ := json.Marshal(rows)
	rowsFile := filepath.Join(t.TempDir(), "rows.json")
	os.WriteFile(rowsFile, b, 0o644)
	out, err := exec.Command(currentPython, filepath.Join(repoRoot, "obscsv", "testdata", "check_overlay.py"),
		source, shard, rowsFile, csv, "barcode", column).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shard, err, out)
	}
}

// --csv-file: outputs by a CSV's column (slice, filter, mount), as
// current anndata reads them against source[rows] with the column set
// from the CSV; and filter then slice with the same CSV gives the cells
// slicing the filtered cells gives.
func TestOutputsByACSVColumn(t *testing.T) {
	needPython(t)
	needCurrent(t)
	dir := t.TempDir()
	csv, guides, keeps := metaCSV(t, dir)
	rowsOf := func(pick func(i int) bool) []int {
		var rows []int
		for i := range guides {
			if pick(i) {
				rows = append(rows, i)
			}
		}
		return rows
	}

	for _, format := range []string{"h5ad", "zarr"} {
		prefix := filepath.Join(dir, format, "by")
		mustSlice(t, "slice", fixture("full.h5ad"), prefix, "--obs-column", "guide", "--csv-file", csv,
			"--join-column", "barcode", "--always-include", "NTC", "--format", format)
		for _, g := range []string{"g1", "g2"} {
			checkOverlay(t, prefix+"_"+g+"."+format, rowsOf(func(i int) bool { return guides[i] == g || guides[i] == "NTC" }), csv, "guide")
		}
		if _, err := os.Stat(prefix + "_NTC." + format); err == nil {
			t.Errorf("%s: an always-included category got an output of its own", format)
		}
		// the CSV's keep column, read as text: true/false
		kept := filepath.Join(dir, format, "kept."+format)
		mustSlice(t, "filter", fixture("full.h5ad"), kept, "--obs-column", "keep", "--csv-file", csv, "--zarr-version", "2")
		checkOverlay(t, kept, rowsOf(func(i int) bool { return keeps[i] }), csv, "keep")
		// filter, then slice the filtered file by the same CSV: its rows
		// for g are the kept cells of guide g (positions in the filtered
		// file), the filter's output being source[kept] itself
		then := filepath.Join(dir, format, "then")
		mustSlice(t, "slice", kept, then, "--obs-column", "guide", "--csv-file", csv, "--format", format)
		for _, g := range []string{"g1", "g2", "NTC"} {
			var at []int
			for j, i := range rowsOf(func(i int) bool { return keeps[i] }) {
				if guides[i] == g {
					at = append(at, j)
				}
			}
			checkOverlayOf(t, kept, then+"_"+g+"."+format, at, csv, "guide")
		}
	}

	// the mount shows what materialize writes with the same flags
	mat := filepath.Join(dir, "mat")
	mustSlice(t, "materialize", fixture("full.h5ad"), mat, "--obs-column", "guide", "--csv-file", csv, "--always-include", "NTC")
	needFUSE(t)
	m := mount(t, fixture("full.h5ad"), "--obs-column", "guide", "--csv-file", csv, "--always-include", "NTC")
	for _, g := range []string{"g1", "g2"} {
		a := readAll(t, []string{filepath.Join(mat, g+".h5ad")})
		b := readAll(t, []string{filepath.Join(m.dir, g+".h5ad")})
		if !sameBytes(a, b) {
			t.Errorf("mount --csv-file: %s.h5ad differs from materialize's", g)
		}
	}
	m.stop(t)
}

func TestCSVFlagErrors(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	csv, _, _ := metaCSV(t, dir)
	short := filepath.Join(dir, "short.csv")
	b, _ := os.ReadFile(csv)
	lines := strings.Split(string(b), "\n")
	os.WriteFile(short, []byte(strings.Join(append(lines[:1], lines[3:]...), "\n")), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--obs-column", "guide", "--join-column", "barcode"}, 2, "--join-column needs --csv-file"},
		{[]string{"--csv-file", csv}, 2, "--csv-file needs --obs-column"},
		{[]string{"--obs-column", "guide", "--csv-file", filepath.Join(dir, "none.csv")}, 1, "none.csv"},
		{[]string{"--obs-column", "nope", "--csv-file", csv}, 1, `"nope"`},
		{[]string{"--obs-column", "guide", "--csv-file", csv, "--join-column", "nope"}, 1, `"nope"`},
		{[]string{"--obs-column", "guide", "--csv-file", short}, 1, "2 of 503 cells have no row"},
	} {
		out := t.TempDir()
		r := annslicer(t, append([]string{"materialize", fixture("full.h5ad"), out}, c.args...)...)
		wantCleanFailure(t, r, c.code, []string{c.want}, out)
	}
}
