package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annslicer/annslicer/materialize"
)

func TestParseSizeReadsThePythonToolsSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"123":     123,
		"512MB":   512e6,
		"16GB":    16e9,
		"16gb":    16e9,
		"16G":     16e9,
		"16GiB":   16 << 30,
		"1.5G":    1.5e9,
		"64MiB":   64 << 20,
		" 2 TB ":  2e12,
		"100k":    100e3,
		"100 KiB": 100 << 10,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "16XB", "-1GB", "1e9", "GB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// The zarr chunk cache follows the plan (a shuffle reuses chunks, an
// ordered read does not) and stays within the run's memory limit.
func TestZarrCacheFitsTheMemoryLimit(t *testing.T) {
	defer func(b, c int64) { budget, materialize.ZarrCacheBytes = b, c }(budget, materialize.ZarrCacheBytes)
	setMemoryBudget(12 << 30)
	if err := holdZarrCache(true); err != nil || materialize.ZarrCacheBytes != shuffleCacheBytes {
		t.Errorf("shuffled, ample memory: cache %d, want %d", materialize.ZarrCacheBytes, shuffleCacheBytes)
	}
	holdZarrCache(false)
	if materialize.ZarrCacheBytes != orderedCacheBytes {
		t.Errorf("ordered: cache %d, want %d", materialize.ZarrCacheBytes, orderedCacheBytes)
	}
	setMemoryBudget(110e6)
	if err := holdZarrCache(true); err == nil {
		t.Errorf("a shuffled zarr source at 110 MB: not refused")
	}
	holdZarrCache(false)
	if c, g := materialize.ZarrCacheBytes, goLimit(1<<40); g > 110e6-outsideGo || c > g/2 || c < 8<<20 {
		t.Errorf("110 MB limit: cache %d, Go memory %d", c, g)
	}
}

func TestResourceFlagErrors(t *testing.T) {
	needPython(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--jobs", "0"}, "--jobs must be at least 1"},
		{[]string{"--memory-limit", "lots"}, `--memory-limit: "lots" is not a size`},
		{[]string{"--memory-limit", "10MB"}, "--memory-limit 10MB is below the 96 MiB"},
		{[]string{"--tmpdir", filepath.Join(t.TempDir(), "none")}, "not an existing directory"},
		{[]string{"--tmpdir", file}, "not an existing directory"},
		{[]string{"--memory-limit", "200MB", "--shuffle", "--source-zarr"}, "shuffling a zarr source needs at least 256 MiB"},
	} {
		out, src := t.TempDir(), fixture("full.h5ad")
		if i := slices.Index(c.args, "--source-zarr"); i >= 0 {
			c.args, src = c.args[:i], zarrFixture(t, "full.h5ad")
		}
		r := annslicer(t, append([]string{"materialize", src, out}, c.args...)...)
		wantCleanFailure(t, r, 2, []string{c.want}, out)
	}
}

// The flags change how a run uses the machine, never what it writes; and
// --tmpdir is where scratch goes.
func TestResourceFlagsKeepOutputsExact(t *testing.T) {
	needPython(t)
	for _, src := range []string{fixture("full.h5ad"), zarrFixture(t, "full.h5ad")} {
		for _, extra := range [][]string{nil, {"--shuffle", "--seed", "3"}} {
			base := append([]string{"materialize", src}, "--size", "100")
			base = append(base, extra...)
			plain, limited := t.TempDir(), t.TempDir()
			mustSlice(t, append(append(base[:2:2], plain), base[2:]...)...)
			scratch, least := t.TempDir(), "96MiB"
			if extra != nil && strings.HasSuffix(src, ".zarr") {
				least = "256MiB"
			}
			mustSlice(t, append(append(append(base[:2:2], limited), base[2:]...),
				"-j", "1", "--memory-limit", least, "--tmpdir", scratch)...)
			a, _ := filepath.Glob(filepath.Join(plain, "shard_*.h5ad"))
			b, _ := filepath.Glob(filepath.Join(limited, "shard_*.h5ad"))
			if len(a) != 6 || !sameBytes(readAll(t, a), readAll(t, b)) {
				t.Errorf("%s %v: shards differ with --jobs 1 --memory-limit %s (%d and %d files)", src, extra, least, len(a), len(b))
			}
		}
	}
	needFUSE(t)
	scratch := t.TempDir()
	m := mount(t, fixture("full.h5ad"), "--size", "100", "--tmpdir", scratch)
	ents, _ := os.ReadDir(scratch)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "annslicer-mount-") {
		t.Errorf("mount --tmpdir %s: holds %v, want its annslicer-mount-* directory", scratch, ents)
	}
	// a shard's size made (its source's template among the scratch files)
	// changes nothing: all of it lies in the mount's directory
	if _, err := os.Stat(filepath.Join(m.dir, "shard_0.h5ad")); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(scratch)
	if len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "annslicer-mount-") {
		t.Errorf("mount --tmpdir %s after a stat: holds %v, want its annslicer-mount-* directory", scratch, ents)
	}
	m.stop(t)
}
