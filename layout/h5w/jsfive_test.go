package h5w

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	npmOnce sync.Once
	npmErr  string
)

// requireJsfive finds node and jsfive (testdata/node, `npm ci` there), and
// skips or, with ANNSLICER_REQUIRE_NODE=1, fails without them.
func requireJsfive(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("testdata/node")
	msg := ""
	if _, err := exec.LookPath("node"); err != nil {
		msg = "node not found"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "jsfive")); err != nil {
		npmOnce.Do(func() { // node_modules is not committed: install the locked versions once
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				npmErr = strings.TrimSpace(string(out)) + " " + err.Error()
			}
		})
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "jsfive")); err != nil {
			msg = "jsfive not installed (`npm ci` in layout/h5w/testdata/node failed: " + npmErr + ")"
		}
	}
	if msg != "" {
		if os.Getenv("ANNSLICER_REQUIRE_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// TestJsfiveReadsWhatH5pyReads: an HDF5 reader written without libhdf5
// (jsfive, JavaScript) reads the writer's file as h5py does, every value
// and attribute (testdata/jsfive_check.py; it allows jsfive's known gaps,
// records among them, only where jsfive reports them).
func TestJsfiveReadsWhatH5pyReads(t *testing.T) {
	dir := requireJsfive(t)
	path, _ := everyKind(t)
	for _, py := range pythons(t) {
		out, err := exec.Command(py, "testdata/jsfive_check.py", path, dir).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", py, err, out)
		}
	}
}
