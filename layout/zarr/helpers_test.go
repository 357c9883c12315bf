package zarr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/annslicer/annslicer/internal/nodetest"
)

// python is the interpreter with zarr 2.13, numpy and anndata (Debian's);
// the python3 on PATH may lack them.
const python = "/usr/bin/python3"

var (
	tmpRoot string

	pythonOnce    sync.Once
	pythonMissing string

	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

func TestMain(m *testing.M) {
	var err error
	tmpRoot, err = os.MkdirTemp("", "zarrtest")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}

// requirePython skips (or, with ANNSLICER_REQUIRE_PYTHON=1, fails) when
// Python's zarr is not there.
func requirePython(t *testing.T) {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import zarr, numcodecs, anndata").CombinedOutput()
		if err != nil {
			pythonMissing = "python zarr/anndata unavailable: " + strings.TrimSpace(string(out)) + " " + err.Error()
		}
	})
	if pythonMissing == "" {
		return
	}
	msg := pythonMissing
	if os.Getenv("ANNSLICER_REQUIRE_PYTHON") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requireNode finds node and zarrita (testdata/node).
func requireNode(t *testing.T) string { return nodetest.Require(t, "testdata/node", "zarrita") }

// pyFixtures runs testdata/zarrtool.py make once per test binary.
func pyFixtures(t *testing.T) string {
	t.Helper()
	requirePython(t)
	fixtureOnce.Do(func() {
		fixtureDir = filepath.Join(tmpRoot, "py")
		if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
			fixtureErr = err
			return
		}
		out, err := exec.Command(python, "testdata/zarrtool.py", "make", fixtureDir).CombinedOutput()
		if err != nil {
			fixtureErr = &fixtureError{string(out), err}
		}
	})
	if fixtureErr != nil {
		t.Fatalf("making Python fixtures: %v", fixtureErr)
	}
	return fixtureDir
}

type fixtureError struct {
	out string
	err error
}

func (e *fixtureError) Error() string { return e.err.Error() + ": " + e.out }

// expected is one array as an oracle describes it.
type expected struct {
	DType   string          `json:"dtype"`
	Shape   []int           `json:"shape"`
	Hex     *string         `json:"hex"`
	Strings []string        `json:"strings"`
	Attrs   json.RawMessage `json:"attrs"`
	Error   string          `json:"error"`
}

func (e expected) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(*e.Hex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readJSONFile(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func openStore(t *testing.T, dir string, opts *Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openArray(t *testing.T, s *Store, p string) *Array {
	t.Helper()
	a, err := s.Array(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkArray reads the whole array and compares it with the oracle's
// description, and a few sub-ranges with the matching slices.
func checkArray(t *testing.T, a *Array, want expected) {
	t.Helper()
	if want.DType != "" && a.Meta.DType.String() != want.DType {
		t.Errorf("dtype %s, want %s", a.Meta.DType, want.DType)
	}
	if want.Shape != nil && !equalInts(a.Meta.Shape, want.Shape) {
		t.Errorf("shape %v, want %v", a.Meta.Shape, want.Shape)
	}
	n := a.Meta.Len()
	if want.Strings != nil {
		got, err := a.ReadStrings(0, n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\x00") != strings.Join(want.Strings, "\x00") || len(got) != len(want.Strings) {
			t.Errorf("strings %q, want %q", got, want.Strings)
		}
		for _, r := range subRanges(n) {
			got, err := a.ReadStrings(r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\x00") != strings.Join(want.Strings[r[0]:r[0]+r[1]], "\x00") {
				t.Errorf("ReadStrings(%d, %d) = %q", r[0], r[1], got)
			}
		}
		return
	}
	wb := want.bytes(t)
	got, err := a.ReadRange(0, n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wb) {
		t.Errorf("data differs:\n got %x\nwant %x", got, wb)
	}
	item := a.Meta.DType.Size
	for _, r := range subRanges(n) {
		got, err := a.ReadRange(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wb[r[0]*item:(r[0]+r[1])*item]) {
			t.Errorf("ReadRange(%d, %d) differs", r[0], r[1])
		}
	}
}

// subRanges are (start, count) pairs inside n elements crossing chunk
// edges at various places.
func subRanges(n int) [][2]int {
	var rs [][2]int
	for _, r := range [][2]int{{0, 1}, {1, 3}, {n / 3, n / 2}, {n - 1, 1}, {n / 2, 0}, {2, 7}} {
		if r[0] >= 0 && r[0]+r[1] <= n && r[0] < n {
			rs = append(rs, r)
		}
	}
	return rs
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wantErr checks err mentions every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", fragments)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}
