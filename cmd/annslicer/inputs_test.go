package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// merge --inputs-from FILE takes its inputs (after any INPUT arguments)
// from a file, one path per line: the same output as listing them.
func TestMergeTakesInputsFromAFile(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	mustSlice(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "s"), "--size", "100")
	shards := shardFiles(t, filepath.Join(dir, "s"))
	if len(shards) != 6 {
		t.Fatalf("%d shards", len(shards))
	}
	listed := filepath.Join(dir, "list.txt")
	os.WriteFile(listed, []byte("\n"+strings.Join(shards[2:], "\n")+"\n\n"), 0o644)
	byArgs, byFile := filepath.Join(dir, "a.h5ad"), filepath.Join(dir, "b.h5ad")
	mustMerge(t, append([]string{byArgs}, shards...)...)
	mustMerge(t, byFile, shards[0], shards[1], "--inputs-from", listed)
	if !sameBytes(readAll(t, []string{byArgs}), readAll(t, []string{byFile})) {
		t.Errorf("merge with --inputs-from differs from the same inputs as arguments")
	}
	only := filepath.Join(dir, "c.h5ad")
	os.WriteFile(listed, []byte(strings.Join(shards, "\n")), 0o644)
	mustMerge(t, only, "--inputs-from", listed)
	if !sameBytes(readAll(t, []string{byArgs}), readAll(t, []string{only})) {
		t.Errorf("merge OUTPUT --inputs-from differs from the same inputs as arguments")
	}

	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("\n \n"), 0o644)
	out := t.TempDir()
	r := annslicer(t, "merge", filepath.Join(out, "x.h5ad"), "--inputs-from", empty)
	wantCleanFailure(t, r, 2, []string{empty + ": the inputs file lists no path"}, out)
	r = annslicer(t, "merge", filepath.Join(out, "x.h5ad"), "--inputs-from", filepath.Join(dir, "none.txt"))
	wantCleanFailure(t, r, 1, []string{"none.txt: cannot read the inputs file"}, out)
	r = annslicer(t, "merge", filepath.Join(out, "x.h5ad"))
	wantCleanFailure(t, r, 2, []string{"at least one INPUT (or --inputs-from FILE)"}, out)
}
