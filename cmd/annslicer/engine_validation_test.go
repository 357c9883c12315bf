package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Corrupt sources (testdata/make_corrupt_csr.py): sparse matrices whose
// indptr leaves data, data shorter than indices, shapes that disagree with
// var, declared sizes of 2^40. Each must be refused by every output mode
// with one line naming the file, the element and the numbers, a non-zero
// exit and nothing left behind; the same files before corruption must
// still slice exactly.

var corrupt struct {
	once sync.Once
	dir  string
	err  error
}

func corruptFixtures(t *testing.T) string {
	t.Helper()
	needPython(t)
	corrupt.once.Do(func() {
		corrupt.dir = filepath.Join(filepath.Dir(fixtures), "corrupt")
		out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "make_corrupt_csr.py"), corrupt.dir).CombinedOutput()
		if err != nil {
			corrupt.err = fmt.Errorf("make_corrupt_csr.py: %v\n%s", err, out)
		}
	})
	if corrupt.err != nil {
		t.Fatal(corrupt.err)
	}
	return corrupt.dir
}

// Every case exists as <name>_{contig,chunked,gzip}.h5ad and <name>.zarr;
// want is matched against the error line. Where the source layer refuses
// a damaged shape at open (layout/h5ad, layout/zarrad) before the shard
// rules see it (engine), either wording is accepted: both name the
// element and the numbers.
var corruptCases = []struct{ name, want string }{
	{"X_ptr_past", `/X: indptr runs from 0 to \d+ but data holds \d+ entries; the sparse matrix is corrupt`},
	{"layers_counts_ptr_past", `/layers/counts: indptr runs from 0 to \d+ but data holds \d+ entries`},
	{"obsm_sparse_ptr_past", `/obsm/sparse: indptr runs from 0 to \d+ but data holds \d+ entries`},
	{"obsp_conn_ptr_past", `/obsp/conn: indptr runs from 0 to \d+ but data holds \d+ entries`},
	{"raw_X_ptr_past", `/raw/X: indptr runs from 0 to \d+ but data holds \d+ entries`},
	{"X_ptr_neg0", `/X: indptr runs from -1000 to \d+ but data holds \d+ entries`},
	{"X_ptr_mid", `/X: indptr gives row 99 the entries \[\d+, \d+\) but data holds \d+ entries`},
	{"X_ptr_dip", `/X: indptr decreases at row 99 \(from \d+ to -7\)`},
	{"X_data_short", `/X: data holds \d+ entries but indices holds \d+`},
	{"X_indices_short", `/X: data holds \d+ entries but indices holds \d+`},
	{"obsp_conn_data_short", `/obsp/conn: data holds \d+ entries but indices holds \d+`},
	{"X_shape_cols", `/X has shape \[200 31\] but var holds 30 genes|X has 31 columns but 30 are expected|/X has shape attribute \[200.?31\] but the store has 200 x 30`},
	{"X_shape_neg", `/X has shape \[200 -5\], with a negative column count|/X: sparse matrix with shape attribute \[200 -5\]; expected two non-negative sizes|/X has shape attribute \[200,-5\]; a sparse matrix's shape is two non-negative integers`},
	{"X_shape_huge", `/X has shape \[200 1099511627776\] but var holds 30 genes|X has 1099511627776 columns but 30 are expected|/X has shape attribute \[200.?1099511627776\] but the store has 200 x 30`},
	{"X_shape_rows", `/X: sparse matrix of shape \[201 30\] with indptr of (length|shape) \[201\], but the (file|source) has 200 cells|/X: indptr has 201 entries but the shape attribute \[201 30\] needs 202|/X has shape attribute \[201.?30\] but the store has 200 x 30`},
	{"layers_counts_shape_cols", `/layers/counts has shape \[200 29\] but var holds 30 genes|layers/counts has 29 columns but 30 are expected|/layers/counts has shape attribute \[200.?29\] but the store has 200 x 30`},
	{"raw_X_shape_cols", `/raw/X has shape \[200 30\] but raw/var holds 40 genes|raw/X has 30 columns but 40 are expected|/raw/X has shape attribute \[200.?30\] but the store has 200 x 40`},
	{"obsm_sparse_shape_neg", `/obsm/sparse has shape \[200 -1\], with a negative column count|/obsm/sparse: sparse matrix with shape attribute \[200 -1\]; expected two non-negative sizes|/obsm/sparse has shape attribute \[200,-1\]; a sparse matrix's shape is two non-negative integers`},
	{"obsm_sparse_shape_huge", `/obsm/sparse has shape \[200 1099511627776\] but its indices are 32-bit integers`},
	{"X_string_data", `/X/data holds strings; a sparse matrix must be numeric`},
	{"layers_dense_cols", `/layers/dense has shape \[200 31\] but var holds 30 genes|layers/dense has 31 columns but 30 are expected|/layers/dense has shape \[200 31\] but the store is 200 cells x 30 genes`},
	{"X_dense_strings", `/X holds strings; a matrix \(X, a layer, raw/X\) must be numeric`},
	// data declared 2^30 long (never-written HDF5 chunks; a .zarray edit)
	// and indptr's last row spanning it: a 4 GiB row of X, in memory for
	// obsp. The source layers refuse the declared size first (data or
	// indices, whichever they meet first: elements are visited in map
	// order).
	{"X_data_huge", `/X: indptr gives row 199 \d+ entries but the matrix has 30 columns|/X/(data|indices) declares shape \[1073741824\] \(262144 chunks\) but the file stores 1 chunks of it|X/(data|indices)/.zarray: chunk shape \[1073741824\] of <[fi]4 declares more than 2147483648 bytes per chunk`},
	{"obsp_conn_data_huge", `/obsp/conn: indptr gives row 199 \d+ entries but the matrix has 200 columns|/obsp/conn/(data|indices) declares shape \[1073741824\] \(262144 chunks\) but the file stores 1 chunks of it|obsp/conn/(data|indices)/.zarray: chunk shape \[1073741824\] of <[fi]4 declares more than 2147483648 bytes per chunk`},
}

var outputModes = []struct {
	name string
	args []string
}{{"h5ad", nil}, {"gzip", []string{"--compression", "gzip"}}, {"zarr", []string{"--format", "zarr"}}}

// refuses slices source in every output mode and requires a clean refusal.
func refuses(t *testing.T, source string, want *regexp.Regexp) {
	t.Helper()
	for _, mode := range outputModes {
		out := filepath.Join(t.TempDir(), "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		r := annslicer(t, append([]string{"slice", source, filepath.Join(out, "p"), "--size", "64"}, mode.args...)...)
		msg := strings.TrimSpace(r.stderr)
		switch {
		case r.code != 1:
			t.Errorf("%s, %s output: exit %d, want 1; stderr:\n%s", filepath.Base(source), mode.name, r.code, r.stderr)
		case strings.Contains(msg, "\n"):
			t.Errorf("%s, %s output: error is not one line:\n%s", filepath.Base(source), mode.name, msg)
		case !want.MatchString(msg) || !strings.Contains(msg, filepath.Base(source)):
			t.Errorf("%s, %s output: error %q does not name the file and match %q", filepath.Base(source), mode.name, msg, want)
		}
		if left, _ := os.ReadDir(out); len(left) != 0 {
			t.Errorf("%s, %s output: left behind %v", filepath.Base(source), mode.name, left)
		}
	}
}

func TestSliceRefusesCorruptSparseMatrices(t *testing.T) {
	dir := corruptFixtures(t)
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := regexp.MustCompile(c.want)
			for _, layout := range []string{"_contig.h5ad", "_chunked.h5ad", "_gzip.h5ad", ".zarr"} {
				refuses(t, filepath.Join(dir, c.name+layout), want)
			}
		})
	}
}

// A dense obsm declared [200, 2^40] (an unallocated chunked dataset in a
// small h5ad, a .zarray edit) must be refused before any buffer is sized
// by its row of 2^43 bytes.
func TestSliceRefusesHugeDeclaredRows(t *testing.T) {
	dir := corruptFixtures(t)
	want := regexp.MustCompile(`/obsm/pca declares shape \[200 1099511627776\]: 8796093022208 bytes per cell, more than annslicer's limit of 64 MiB per cell|/obsm/pca declares shape \[200 1099511627776\] \(\d+ chunks\) but the file stores 0 chunks of it|obsm/pca/.zarray: chunk shape \[200 1099511627776\] of <f8 declares more than 2147483648 bytes per chunk`)
	for _, name := range []string{"obsm_huge_contig.h5ad", "obsm_huge.zarr"} {
		refuses(t, filepath.Join(dir, name), want)
	}
	// var's index declared 2^40 long, held whole in memory by the element
	// tree (zarr sources; every zarr output)
	refuses(t, filepath.Join(dir, "var_huge.zarr"), regexp.MustCompile(`/var/_index declares shape \[1099511627776\]: more strings than annslicer's limit of 16777216|var/_index/.zarray: chunk shape \[1099511627776\] of \|O declares more than 2147483648 bytes per chunk`))
}

// The uncorrupted bases, in every storage layout, still slice to exactly
// source[rows] through the checks.
func TestSliceCheckedSourcesStayExact(t *testing.T) {
	dir := corruptFixtures(t)
	// contiguous shards read indptr as one run, shuffled ones by pairs;
	// one oracle run per case (each costs a Python start)
	for _, c := range []struct {
		layout string
		args   []string
	}{
		{"contig", []string{"--size", "64"}},
		{"contig", []string{"--size", "64", "--shuffle", "--seed", "3"}},
		{"chunked", []string{"--size", "64"}},
		{"chunked", []string{"--size", "64", "--shuffle", "--seed", "3", "--compression", "gzip"}},
		{"gzip", []string{"--size", "64", "--shuffle", "--seed", "3"}},
	} {
		src := filepath.Join(dir, "base_"+c.layout+".h5ad")
		t.Run(c.layout+strings.Join(c.args, ""), func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "p")
			mustSlice(t, append([]string{"slice", src, prefix}, c.args...)...)
			files := shardFiles(t, prefix)
			if len(files) != 4 {
				t.Fatalf("%d shards, want 4", len(files))
			}
			checkShards(t, src, files)
		})
	}
	for _, src := range []string{filepath.Join(dir, "base_chunked.h5ad"), filepath.Join(dir, "base.zarr")} {
		t.Run(filepath.Base(src)+"_to_zarr", func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "p")
			mustSlice(t, "slice", src, prefix, "--size", "64", "--shuffle", "--seed", "5", "--format", "zarr")
			checkZarrShards(t, src, zarrShardDirs(t, prefix))
		})
	}
}

// --size 2^63-1 used to overflow the shard count to 0: no shard, exit 0.
func TestSliceHugeSizeIsOneShard(t *testing.T) {
	src := filepath.Join(corruptFixtures(t), "base_contig.h5ad")
	prefix := filepath.Join(t.TempDir(), "p")
	mustSlice(t, "slice", src, prefix, "--size", "9223372036854775807")
	files := shardFiles(t, prefix)
	if len(files) != 1 {
		t.Fatalf("%d shards, want 1", len(files))
	}
	checkShards(t, src, files, "--order", "contiguous")
}

// A mount of a corrupt source never serves bytes from beside the arrays:
// every shard read fails (EIO), and the server stays up and unmounts.
func TestMountRefusesCorruptSparseMatrices(t *testing.T) {
	needFUSE(t)
	dir := corruptFixtures(t)
	for _, name := range []string{"X_ptr_past_contig.h5ad", "X_ptr_past_chunked.h5ad", "X_ptr_past.zarr"} {
		t.Run(name, func(t *testing.T) {
			m := mount(t, filepath.Join(dir, name), "--size", "64")
			var manifest struct {
				Shards []struct{ Name string } `json:"shards"`
			}
			raw, err := os.ReadFile(filepath.Join(m.dir, "shards.json"))
			if err != nil || json.Unmarshal(raw, &manifest) != nil || len(manifest.Shards) != 4 {
				t.Fatalf("shards.json: %v %s", err, raw)
			}
			for _, s := range manifest.Shards {
				if b, err := os.ReadFile(filepath.Join(m.dir, s.Name)); err == nil {
					t.Errorf("%s: read %d bytes of a shard of a corrupt source", s.Name, len(b))
				}
			}
			m.stop(t)
		})
	}
}

// A mount with --size 2^63-1 serves one shard of every cell (it said "0
// shards", with "shards": null, when the count overflowed).
func TestMountHugeSizeIsOneShard(t *testing.T) {
	needFUSE(t)
	m := mount(t, filepath.Join(corruptFixtures(t), "base_contig.h5ad"), "--size", "9223372036854775807")
	var manifest struct {
		Shards []struct {
			Name  string
			Cells int64
		} `json:"shards"`
	}
	raw, err := os.ReadFile(filepath.Join(m.dir, "shards.json"))
	if err != nil || json.Unmarshal(raw, &manifest) != nil {
		t.Fatalf("shards.json: %v %s", err, raw)
	}
	if len(manifest.Shards) != 1 || manifest.Shards[0].Cells != 200 {
		t.Fatalf("shards %+v, want one of 200 cells", manifest.Shards)
	}
	checkShards(t, filepath.Join(corruptFixtures(t), "base_contig.h5ad"), m.shards(1), "--order", "contiguous")
}
