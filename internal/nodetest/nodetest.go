// Package nodetest gives tests a Node.js reader installed from npm: the
// independent readers the tests compare against (zarrita for zarr v3,
// jsfive for HDF5), each locked in a directory of its own whose
// node_modules is not committed.
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu   sync.Mutex
	errs = map[string]string{} // npm ci's failure by directory, once tried
)

// Require returns dir (absolute) once node runs and module is installed
// there (`npm ci`, the locked versions, at most once per test binary); it
// skips the test otherwise, or fails it under ANNSLICER_REQUIRE_NODE=1
// (CI: a missing capability must fail, not skip).
func Require(t testing.TB, dir, module string) string {
	t.Helper()
	dir, _ = filepath.Abs(dir)
	msg := ""
	if _, err := exec.LookPath("node"); err != nil {
		msg = "node not found"
	} else if !installed(dir, module) {
		mu.Lock()
		why, tried := errs[dir]
		if !tried {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				why = strings.TrimSpace(string(out)) + " " + err.Error()
			}
			errs[dir] = why
		}
		mu.Unlock()
		if !installed(dir, module) {
			msg = module + " not installed (`npm ci` in " + dir + " failed: " + why + ")"
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

func installed(dir, module string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", module))
	return err == nil
}
