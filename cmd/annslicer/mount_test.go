package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needFUSE skips without /dev/fuse, or fails when CI requires FUSE.
func needFUSE(t *testing.T) {
	t.Helper()
	needPython(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("ANNSLICER_REQUIRE_FUSE") == "1" {
			t.Fatalf("ANNSLICER_REQUIRE_FUSE=1 but /dev/fuse is missing: %v", err)
		}
		t.Skip("no /dev/fuse")
	}
}

type mounted struct {
	dir    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func isMounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+dir+" ")
}

// mount runs `annslicer mount` in the background until the test ends.
func mount(t *testing.T, source string, args ...string) *mounted {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return mountAt(t, dir, source, args...)
}

// mountAt is mount on an existing directory.
func mountAt(t *testing.T, dir, source string, args ...string) *mounted {
	t.Helper()
	m := &mounted{dir: dir, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	m.cmd = exec.Command(binPath, append([]string{"mount", source, dir}, args...)...)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(func() { m.stop(t) })
	// Live once a mount is on dir and it lists its shards (a stale mount
	// left by a killed server answers ENOTCONN; mount ids are reused, so
	// they cannot tell). The deadline only guards a hang.
	live := func() bool {
		if !isMounted(dir) {
			return false
		}
		_, err := os.Stat(filepath.Join(dir, "shards.json"))
		ents, lerr := os.ReadDir(dir)
		return err == nil && lerr == nil && len(ents) > 0
	}
	deadline := time.Now().Add(60 * time.Second)
	for !live() {
		select {
		case err := <-m.done:
			m.done <- err
			t.Fatalf("mount exited early: %v\n%s", err, m.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not mounted after 60s\n%s", m.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// stop sends SIGTERM and checks the mount went away cleanly.
func (m *mounted) stop(t *testing.T) {
	t.Helper()
	if m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("mount exited with %v after SIGTERM\n%s", err, m.stderr)
		}
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		exec.Command("umount", "-l", m.dir).Run()
		t.Fatalf("mount did not exit 10s after SIGTERM")
	}
	if isMounted(m.dir) {
		exec.Command("umount", "-l", m.dir).Run()
		t.Fatalf("%s still mounted after SIGTERM", m.dir)
	}
}

func (m *mounted) shards(n int) []string {
	var out []string
	for k := 0; k < n; k++ {
		out = append(out, filepath.Join(m.dir, fmt.Sprintf("shard_%d.h5ad", k)))
	}
	return out
}

func materialized(t *testing.T, source string, n int, args ...string) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mat")
	mustSlice(t, append([]string{"materialize", source, dir}, args...)...)
	var out []string
	for k := 0; k < n; k++ {
		out = append(out, filepath.Join(dir, fmt.Sprintf("shard_%d.h5ad", k)))
	}
	return out
}

func TestMountShowsTheMaterializedShards(t *testing.T) {
	needFUSE(t)
	for _, c := range []struct {
		fixture string
		args    []string
		check   []string
	}{
		{"full.h5ad", []string{"--size", "150", "--shuffle", "--seed", "3"}, []string{"--size", "150"}},
		{"full.h5ad", []string{"--size", "200"}, []string{"--order", "contiguous", "--size", "200"}},
		{"v07.h5ad", []string{"--size", "40"}, []string{"--order", "contiguous", "--size", "40"}},
		{"compressed_gzip.h5ad", []string{"--size", "100", "--shuffle", "--seed", "1"}, []string{"--size", "100"}},
	} {
		t.Run(c.fixture+strings.Join(c.args, "_"), func(t *testing.T) {
			m := mount(t, fixture(c.fixture), c.args...)
			entries, err := os.ReadDir(m.dir)
			if err != nil {
				t.Fatal(err)
			}
			var manifest struct {
				NObs    int64 `json:"n_obs"`
				Size    int64 `json:"size"`
				Shuffle bool  `json:"shuffle"`
				Shards  []struct {
					Name  string `json:"name"`
					Cells int64  `json:"cells"`
				} `json:"shards"`
			}
			raw, err := os.ReadFile(filepath.Join(m.dir, "shards.json"))
			if err != nil || json.Unmarshal(raw, &manifest) != nil {
				t.Fatalf("shards.json: %v %s", err, raw)
			}
			n := len(manifest.Shards)
			if len(entries) != n+1 || n == 0 {
				t.Fatalf("%d entries for %d shards", len(entries), n)
			}
			var cells int64
			for k, s := range manifest.Shards {
				cells += s.Cells
				if s.Name != fmt.Sprintf("shard_%d.h5ad", k) {
					t.Errorf("shard %d named %q", k, s.Name)
				}
			}
			if cells != manifest.NObs {
				t.Errorf("manifest cells sum to %d, n_obs %d", cells, manifest.NObs)
			}
			want := materialized(t, fixture(c.fixture), n, c.args...)
			for k, v := range m.shards(n) {
				st, err := os.Stat(v)
				if err != nil {
					t.Fatal(err)
				}
				if !sameBytes(readAll(t, []string{v}), readAll(t, want[k:k+1])) {
					t.Errorf("%s differs from materialized %s (sizes %d)", v, want[k], st.Size())
				}
			}
			checkShards(t, fixture(c.fixture), m.shards(n), c.check...)
		})
	}
}

func TestMountBackedRandomBatches(t *testing.T) {
	needFUSE(t)
	args := []string{"--size", "250", "--shuffle", "--seed", "8"}
	m := mount(t, fixture("full.h5ad"), args...)
	want := materialized(t, fixture("full.h5ad"), 3, args...)
	script := `
import sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np
virtual, written = sys.argv[1], sys.argv[2]
b = anndata.read_h5ad(virtual, backed="r")
w = anndata.read_h5ad(written)
rng = np.random.default_rng(0)
for _ in range(20):
    idx = np.sort(rng.choice(b.n_obs, size=32, replace=False))
    got = b[idx].to_memory()
    exp = w[idx]
    assert (got.X != exp.X).nnz == 0, "X differs"
    assert np.array_equal(got.obsm["X_pca"], exp.obsm["X_pca"]), "obsm differs"
    assert list(got.obs_names) == list(exp.obs_names), "obs names differ"
    assert (got.layers["counts"] != exp.layers["counts"]).nnz == 0, "layer differs"
print("ok")
`
	out, err := exec.Command(python, "-c", script, m.shards(1)[0], want[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("backed batches: %v\n%s", err, out)
	}
}

func TestMountConcurrentReaders(t *testing.T) {
	needFUSE(t)
	args := []string{"--size", "60", "--shuffle", "--seed", "4"}
	m := mount(t, fixture("full.h5ad"), args...)
	want := readAll(t, materialized(t, fixture("full.h5ad"), 9, args...))
	virtual := m.shards(9)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < 9; i++ {
				k := (i + r) % 9
				if r%2 == 0 {
					k = 0 // half the readers share one shard
				}
				f, err := os.Open(virtual[k])
				if err != nil {
					errs <- err
					return
				}
				// odd-sized preads at scattered offsets, then the whole file
				buf := make([]byte, 777)
				for off := int64(r * 131); off < int64(len(want[k])); off += 4099 {
					n, err := f.ReadAt(buf, off)
					if err != nil && err != io.EOF {
						errs <- err
						break
					}
					if !bytes.Equal(buf[:n], want[k][off:off+int64(n)]) {
						errs <- fmt.Errorf("reader %d: %s at %d differs", r, virtual[k], off)
						break
					}
				}
				all, err := io.ReadAll(f)
				f.Close()
				if err != nil || !bytes.Equal(all, want[k]) {
					errs <- fmt.Errorf("reader %d: full read of %s differs (%v)", r, virtual[k], err)
				}
			}
		}(r)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMountIsReadOnly(t *testing.T) {
	needFUSE(t)
	m := mount(t, fixture("full.h5ad"), "--size", "300")
	shard := filepath.Join(m.dir, "shard_0.h5ad")
	attempts := map[string]error{
		"open for write": func() error {
			f, err := os.OpenFile(shard, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}(),
		"create":   os.WriteFile(filepath.Join(m.dir, "new.h5ad"), []byte("x"), 0o644),
		"mkdir":    os.Mkdir(filepath.Join(m.dir, "d"), 0o755),
		"rename":   os.Rename(shard, filepath.Join(m.dir, "other.h5ad")),
		"remove":   os.Remove(shard),
		"truncate": os.Truncate(shard, 0),
		"chmod":    os.Chmod(shard, 0o666),
	}
	for what, err := range attempts {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: got %v, want EROFS", what, err)
		}
	}
}

func TestMountFailsReadsWhenTheSourceChanges(t *testing.T) {
	needFUSE(t)
	src := filepath.Join(t.TempDir(), "src.h5ad")
	b, err := os.ReadFile(fixture("full.h5ad"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, b, 0o644)
	m := mount(t, src, "--size", "100")
	shards := m.shards(6)
	if _, err := os.ReadFile(shards[0]); err != nil {
		t.Fatalf("read before the change: %v", err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	for _, s := range shards[1:3] {
		if _, err := os.ReadFile(s); !errors.Is(err, syscall.EIO) {
			t.Errorf("reading %s after the source changed: got %v, want EIO", s, err)
		}
	}
	if _, err := os.ReadFile(shards[0]); !errors.Is(err, syscall.EIO) {
		t.Errorf("re-reading a cached shard after the source changed: got %v, want EIO", err)
	}
	m.stop(t)
	if !strings.Contains(m.stderr.String(), "changed") {
		t.Errorf("no log line about the change: %q", m.stderr)
	}
}

func TestUnmountCommandEndsTheMount(t *testing.T) {
	needFUSE(t)
	m := mount(t, fixture("full.h5ad"), "--size", "300")
	if r := annslicer(t, "unmount", m.dir); r.code != 0 {
		t.Fatalf("unmount: %d %s", r.code, r.stderr)
	}
	select {
	case err := <-m.done:
		m.done <- err
		if err != nil {
			t.Errorf("mount exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mount still running 10s after annslicer unmount")
	}
	if isMounted(m.dir) {
		t.Fatal("still mounted")
	}
}
