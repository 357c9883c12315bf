package zarrad

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func pinTestStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s.zarr")
	for _, p := range []string{"a/0.0", "a/1.0", "b/.zarray"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte("chunk "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Every change to a file of the store after pinning, made right after it
// (the same clock tick as the files' writes, were it not for the settling
// wait), fails the next read of that file, and sticks.
func TestPinStoreCatchesChangedFiles(t *testing.T) {
	changes := map[string]func(dir string) error{
		"in place": func(dir string) error {
			f, err := os.OpenFile(filepath.Join(dir, "a/1.0"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("X"), 2)
			return err
		},
		"by rename": func(dir string) error {
			tmp := filepath.Join(dir, "a/tmp")
			if err := os.WriteFile(tmp, []byte("chunk a/1.X"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(dir, "a/1.0"))
		},
		"removed": func(dir string) error { return os.Remove(filepath.Join(dir, "a/1.0")) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			dir := pinTestStore(t)
			p, err := PinStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := p.ReadFile(filepath.Join(dir, "a/0.0")); err != nil || string(b) != "chunk a/0.0" {
				t.Fatalf("read before the change: %q %v", b, err)
			}
			if err := change(dir); err != nil {
				t.Fatal(err)
			}
			b, err := p.ReadFile(filepath.Join(dir, "a/1.0"))
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("read after the change: %q %v, want a change error", b, err)
			}
			if p.Check() == nil {
				t.Fatal("the change did not stick")
			}
			if _, err := p.ReadFile(filepath.Join(dir, "a/0.0")); err == nil {
				t.Fatal("read of an unchanged file after a change: want the sticky error")
			}
		})
	}
}

func TestPinStoreMissingAndCreatedFiles(t *testing.T) {
	dir := pinTestStore(t)
	p, err := PinStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReadFile(filepath.Join(dir, "a/2.0")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing then and now: %v, want ErrNotExist", err)
	}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a/2.0"), []byte("new"), 0o644)
	if err := p.VerifyDirs(); err == nil {
		t.Fatal("VerifyDirs missed a new file")
	}
	if _, err := p.ReadFile(filepath.Join(dir, "a/2.0")); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("created after pinning: %v, want a change error", err)
	}
}
