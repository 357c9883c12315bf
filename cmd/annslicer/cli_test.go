package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a new user meets first: --version, flag errors in plain words,
// outputs into directories that do not exist yet, completion of values.

func TestVersionFlag(t *testing.T) {
	r := annslicer(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "annslicer version ") {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestBadFlagValuesAreSaidPlainly(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"slice", "in.h5ad", "out", "--size", "abc"}, `annslicer: --size: "abc" is not a whole number`},
		{[]string{"slice", "in.h5ad", "out", "--shuffle", "--seed", "-3"}, `annslicer: --seed: "-3" is not a whole number, 0 or more`},
		{[]string{"unmount"}, "annslicer: unmount takes 1 argument (MOUNTPOINT), got 0"},
		{[]string{"slice", "in.h5ad"}, "annslicer: slice takes 2 arguments (INPUT OUT_PREFIX), got 1"},
	} {
		r := annslicer(t, c.args...)
		if msg := strings.TrimSpace(r.stderr); r.code != 2 || msg != c.want {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, r.code, msg, c.want)
		}
	}
}

// slice and materialize make the directories their outputs go to (as
// `mkdir -p`), and remove them again when the run writes nothing.
func TestOutputDirectoriesAreMade(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	if r := annslicer(t, "slice", fixture("full.h5ad"), filepath.Join(dir, "a", "b", "p"), "--size", "200"); r.code != 0 {
		t.Fatalf("slice into a new directory: exit %d: %s", r.code, r.stderr)
	}
	if got := shardFiles(t, filepath.Join(dir, "a", "b", "p")); len(got) == 0 {
		t.Fatal("no shards in the new directory")
	}
	if r := annslicer(t, "materialize", fixture("full.h5ad"), filepath.Join(dir, "m", "n"), "--size", "200"); r.code != 0 {
		t.Fatalf("materialize into a new directory: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m", "n", "shard_0.h5ad")); err != nil {
		t.Fatal(err)
	}
	// A source refused while its shard is built (after the outputs were
	// set up): the directories made for it are gone again.
	bad := filepath.Join(corruptFixtures(t), "X_ptr_past_contig.h5ad")
	for _, cmd := range []string{"slice", "materialize"} {
		target := filepath.Join(dir, "x-"+cmd, "y", "p")
		if r := annslicer(t, cmd, bad, target, "--size", "64"); r.code != 1 {
			t.Fatalf("%s of a corrupt source: exit %d, want 1: %s", cmd, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "x-"+cmd)); !os.IsNotExist(err) {
			t.Errorf("%s: a failed run left the directories it made: %v", cmd, err)
		}
	}
}

func TestCompletionOffersFlagValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "slice", "in.h5ad", "out", "--format", ""}, []string{"h5ad", "zarr"}},
		{[]string{"__complete", "merge", "o.h5ad", "a.h5ad", "--join", ""}, []string{"outer", "inner"}},
		{[]string{"__complete", "slice", "in.h5ad", "out", "--compression", ""}, []string{"gzip", "lzf", "blosc", "zstd", "zlib", "none"}},
		{[]string{"__complete", "merge", "o.zarr", "a.h5ad", "--zarr-version", ""}, []string{"2", "3"}},
		{[]string{"__complete", "mount", "in.h5ad", "mnt", "--zarr-version", ""}, []string{"2", "3"}},
	} {
		r := annslicer(t, c.args...)
		for _, w := range c.want {
			if !strings.Contains("\n"+r.stdout, "\n"+w+"\n") {
				t.Errorf("%v: %q not offered in %q", c.args[1:], w, r.stdout)
			}
		}
	}
}
