package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Corrupt, truncated and hostile .h5ad sources (testdata/make_corrupt_h5ad.py
// writes them from full.h5ad): slicing each must give either shards equal to
// source[rows] (the Python oracle checks them) or a one-line error with exit
// status 1 and nothing left in the output directory -- never a signal, a Go
// panic, more than 1 GiB of memory, or a hang.

const (
	corruptMemLimitKiB = 1 << 20 // ulimit -d: 1 GiB (see limitedRun)
)

type corruptCase struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Expect string `json:"expect"` // "error": must be refused; "any": shards or a clean error
}

func TestCorruptH5ADSources(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	out, err := exec.Command(python, filepath.Join(repoRoot, "testdata", "make_corrupt_h5ad.py"), fixture("full.h5ad"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_corrupt_h5ad.py: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corruptCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d corrupt variants", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { checkCorruptSlice(t, c) })
	}
}

// checkCorruptSlice slices one variant under the memory and time limits and
// holds the outcome to the rule above.
func checkCorruptSlice(t *testing.T, c corruptCase) {
	outDir := t.TempDir()
	prefix := filepath.Join(outDir, "p")
	r := limitedRun(t, "slice", c.File, prefix, "--size", "100")
	code := r.code
	left, _ := filepath.Glob(filepath.Join(outDir, "*"))
	msg := strings.TrimSuffix(r.stderr, "\n")
	switch {
	case code == 0 && c.Expect == "error":
		t.Fatalf("exit 0 on a source that must be refused; stderr: %s", msg)
	case code == 0:
		shards := shardFiles(t, prefix)
		if len(shards) == 0 || len(shards) != len(left) {
			t.Fatalf("exit 0 but the output directory holds %v", left)
		}
		checkShards(t, c.File, shards, "--order", "contiguous", "--size", "100")
	case code == 1:
		if msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "annslicer: ") {
			t.Fatalf("exit 1 without a one-line error; stderr:\n%s", r.stderr)
		}
		if strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine") {
			t.Fatalf("error reports a crash: %s", msg)
		}
		if len(left) != 0 {
			t.Fatalf("error %q but left %v in the output directory", msg, left)
		}
	default:
		t.Fatalf("exit status %d (a Go panic or fatal error); stderr:\n%.3000s", code, r.stderr)
	}
}
