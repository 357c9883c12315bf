package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// One plan split across machines: --shards i/N on slice, materialize and
// mount (split.go), and --manifest.

// manifestDoc is what the tests read of a manifest (or shards.json).
type manifestDoc struct {
	Input string `json:"input"`
	NObs  int64  `json:"n_obs"`
	Split *struct {
		Index, Count, Outputs int
	} `json:"split"`
	Size    int64   `json:"size"`
	Shuffle bool    `json:"shuffle"`
	Seed    *uint64 `json:"seed"`
	Column  string  `json:"obs_column"`
	Shards  []struct {
		Name     string     `json:"name"`
		Cells    int64      `json:"cells"`
		Category *string    `json:"category"`
		Rows     [][2]int64 `json:"rows"`
	} `json:"shards"`
}

func readManifest(t *testing.T, path string) manifestDoc {
	t.Helper()
	raw, err := os.ReadFile(path)
	var m manifestDoc
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, raw)
	}
	return m
}

func (m manifestDoc) names() []string {
	var out []string
	for _, s := range m.Shards {
		out = append(out, s.Name)
	}
	return out
}

// fileNames lists the entries of dir (hidden ones too), sorted.
func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// N runs of one plan, started together into one directory, make the set
// one run makes: the same names, byte for byte (files and zarr stores),
// nothing else left there (no staging directory); each run's manifest
// lists its share, and the shares cover the set once.
func TestShardsSplitRunsMakeOneRunsSet(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"h5ad", "zarr"} {
		for _, plan := range [][]string{
			{"--size", "50"}, // 11 shards: 4, 4 and 3 per run
			{"--size", "60", "--shuffle", "--seed", "11"},
			{"--obs-column", "cell_type", "--always-include", "NK"},
		} {
			t.Run(format+strings.Join(plan, "_"), func(t *testing.T) {
				src := fixture("full.h5ad")
				args := append([]string{"--format", format}, plan...)
				tmp := t.TempDir()
				whole, split := filepath.Join(tmp, "whole"), filepath.Join(tmp, "split")
				mustSlice(t, append([]string{"materialize", src, whole}, args...)...)
				const n = 3
				var runs []*started
				for i := range n {
					runs = append(runs, start(t, append([]string{"materialize", src, split, "--shards", fmt.Sprintf("%d/%d", i, n),
						"--manifest", filepath.Join(tmp, fmt.Sprintf("m%d.json", i))}, args...)...))
				}
				for i, r := range runs {
					if code, sig := r.wait(); code != 0 || sig != 0 {
						t.Fatalf("run %d/%d: exit %d, signal %v: %s", i, n, code, sig, r.stderr.String())
					}
				}
				if got, want := fileNames(t, split), fileNames(t, whole); !slices.Equal(got, want) {
					t.Fatalf("the runs wrote %q, one run %q", got, want)
				}
				sameTree(t, split, whole)
				var listed []string
				for i := range n {
					m := readManifest(t, filepath.Join(tmp, fmt.Sprintf("m%d.json", i)))
					if m.Split == nil || m.Split.Index != i || m.Split.Count != n || m.Split.Outputs != len(fileNames(t, whole)) {
						t.Errorf("manifest %d: split %+v", i, m.Split)
					}
					for _, s := range m.Shards {
						listed = append(listed, strings.TrimPrefix(s.Name, "split/"))
					}
				}
				slices.Sort(listed)
				if want := fileNames(t, whole); !slices.Equal(listed, want) {
					t.Errorf("the manifests list %q, want %q once each", listed, want)
				}
			})
		}
	}
}

// A run of a split never removes or replaces another run's shards:
// earlier shards are stale only from the plan's number of shards on (not
// this run's share), and with --overwrite a run removes only the stale
// shards of its own share (k mod N = i), so N runs never touch one file.
func TestShardsSplitRunsKeepEachOthersShards(t *testing.T) {
	t.Parallel()
	src := fixture("full.h5ad")
	tmp := t.TempDir()
	whole := filepath.Join(tmp, "whole")
	mustSlice(t, "materialize", src, whole, "--size", "50") // shard_0..shard_10
	share := func(dir, i string, more ...string) result {
		return annslicer(t, append([]string{"materialize", src, dir, "--size", "50", "--shards", i + "/3"}, more...)...)
	}
	// Runs one after another, without --overwrite: each keeps the others'.
	seq := filepath.Join(tmp, "seq")
	for _, i := range []string{"0", "1", "2"} {
		if r := share(seq, i); r.code != 0 {
			t.Fatalf("--shards %s/3 after the others: exit %d: %s", i, r.code, r.stderr)
		}
	}
	sameTree(t, seq, whole)

	// Over an earlier set of more shards (--size 25: shard_0..shard_20).
	old := filepath.Join(tmp, "old")
	mustSlice(t, "materialize", src, old, "--size", "25")
	before := dirState(t, old)
	r := share(old, "1")
	if r.code != 1 || !strings.Contains(r.stderr, "shard_1.h5ad: already exists; pass --overwrite") {
		t.Errorf("--shards 1/3 over an earlier set: exit %d: %s", r.code, r.stderr)
	}
	sameState(t, old, before)
	// A share whose own names are free is refused as well: every run of
	// the split says the same.
	for _, k := range []int{2, 5, 8} {
		os.Remove(filepath.Join(old, fmt.Sprintf("shard_%d.h5ad", k)))
	}
	before = dirState(t, old)
	if r := share(old, "2"); r.code != 1 || !strings.Contains(r.stderr, "left from an earlier run with more shards") {
		t.Errorf("--shards 2/3 over stale shards: exit %d: %s", r.code, r.stderr)
	}
	sameState(t, old, before)
	if r := share(old, "0", "--overwrite"); r.code != 0 {
		t.Fatalf("--shards 0/3 --overwrite: exit %d: %s", r.code, r.stderr)
	}
	// Its shards and its stale ones (12, 15, 18) went; the others' stay.
	after := dirState(t, old)
	for k := range 21 {
		name := fmt.Sprintf("shard_%d.h5ad", k)
		_, there := after[name]
		mine := k%3 == 0
		switch {
		case mine && k < 11:
			if after[name] != string(readAll(t, []string{filepath.Join(whole, name)})[0]) {
				t.Errorf("%s: not the new shard", name)
			}
		case mine && there:
			t.Errorf("%s: stale shard of this share left", name)
		case !mine && after[name] != before[name]:
			t.Errorf("%s: another share's file was touched", name)
		}
	}
	for _, i := range []string{"1", "2"} {
		if r := share(old, i, "--overwrite"); r.code != 0 {
			t.Fatalf("--shards %s/3 --overwrite: exit %d: %s", i, r.code, r.stderr)
		}
	}
	sameTree(t, old, whole)
}

// Bad --shards values and a shuffle split without --seed are usage
// errors (exit 2, one line), before anything is written or mounted.
func TestShardsUsageErrors(t *testing.T) {
	t.Parallel()
	src := fixture("full.h5ad")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "3/3"}, `--shards "3/3": the index must be from 0 to 2`},
		{[]string{"--shards=-1/4"}, `--shards "-1/4": the index must be from 0 to 3`},
		{[]string{"--shards", "a/b"}, `--shards "a/b" is not INDEX/COUNT`},
		{[]string{"--shards", "0/0"}, `--shards "0/0": the count of runs must be 1 or more`},
		{[]string{"--shards", "1"}, `--shards "1" is not INDEX/COUNT`},
		{[]string{"--shards", "0/2", "--shuffle"}, "--shards with --shuffle needs --seed"},
	} {
		for _, cmd := range []string{"slice", "materialize", "mount"} {
			t.Run(cmd+strings.Join(c.args, "_"), func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "out")
				if cmd == "mount" {
					out = dir
				}
				r := annslicer(t, append([]string{cmd, src, out}, c.args...)...)
				wantCleanFailure(t, r, 2, []string{c.want}, dir)
			})
		}
	}
}

// mount --shards i/N shows this share's shards, byte for byte those that
// materialize writes, and its shards.json is the manifest materialize
// writes with the same flags (one format).
func TestMountShards(t *testing.T) {
	needFUSE(t)
	for _, c := range []struct {
		format string
		args   []string
	}{
		{"h5ad", []string{"--size", "50"}},
		{"zarr", []string{"--size", "60", "--shuffle", "--seed", "4", "--format", "zarr", "--compression", "none"}},
	} {
		t.Run(c.format, func(t *testing.T) {
			src := fixture("full.h5ad")
			tmp := t.TempDir()
			whole := filepath.Join(tmp, "whole")
			mustSlice(t, append([]string{"materialize", src, whole}, c.args...)...)
			mountArgs := slices.DeleteFunc(slices.Clone(c.args), func(s string) bool { return s == "--compression" || s == "none" })
			m := mount(t, src, append(mountArgs, "--shards", "1/3")...)
			var want []string
			for _, name := range fileNames(t, whole) {
				var k int
				fmt.Sscanf(name, "shard_%d.", &k)
				if k%3 == 1 {
					want = append(want, name)
				}
			}
			got := fileNames(t, m.dir)
			if !slices.Equal(got, append(slices.Clone(want), "shards.json")) || len(want) < 3 {
				t.Fatalf("the mount shows %q, want %q and shards.json", got, want)
			}
			for _, name := range want {
				if c.format == "zarr" {
					sameTree(t, filepath.Join(m.dir, name), filepath.Join(whole, name))
				} else if !sameBytes(readAll(t, []string{filepath.Join(m.dir, name)}), readAll(t, []string{filepath.Join(whole, name)})) {
					t.Errorf("%s differs from the materialized one", name)
				}
			}
			// materialize --shards 1/3 --manifest DIR/shards.json: the
			// mount's shards.json, byte for byte
			share := filepath.Join(tmp, "share")
			mustSlice(t, append([]string{"materialize", src, share, "--shards", "1/3", "--manifest", filepath.Join(share, "shards.json")}, mountArgs...)...)
			mounted, _ := os.ReadFile(filepath.Join(m.dir, "shards.json"))
			written, _ := os.ReadFile(filepath.Join(share, "shards.json"))
			if string(mounted) != string(written) {
				t.Errorf("the mount's shards.json:\n%s\nmaterialize's manifest:\n%s", mounted, written)
			}
			if !slices.Equal(fileNames(t, share), got) {
				t.Errorf("materialize --shards 1/3 wrote %q, the mount shows %q", fileNames(t, share), got)
			}
			checkManifestRows(t, filepath.Join(share, "shards.json"), "")
		})
	}
}

// --manifest: the plan and each output written, named relative to the
// manifest's directory, with its cells and rows; in place with the
// outputs or not at all; a path of its own.
func TestManifest(t *testing.T) {
	t.Parallel()
	src := fixture("full.h5ad")
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "out", "pre")
	man := filepath.Join(tmp, "meta", "manifest.json")
	mustSlice(t, "slice", src, prefix, "--size", "200", "--manifest", man)
	m := readManifest(t, man)
	abs, _ := filepath.Abs(src)
	if m.Input != abs || m.NObs != 503 || m.Size != 200 || m.Shuffle || m.Seed != nil || m.Split != nil {
		t.Errorf("manifest: %+v", m)
	}
	want := []string{"../out/pre_shard_0.h5ad", "../out/pre_shard_1.h5ad", "../out/pre_shard_2.h5ad"}
	if !slices.Equal(m.names(), want) {
		t.Errorf("names %q, want %q", m.names(), want)
	}
	for k, s := range m.Shards {
		lo, hi := int64(200*k), min(int64(200*(k+1)), 503)
		if s.Cells != hi-lo || len(s.Rows) != 1 || s.Rows[0] != [2]int64{lo, hi} {
			t.Errorf("%s: %d cells, rows %v; want [%d, %d)", s.Name, s.Cells, s.Rows, lo, hi)
		}
	}

	// Refused before anything is written: an existing manifest without
	// --overwrite; the manifest named as a shard (a usage error).
	before := dirState(t, tmp)
	r := annslicer(t, "slice", src, filepath.Join(tmp, "other"), "--size", "200", "--manifest", man)
	if r.code != 1 || !strings.Contains(r.stderr, man+": already exists; pass --overwrite") {
		t.Errorf("an existing manifest: exit %d: %s", r.code, r.stderr)
	}
	r = annslicer(t, "slice", src, filepath.Join(tmp, "other"), "--size", "200", "--manifest", filepath.Join(tmp, "other_shard_1.h5ad"))
	if r.code != 2 || !strings.Contains(r.stderr, "other_shard_1.h5ad: given as the manifest and as the path of shard 1") {
		t.Errorf("the manifest named as a shard: exit %d: %s", r.code, r.stderr)
	}
	// A run that fails leaves no manifest.
	r = annslicer(t, "slice", src, prefix, "--size", "100", "--manifest", filepath.Join(tmp, "meta", "new.json"))
	if r.code != 1 || !strings.Contains(r.stderr, "pre_shard_0.h5ad: already exists") {
		t.Errorf("existing shards: exit %d: %s", r.code, r.stderr)
	}
	sameState(t, tmp, before)
	// With --overwrite it is replaced along with the shards.
	mustSlice(t, "slice", src, prefix, "--size", "300", "--overwrite", "--manifest", man)
	if got := readManifest(t, man).names(); !slices.Equal(got, want[:2]) || readManifest(t, man).Size != 300 {
		t.Errorf("after --overwrite: %q", got)
	}

	// --names with --shards: a share writes the names of its outputs'
	// global indices, and the file must name every output of the plan.
	names := filepath.Join(tmp, "names.txt")
	var lines []string
	for k := range 6 {
		lines = append(lines, filepath.Join(tmp, "named", fmt.Sprintf("n%d.h5ad", k)))
	}
	if err := os.WriteFile(names, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	nm := filepath.Join(tmp, "named", "m.json")
	mustSlice(t, "slice", src, "unused", "--size", "100", "--names", names, "--shards", "1/2", "--manifest", nm)
	if got, want := fileNames(t, filepath.Join(tmp, "named")), []string{"m.json", "n1.h5ad", "n3.h5ad", "n5.h5ad"}; !slices.Equal(got, want) {
		t.Errorf("--names --shards 1/2 wrote %q, want %q", got, want)
	}
	if got := readManifest(t, nm).names(); !slices.Equal(got, []string{"n1.h5ad", "n3.h5ad", "n5.h5ad"}) {
		t.Errorf("its manifest names %q", got)
	}
	r = annslicer(t, "slice", src, "unused", "--size", "80", "--names", names, "--shards", "0/2")
	if r.code != 2 || !strings.Contains(r.stderr, "6 names for 7 shards") {
		t.Errorf("too few names for the plan: exit %d: %s", r.code, r.stderr)
	}

	// A share without outputs says so, and writes its (empty) manifest.
	none := filepath.Join(tmp, "none.json")
	r = annslicer(t, "materialize", src, filepath.Join(tmp, "none"), "--size", "300", "--shards", "3/4", "--manifest", none)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: --shards 3/4: none of the 2 outputs is this run's") {
		t.Errorf("an empty share: exit %d: %s", r.code, r.stderr)
	}
	if m := readManifest(t, none); len(m.Shards) != 0 || m.Split == nil || m.Split.Outputs != 2 {
		t.Errorf("the empty share's manifest: %+v", m)
	}
	if _, err := os.Stat(filepath.Join(tmp, "none")); err == nil {
		t.Error("an empty share made its output directory")
	}
}

// checkManifestRows has anndata check that a manifest's runs name every
// cell of every shard it lists: cell i of a shard is the input row (for a
// collection, the row of inputs[file]) its runs give, by obs name. dir is
// where the shard names are relative to ("": the manifest's directory).
func checkManifestRows(t *testing.T, manifest, dir string) {
	t.Helper()
	needCurrent(t)
	args := []string{filepath.Join(repoRoot, "testdata", "check_manifest_rows.py"), manifest}
	if dir != "" {
		args = append(args, "--dir", dir)
	}
	if out, err := exec.Command(currentPython, args...).CombinedOutput(); err != nil {
		t.Errorf("check_manifest_rows.py %s: %v\n%s", manifest, err, out)
	}
}
