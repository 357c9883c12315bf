package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/annslicer/annslicer/vfs"
)

// Mount safety: a mount serves the source as it was at mount time or fails
// with EIO (never new or mixed bytes), and the mountpoint is handled with
// care (no stacking, no hiding files, stale mounts cleared, --allow-other).

// copySource copies a fixture file or store into a fresh temporary
// directory, so that a test may change it.
func copySource(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// wantEIO reads file and requires EIO; want is the file's mount-time
// content, to tell new bytes (the worst outcome) from old ones.
func wantEIO(t *testing.T, file string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(file)
	switch {
	case errors.Is(err, syscall.EIO):
	case err != nil:
		t.Errorf("%s: got %v, want EIO", file, err)
	case !bytes.Equal(got, want):
		t.Errorf("%s: served NEW bytes after the source changed, want EIO", file)
	default:
		t.Errorf("%s: read succeeded after the source changed, want EIO", file)
	}
}

// python runs a Python script and returns its stdout.
func pythonOut(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command(python, append([]string{"-c", script}, args...)...).Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// A byte of the h5ad source changed in place (same size) or a touch: the
// very next read fails with EIO, with no window in which the new bytes or
// a stale check could slip through. Repeated, each on a fresh mount.
func TestMountH5ADChangeFailsTheNextRead(t *testing.T) {
	needFUSE(t)
	args := []string{"--size", "100"}
	want := readAll(t, materialized(t, fixture("full.h5ad"), 6, args...))
	// A byte of obsm/X_pca row 150 (shard 1), stored contiguously.
	off, err := strconv.ParseInt(pythonOut(t, `
import sys, h5py
d = h5py.File(sys.argv[1], "r")["obsm/X_pca"]
print(d.id.get_offset() + 150 * d.shape[1] * d.dtype.itemsize + 3)`, fixture("full.h5ad")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(src string) error{
		"write in place": func(src string) error {
			f, err := os.OpenFile(src, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			b := []byte{0}
			if _, err := f.ReadAt(b, off); err == nil {
				return errors.New("opened write-only but could read")
			}
			// flip every bit of one byte of row 150 (the value before is
			// known from the fixture: not read here through a write fd)
			orig, err := os.ReadFile(fixture("full.h5ad"))
			if err != nil {
				return err
			}
			b[0] = ^orig[off]
			if _, err := f.WriteAt(b, off); err != nil {
				return err
			}
			return f.Close()
		},
		"touch": func(src string) error {
			later := time.Now().Add(time.Hour)
			return os.Chtimes(src, later, later)
		},
	}
	for _, what := range []string{"write in place", "touch"} {
		for round := 0; round < 3; round++ {
			t.Run(fmt.Sprintf("%s %d", strings.ReplaceAll(what, " ", "_"), round), func(t *testing.T) {
				src := copySource(t, fixture("full.h5ad"))
				m := mount(t, src, args...)
				shards := m.shards(6)
				if got, err := os.ReadFile(shards[0]); err != nil || !bytes.Equal(got, want[0]) {
					t.Fatalf("shard 0 before the change: %v (equal: %v)", err, bytes.Equal(got, want[0]))
				}
				if err := changes[what](src); err != nil {
					t.Fatal(err)
				}
				wantEIO(t, shards[1], want[1]) // right away
				wantEIO(t, shards[2], want[2])
			})
		}
	}
}

// zarrRowChunked is full.h5ad as a zarr store whose obsm/X_pca is chunked
// by 100 rows, so shards of 100 rows each read their own chunk file.
var zarrRowChunked = sync.OnceValues(func() (string, error) {
	out := filepath.Join(fixtures, "rowchunked.zarr")
	script := `
import sys, warnings
warnings.filterwarnings("ignore")
import anndata, zarr
anndata.read_h5ad(sys.argv[1]).write_zarr(sys.argv[2])
g = zarr.open_group(sys.argv[2])
a = g["obsm/X_pca"]
data, attrs = a[:], dict(a.attrs)
del g["obsm/X_pca"]
b = g["obsm"].create_dataset("X_pca", data=data, chunks=(100, data.shape[1]))
b.attrs.update(attrs)
`
	if b, err := exec.Command(python, "-c", script, fixture("full.h5ad"), out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("writing %s: %v\n%s", out, err, b)
	}
	return out, nil
})

// A chunk file of a zarr source rewritten after mount, in place or by
// rename: shards that need it fail with EIO, never serve its new values
// next to the already read old ones.
func TestMountZarrChunkChangeFailsReads(t *testing.T) {
	needFUSE(t)
	pristine, err := zarrRowChunked()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--size", "100"}
	want := readAll(t, materialized(t, pristine, 6, args...))
	newChunk, err := os.ReadFile(filepath.Join(pristine, "obsm", "X_pca", "3.0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"in place", "by rename"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			src := copySource(t, pristine)
			m := mount(t, src, args...)
			shards := m.shards(6)
			if got, err := os.ReadFile(shards[0]); err != nil || !bytes.Equal(got, want[0]) {
				t.Fatalf("shard 0 before the change: %v (equal: %v)", err, bytes.Equal(got, want[0]))
			}
			// chunk 1.0 holds rows 100..199 (shard 1); give it chunk 3.0's values
			chunk := filepath.Join(src, "obsm", "X_pca", "1.0")
			if how == "in place" {
				f, err := os.OpenFile(chunk, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(newChunk); err != nil {
					t.Fatal(err)
				}
				f.Close()
			} else {
				tmp := chunk + ".tmp"
				if err := os.WriteFile(tmp, newChunk, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, chunk); err != nil {
					t.Fatal(err)
				}
			}
			wantEIO(t, shards[1], want[1])
			wantEIO(t, shards[2], want[2])
		})
	}
	t.Run("zarr_shards", func(t *testing.T) {
		args := []string{"--size", "100", "--format", "zarr"}
		mat := filepath.Join(t.TempDir(), "mat")
		mustSlice(t, append([]string{"materialize", pristine, mat, "--compression", "none"}, args...)...)
		src := copySource(t, pristine)
		m := mount(t, src, args...)
		sameTree(t, filepath.Join(m.dir, "shard_0.zarr"), filepath.Join(mat, "shard_0.zarr"))
		chunk := filepath.Join(src, "obsm", "X_pca", "1.0")
		if err := os.WriteFile(chunk+".tmp", newChunk, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(chunk+".tmp", chunk); err != nil {
			t.Fatal(err)
		}
		// Every file of shard 1 reads as materialized or fails with EIO,
		// and the changed chunk makes something fail.
		var eio int
		err := filepath.WalkDir(filepath.Join(m.dir, "shard_1.zarr"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				var got []byte
				if got, err = os.ReadFile(p); err == nil {
					rel, _ := filepath.Rel(m.dir, p)
					if want, _ := os.ReadFile(filepath.Join(mat, rel)); !bytes.Equal(got, want) {
						t.Errorf("%s: served NEW bytes after the source changed", p)
					}
				}
			}
			if errors.Is(err, syscall.EIO) {
				eio++
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if eio == 0 {
			t.Error("every file of shard_1.zarr read fine after the chunk it needs changed; want EIO")
		}
	})
}

// mountIDs lists the ids of the mounts stacked on dir.
func mountIDs(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var ids []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// countMounts is the number of mounts stacked on dir.
func countMounts(dir string) int { return len(mountIDs(dir)) }

// mountRefused runs a mount that must be refused: it returns its result
// once it exits; should it mount instead, it is unmounted and the test
// fails.
func mountRefused(t *testing.T, dir string, args ...string) result {
	t.Helper()
	before := countMounts(dir)
	cmd := exec.Command(binPath, append([]string{"mount"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			return result{code, o.String(), e.String()}
		case <-time.After(20 * time.Millisecond):
		}
		if countMounts(dir) > before {
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
			for countMounts(dir) > before {
				exec.Command("umount", "-l", dir).Run()
			}
			t.Fatalf("mounted on %s instead of refusing (%d mounts before)\n%s", dir, before, e.String())
		}
	}
}

func TestMountRefusesALiveMountpoint(t *testing.T) {
	needFUSE(t)
	m := mount(t, fixture("full.h5ad"), "--size", "300")
	r := mountRefused(t, m.dir, fixture("full.h5ad"), m.dir, "--size", "100")
	wantCleanFailure(t, r, 1, []string{m.dir, "already mounted", "unmount it first"}, "")
	if n := countMounts(m.dir); n != 1 {
		t.Errorf("%d mounts on %s, want 1", n, m.dir)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "shard_0.h5ad")); err != nil {
		t.Errorf("the first mount broke: %v", err)
	}
}

func TestMountRefusesANonEmptyMountpoint(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mountRefused(t, dir, fixture("full.h5ad"), dir, "--size", "100")
	wantCleanFailure(t, r, 1, []string{dir, "not empty", "hide"}, "")
	if b, err := os.ReadFile(filepath.Join(dir, "keep.txt")); err != nil || string(b) != "mine" {
		t.Errorf("keep.txt: %q %v", b, err)
	}
}

// After kill -9 of a mount server its mountpoint is stale ("transport
// endpoint is not connected"); the next mount clears it and says so.
func TestMountClearsAStaleMountpoint(t *testing.T) {
	needFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for countMounts(dir) > 0 {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	first := mountAt(t, dir, fixture("full.h5ad"), "--size", "300")
	first.cmd.Process.Kill()
	if err := <-first.done; err == nil {
		t.Fatal("mount survived SIGKILL")
	}
	if _, err := os.ReadDir(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after kill -9: listing %s: %v, want ENOTCONN (a stale mount)", dir, err)
	}
	second := mountAt(t, dir, fixture("full.h5ad"), "--size", "100")
	want := readAll(t, materialized(t, fixture("full.h5ad"), 1, "--size", "100"))
	if got := readAll(t, second.shards(1)); !sameBytes(got, want) {
		t.Error("the new mount serves other bytes than materialize")
	}
	if !strings.Contains(second.stderr.String(), "stale") {
		t.Errorf("no word about the stale mount: %q", second.stderr)
	}
	if n := countMounts(dir); n != 1 {
		t.Errorf("%d mounts on %s, want 1 (the stale one cleared)", n, dir)
	}
	second.stop(t)
	if n := countMounts(dir); n != 0 {
		t.Errorf("%d mounts left on %s after unmount", n, dir)
	}
}

// otherUID is an unprivileged uid that owns nothing here (nobody).
const otherUID = "65534"

// asOther runs argv as otherUID (setpriv: no login, no passwd entry needed).
func asOther(argv ...string) ([]byte, error) {
	return exec.Command("setpriv", append([]string{"--reuid=" + otherUID, "--regid=" + otherUID, "--clear-groups", "--"}, argv...)...).CombinedOutput()
}

// openDir makes t's temporary directories traversable by other users.
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(d) == os.TempDir() {
			break
		}
	}
	return dir
}

func TestMountAllowOtherLetsAnotherUserRead(t *testing.T) {
	needFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	want := readAll(t, materialized(t, fixture("full.h5ad"), 1, "--size", "300"))[0]
	for _, allow := range []bool{true, false} {
		t.Run(fmt.Sprintf("allow_other=%v", allow), func(t *testing.T) {
			dir := filepath.Join(openDir(t), "mnt")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			args := []string{"--size", "300"}
			if allow {
				args = append(args, "--allow-other")
			}
			m := mountAt(t, dir, fixture("full.h5ad"), args...)
			shard := filepath.Join(m.dir, "shard_0.h5ad")
			out, err := asOther("cat", shard)
			switch {
			case allow && err != nil:
				t.Errorf("with --allow-other, uid %s cannot read %s: %v %s", otherUID, shard, err, out)
			case allow && !bytes.Equal(out, want):
				t.Errorf("with --allow-other, uid %s reads other bytes", otherUID)
			case !allow && err == nil:
				t.Errorf("without --allow-other, uid %s could read %s", otherUID, shard)
			}
			if st, err := os.Stat(shard); err != nil || st.Mode().Perm() != 0o444 {
				t.Errorf("%s: mode %v %v, want 0444", shard, st.Mode(), err)
			}
			if st, err := os.Stat(m.dir); err != nil || st.Mode().Perm() != 0o555 {
				t.Errorf("%s: mode %v %v, want 0555", m.dir, st.Mode(), err)
			}
		})
	}
}

// A user other than root asking for --allow-other is told at once when
// /etc/fuse.conf does not allow it.
func TestMountAllowOtherNeedsFuseConfForUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	dir := openDir(t)
	bin := filepath.Join(dir, "annslicer")
	b, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "no-such-mnt") // nothing is mounted either way
	out, err := asOther(bin, "mount", filepath.Join(dir, "any.h5ad"), mnt, "--allow-other")
	msg := string(out)
	if err == nil || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "annslicer: ") {
		t.Fatalf("want a one-line failure, got %v %q", err, msg)
	}
	if vfs.UserAllowOther() == strings.Contains(msg, "user_allow_other") {
		t.Errorf("/etc/fuse.conf allows it: %v; message %q", vfs.UserAllowOther(), msg)
	}
}

func TestUnmountOfSomethingNotMounted(t *testing.T) {
	dir := t.TempDir()
	r := annslicer(t, "unmount", dir)
	if r.code != 1 || r.stderr != "annslicer: "+dir+": not mounted\n" {
		t.Errorf("unmount of a plain directory: exit %d, stderr %q; want exit 1, %q", r.code, r.stderr, "annslicer: "+dir+": not mounted\n")
	}
	r = annslicer(t, "unmount", filepath.Join(dir, "nope"))
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no such") {
		t.Errorf("unmount of a missing directory: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The mount log names the program once per line.
func TestMountLogHasOnePrefix(t *testing.T) {
	needFUSE(t)
	src := copySource(t, fixture("full.h5ad"))
	m := mount(t, src, "--size", "300")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	wantEIO(t, m.shards(1)[0], nil)
	m.stop(t)
	if s := m.stderr.String(); !strings.Contains(s, "changed") || strings.Contains(s, "annslicer: annslicer:") {
		t.Errorf("mount log: %q", s)
	}
}
