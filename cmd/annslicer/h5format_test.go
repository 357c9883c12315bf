package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/annslicer/annslicer/internal/nodetest"
)

// HDF5 as written by others and by annslicer. h5ad outputs are laid out by annslicer's own HDF5 writer (layout/h5w):
// besides h5py and anndata (every other test), a reader written without
// libhdf5 — jsfive, JavaScript — must read them as h5py does.

// needJsfive finds node and jsfive (layout/h5w/testdata/node).
func needJsfive(t *testing.T) string {
	return nodetest.Require(t, filepath.Join(repoRoot, "layout", "h5w", "testdata", "node"), "jsfive")
}

func TestJsfiveReadsOutputsAsH5pyDoes(t *testing.T) {
	needPython(t)
	needCurrent(t)
	dir := needJsfive(t)
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, py := range []string{python, currentPython} {
			out, err := exec.Command(py, filepath.Join(repoRoot, "layout", "h5w", "testdata", "jsfive_check.py"), path, dir).CombinedOutput()
			if err != nil {
				t.Errorf("%s (%s): %v\n%s", filepath.Base(path), py, err, out)
			}
		}
	}
	pbmc := filepath.Join(repoRoot, "testdata", "cache", "datasets", "scanpy-1.11.5", "scanpy", "datasets", "10x_pbmc68k_reduced.h5ad")
	for _, c := range []struct{ name, src string }{
		{"full", fixture("full.h5ad")}, // every element kind, a template of var/uns
		{"v07", fixture("v07.h5ad")},   // anndata 0.7: references into the template
		{"nullable", fixture("nullable_string.h5ad")},
		{"pbmc68k", pbmc}, // pre-0.7 records, sub-array fields
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(c.src); err != nil {
				t.Fatalf("%v (make setup fetches it)", err)
			}
			d := t.TempDir()
			mustSlice(t, "slice", c.src, filepath.Join(d, "s"), "--size", "150", "--shuffle", "--seed", "1")
			check(t, filepath.Join(d, "s_shard_0.h5ad"))
			if c.name == "pbmc68k" {
				return // merge of pre-0.7 files: see realdata_test.go
			}
			// a zarr source: no template, every element written by h5w
			mustSlice(t, "slice", c.src, filepath.Join(d, "z"), "--size", "100000", "--format", "zarr")
			mustSlice(t, "slice", filepath.Join(d, "z_shard_0.zarr"), filepath.Join(d, "fromzarr"), "--size", "120")
			check(t, filepath.Join(d, "fromzarr_shard_0.h5ad"))
			// a merge
			if r := annslicer(t, "merge", filepath.Join(d, "merged.h5ad"), filepath.Join(d, "s_shard_*.h5ad")); r.code != 0 {
				t.Fatalf("merge: %s", r.stderr)
			}
			check(t, filepath.Join(d, "merged.h5ad"))
		})
	}
}

// TestSourcesInTheLatestHDF5Format: h5py writes object headers of version 2
// with libver="latest" (and annslicer's own outputs are such files): the
// source checks parse them too. They were refused as corrupt before.
func TestSourcesInTheLatestHDF5Format(t *testing.T) {
	needPython(t)
	needCurrent(t)
	src := filepath.Join(t.TempDir(), "latest.h5ad")
	rewriteH5(t, fixture("full.h5ad"), src, `libver="latest", track_order=True`, "")
	prefix := filepath.Join(t.TempDir(), "out")
	mustSlice(t, "slice", src, prefix, "--size", "200", "--shuffle", "--seed", "3")
	checkShards(t, src, shardFiles(t, prefix), "--size", "200")
}

// TestCopiedElementsKeepTheSourcesTimes: objects of files written with
// track_times (as h5py 2 did: anndata 0.6 files) record times in their
// headers, and libhdf5 stamps the time of day into a copied one when its
// references are re-pointed; two runs a second apart then gave shards
// differing in four bytes. Now every copied object carries the source's
// times, in both header versions, for plain and compressed outputs.
func TestCopiedElementsKeepTheSourcesTimes(t *testing.T) {
	needPython(t)
	needCurrent(t)
	// v07.h5ad again, every object recording times: var's categorical
	// refers to its categories, a reference annslicer re-points.
	remake := `
import sys, h5py
s = h5py.File(sys.argv[1], "r")
d = h5py.File(sys.argv[2], "w", libver=sys.argv[3])
refs = []
def copy(src, dst):
    for k, v in src.attrs.items():
        if isinstance(v, h5py.Reference):
            refs.append((dst.name, k, s[v].name))
        else:
            dst.attrs[k] = v
    if isinstance(src, h5py.Dataset):
        return
    for k, v in src.items():
        if isinstance(v, h5py.Group):
            copy(v, dst.create_group(k))
        else:
            copy(v, dst.create_dataset(k, data=v[()], dtype=v.dtype, track_times=True))
copy(s, d)
for obj, k, target in refs:
    d[obj].attrs[k] = d[target].ref
d.close()
`
	times := `
import sys, h5py
s = h5py.File(sys.argv[1], "r")
def when(o):
    i = h5py.h5o.get_info(o.id)
    return (i.atime, i.mtime, i.ctime, i.btime)
for p in sys.argv[2:]:
    out = h5py.File(p, "r")
    def check(name, o):
        copied = name.split("/")[0] in ("var", "varm", "uns")  # the rest is written anew
        if copied and when(o) != when(s[name]):
            print(p, name, when(o), "source:", when(s[name]))
    out.visititems(check)
`
	for _, libver := range []string{"earliest", "latest"} {
		t.Run(libver, func(t *testing.T) {
			d := t.TempDir()
			src := filepath.Join(d, "timed.h5ad")
			if out, err := exec.Command(python, "-c", remake, fixture("v07.h5ad"), src, libver).CombinedOutput(); err != nil {
				t.Fatalf("writing the fixture: %v\n%s", err, out)
			}
			var shards [2][]string
			for run := range shards {
				if run > 0 {
					time.Sleep(1100 * time.Millisecond) // the next second
				}
				for _, comp := range []string{"", "gzip"} {
					prefix := filepath.Join(d, fmt.Sprintf("run%d%s", run, comp))
					args := []string{"slice", src, prefix, "--size", "50"}
					if comp != "" {
						args = append(args, "--compression", comp)
					}
					mustSlice(t, args...)
					shards[run] = append(shards[run], shardFiles(t, prefix)...)
				}
			}
			checkShards(t, src, shards[0][:len(shards[0])/2], "--size", "50")
			a, b := readAll(t, shards[0]), readAll(t, shards[1])
			for i := range a {
				if !bytes.Equal(a[i], b[i]) {
					t.Errorf("%s and %s differ: two runs a second apart", filepath.Base(shards[0][i]), filepath.Base(shards[1][i]))
				}
			}
			// Debian's h5py reports no times: the current one does
			if out, err := exec.Command(currentPython, append([]string{"-c", times, src}, shards[0]...)...).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("copied objects' times differ from the source's: %v\n%s", err, out)
			}
		})
	}
}

// TestSourcesWithAUserBlock: an HDF5 file may start with a user block
// (h5py's userblock_size), and libhdf5 gives chunk addresses from its end.
// Chunks were read that many bytes too early: a slice of such a file had
// wrong values in X, with no error. And an array whose bytes end the file
// was refused as truncated (its offset, from the file's start, was taken
// as one from the block's end).
func TestSourcesWithAUserBlock(t *testing.T) {
	needPython(t)
	needCurrent(t)
	src := filepath.Join(t.TempDir(), "userblock.h5ad")
	rewriteH5(t, fixture("full.h5ad"), src, "userblock_size=512", `
assert d["X/data"].chunks  # read through the chunk table
d.flush()
last = d["uns"].create_dataset("last", data=np.arange(100.0))
end = last.id.get_offset() + 800
d.close()
assert end == os.path.getsize(sys.argv[2]), "uns/last does not end the file"
`)
	for _, c := range []struct{ slice, check []string }{
		{nil, []string{"--order", "contiguous"}},
		{[]string{"--shuffle", "--seed", "2"}, nil},
	} {
		prefix := filepath.Join(t.TempDir(), "out")
		mustSlice(t, append([]string{"slice", src, prefix, "--size", "200"}, c.slice...)...)
		checkShards(t, src, shardFiles(t, prefix), append([]string{"--size", "200"}, c.check...)...)
	}
}

// rewriteH5 copies the HDF5 file src to dst with h5py (current), opening
// dst with the h5py.File keyword arguments opts, then runs the Python
// lines after (s and d are the files; os, sys and numpy as np imported).
func rewriteH5(t *testing.T, src, dst, opts, after string) {
	t.Helper()
	script := `
import os, sys, h5py, numpy as np
s = h5py.File(sys.argv[1], "r")
d = h5py.File(sys.argv[2], "w", ` + opts + `)
for k, v in s.attrs.items():
    d.attrs[k] = v
for k in s:
    s.copy(s[k], d, name=k)
` + after + `
d.close()
`
	if out, err := exec.Command(currentPython, "-c", script, src, dst).CombinedOutput(); err != nil {
		t.Fatalf("writing %s: %v\n%s", filepath.Base(dst), err, out)
	}
}
