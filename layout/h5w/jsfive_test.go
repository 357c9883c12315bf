package h5w

import (
	"os/exec"
	"testing"

	"github.com/annslicer/annslicer/internal/nodetest"
)

// requireJsfive finds node and jsfive (testdata/node).
func requireJsfive(t *testing.T) string { return nodetest.Require(t, "testdata/node", "jsfive") }

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
