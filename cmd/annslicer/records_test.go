package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Record arrays (numpy structured arrays in uns: rank_genes_groups,
// rec-array) of every field kind, sliced between h5ad, zarr v2 and zarr v3:
// current anndata reads the same values from every shard (and anndata 0.8
// the same record arrays, from what it can read), and each shard
// stores them exactly as anndata itself writes them after reading the
// source (HDF5 member layout, string kinds, byte orders; zarr dtype).

var (
	recordsOnce sync.Once
	recordsDir  string
	recordsFail error
)

func recordsTool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(currentPython, append([]string{filepath.Join(repoRoot, "testdata", "records_tool.py")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("records_tool.py %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func recordsFixture(t *testing.T, name string) string {
	t.Helper()
	needCurrent(t)
	recordsOnce.Do(func() {
		recordsDir = filepath.Join(filepath.Dir(fixtures), "records")
		out, err := exec.Command(currentPython, filepath.Join(repoRoot, "testdata", "records_tool.py"), "make", recordsDir).CombinedOutput()
		if err != nil {
			recordsFail = fmt.Errorf("records_tool.py make: %v\n%s", err, out)
		}
	})
	if recordsFail != nil {
		t.Fatal(recordsFail)
	}
	return filepath.Join(recordsDir, name)
}

func TestRecordArraysConvertAsAnnDataWritesThem(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"rec.h5ad", "rec_v2.zarr", "rec_v3.zarr"} {
		for _, format := range []string{"h5ad", "zarr"} {
			t.Run(src+"_to_"+format, func(t *testing.T) {
				path := recordsFixture(t, src)
				dir := t.TempDir()
				prefix := filepath.Join(dir, "s")
				if ok, msg := annslicerText(t, "slice", path, prefix, "--size", "15", "--format", format, "--shuffle", "--seed", "2"); !ok {
					t.Fatal(msg)
				}
				shards := shardPaths(t, prefix, "."+format)
				if ok, text := checkCurrent(path, shards, "--size", "15"); !ok {
					t.Fatalf("current anndata reads other values:\n%s", text)
				}
				recordsLikeAnnData(t, path, shards, format, !strings.HasSuffix(src, "_v3.zarr"), `"rank_genes_groups/names"`, `"kinds"`)
			})
		}
	}
}

// Sub-array fields (numpy's ("X_pca", "<f4", (5,)), HDF5 array members):
// obsm as anndata < 0.7 wrote it, one record array a row per cell, is taken
// by rows to h5ad (the record kept, as the source holds it) and to zarr v2,
// v3 and sharded v3 (a dict of one array per field, as anndata writes what
// it reads: zarr-python 3 has no form for sub-array fields); a rec-array
// in uns with sub-array fields is kept in h5ad as anndata writes it.
func TestRecordSubArrayFields(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src, format string
		flags       []string
	}{
		{"legacy_obsm.h5ad", "h5ad", nil},
		{"subarr.h5ad", "h5ad", nil},
		{"legacy_obsm.h5ad", "zarr", nil},
		{"legacy_obsm.h5ad", "zarr", []string{"--zarr-version", "3"}},
		{"legacy_obsm.h5ad", "zarr", []string{"--zarr-version", "3", "--zarr-shard-size", "10"}},
	} {
		t.Run(tt.src+"_to_"+tt.format+strings.Join(tt.flags, ""), func(t *testing.T) {
			path := recordsFixture(t, tt.src)
			dir := t.TempDir()
			prefix := filepath.Join(dir, "s")
			args := append([]string{"slice", path, prefix, "--size", "15", "--format", tt.format, "--shuffle", "--seed", "2"}, tt.flags...)
			if ok, msg := annslicerText(t, args...); !ok {
				t.Fatal(msg)
			}
			shards := shardPaths(t, prefix, "."+tt.format)
			if ok, text := checkCurrent(path, shards, "--size", "15"); !ok {
				t.Fatalf("current anndata reads other values:\n%s", text)
			}
			if tt.src != "subarr.h5ad" {
				return
			}
			recordsLikeAnnData(t, path, shards, "h5ad", true, `"dims"`)
		})
	}
}

// A zarr v2 source whose obsm is a record array of sub-array fields, as
// zarr-python 2 (anndata < 0.7) wrote it, is read through the v2 form
// [name, typestr, shape] (zarr-python 3 cannot read it at all) and sliced
// to h5ad and zarr: current anndata reads from the shards what it reads
// from the h5ad the store was made from.
func TestRecordSubArrayFieldsFromZarrV2(t *testing.T) {
	t.Parallel()
	h5 := recordsFixture(t, "legacy_obsm.h5ad")
	dir := t.TempDir()
	if ok, msg := annslicerText(t, "slice", h5, filepath.Join(dir, "src"), "--size", "40", "--format", "zarr"); !ok {
		t.Fatal(msg)
	}
	store := filepath.Join(dir, "src_shard_0.zarr")
	if out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "records_tool.py"), "legacy-zarr", store, h5).CombinedOutput(); err != nil {
		t.Fatalf("records_tool.py legacy-zarr: %v\n%s", err, out)
	}
	for _, format := range []string{"h5ad", "zarr"} {
		prefix := filepath.Join(dir, format)
		if ok, msg := annslicerText(t, "slice", store, prefix, "--size", "15", "--format", format, "--shuffle", "--seed", "4"); !ok {
			t.Fatalf("--format %s: %s", format, msg)
		}
		if ok, text := checkCurrent(h5, shardPaths(t, prefix, "."+format), "--size", "15"); !ok {
			t.Errorf("--format %s: current anndata reads other values:\n%s", format, text)
		}
	}
}

// What annslicer cannot represent is refused in one line naming the
// source, the element and the field.
func TestRecordArraysItCannotConvertAreRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ src, format, msg string }{
		{"cplx_v2.zarr", "h5ad", `cplx_v2.zarr: /uns/cplx: record field "c" of dtype <c8 has no h5ad form in annslicer (it writes numbers, bools and strings); write zarr shards, or convert the field with anndata first`},
		{"nested.h5ad", "zarr", `nested.h5ad: /uns/nested: record field "inner" is itself a record (nested compound), which annslicer cannot convert to zarr; write h5ad shards, or flatten it with anndata first`},
		{"subarr.h5ad", "zarr", `/uns/sub: record field "v" is a sub-array (<f4, shape [3]), which zarr-python 3 cannot read (it has no data type for it); write h5ad shards, or convert the field with anndata first`},
	} {
		t.Run(tt.src, func(t *testing.T) {
			path := recordsFixture(t, tt.src)
			ok, msg := annslicerText(t, "slice", path, filepath.Join(t.TempDir(), "s"), "--size", "20", "--format", tt.format)
			if ok || !strings.Contains(msg, tt.msg) || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
				t.Errorf("slice --format %s: ok=%v, stderr:\n%s\nwant one line with %q", tt.format, ok, msg, tt.msg)
			}
			// the other format keeps the record as it is
			other := map[string]string{"h5ad": "zarr", "zarr": "h5ad"}[tt.format]
			prefix := filepath.Join(t.TempDir(), "s")
			if ok, msg := annslicerText(t, "slice", path, prefix, "--size", "20", "--format", other); !ok {
				t.Fatalf("slice --format %s: %s", other, msg)
			}
			if ok, text := checkCurrent(path, shardPaths(t, prefix, "."+other), "--size", "20", "--order", "contiguous"); !ok {
				t.Errorf("slice --format %s:\n%s", other, text)
			}
		})
	}
}

// recordsLikeAnnData checks shards of the record-array fixture at path:
// both oracles (Debian's zarr 2 only when old can read the source) read
// the same record arrays from them as from path, and each stores its
// record arrays as anndata itself writes path's to format (the listing
// holding every marker, so that it is known to list records at all).
func recordsLikeAnnData(t *testing.T, path string, shards []string, format string, old bool, markers ...string) {
	t.Helper()
	for _, py := range oracles(t) {
		if py == python && !old {
			continue // zarr-python 2 cannot read the v3 source
		}
		out, err := exec.Command(py, append([]string{filepath.Join(repoRoot, "testdata", "records_tool.py"), "compare", path}, shards...)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s reads other record arrays: %v\n%s", py, err, out)
		}
	}
	oracle := filepath.Join(t.TempDir(), "anndata."+format)
	recordsTool(t, "anndata", path, oracle)
	want := recordsTool(t, "stored", oracle)
	for _, m := range markers {
		if !strings.Contains(want, m) {
			t.Fatalf("the oracle's listing lacks %s:\n%s", m, want)
		}
	}
	for _, s := range shards {
		if got := recordsTool(t, "stored", s); got != want {
			t.Errorf("%s stores its record arrays as\n%s\nanndata stores them as\n%s", filepath.Base(s), got, want)
		}
	}
}
