package main

import (
	"archive/zip"
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real files nobody here wrote: the AnnData files PyPI packages ship in
// their wheels (testdata/real-datasets.txt, fetched by scripts/setup.sh
// into testdata/cache), and anndata's own format archives (v0.7.0, v0.7.8:
// h5ad and zarr) that Debian's python3-anndata ships. Each is sliced,
// mounted and merged in both formats and checked with current anndata.

// realKnownFailures: as knownFailures, for the real datasets.
var realKnownFailures = map[string]string{}

// realOps: shuffled slices (contiguous ones are what merge starts from),
// mounts and merges, each in both formats.
func realOps() []currentOp {
	var out []currentOp
	// shards of 50 entries: outputs of 64 cells still end in a partial
	// shard, and a gene array of 30,727 (wu2020) is 615 files, not 3,073
	// (shards of 10 made 80,000 files an output, minutes of the tests)
	for _, op := range opsWithZarrShards("50") {
		if strings.HasPrefix(op.name, "slice-") && !strings.HasSuffix(op.name, "-shuffle") {
			continue
		}
		out = append(out, op)
	}
	return out
}

type realDataset struct{ name, path string }

// realDatasets lists the wheel files of testdata/real-datasets.txt and
// anndata's archives.
func realDatasets(t *testing.T) []realDataset {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "testdata", "real-datasets.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []realDataset
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		name, version, _ := strings.Cut(fields[0], "==")
		path := filepath.Join(repoRoot, "testdata", "cache", "datasets", name+"-"+version, fields[1])
		out = append(out, realDataset{filepath.Base(fields[1]), path})
	}
	archives := "/usr/lib/python3/dist-packages/anndata/tests/data/archives"
	for _, v := range []string{"v0.7.0", "v0.7.8"} {
		out = append(out, realDataset{"anndata-" + v + ".h5ad", filepath.Join(archives, v, "adata.h5ad")})
		out = append(out, realDataset{"anndata-" + v + ".zarr", filepath.Join(archives, v, "adata.zarr.zip")})
	}
	return out
}

func TestRealDatasets(t *testing.T) {
	t.Parallel() // the slow ecosystem tests overlap one another (2 cores)
	needCurrent(t)
	sets := realDatasets(t)
	var names []string
	for _, d := range sets {
		names = append(names, d.name)
	}
	checkTable(t, realKnownFailures, names, realOps())
	for _, d := range sets {
		t.Run(d.name, func(t *testing.T) {
			if _, err := os.Stat(d.path); err != nil {
				t.Fatalf("%v (make setup fetches it)", err)
			}
			src := d.path
			if strings.HasSuffix(src, ".zarr.zip") {
				src = unzipStore(t, src)
			}
			for _, op := range realOps() {
				t.Run(op.name, func(t *testing.T) {
					ok, text := op.run(t, src, 64)
					outcome(t, realKnownFailures, d.name, op.name, ok, text)
				})
			}
		})
	}
}

// unzipStore extracts a zipped zarr store (anndata's archives) into a
// directory store: annslicer reads directory stores.
func unzipStore(t *testing.T, zipped string) string {
	t.Helper()
	r, err := zip.OpenReader(zipped)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := filepath.Join(t.TempDir(), "adata.zarr")
	for _, f := range r.File {
		out := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(out, dir+string(filepath.Separator)) {
			t.Fatalf("%s: entry %q escapes the store", zipped, f.Name)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		in, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(in)
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
