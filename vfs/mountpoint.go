package vfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Mountpoint hygiene: a mount never stacks on a live annslicer mount,
// never hides files, and clears the stale mount a killed server leaves.

// FSType is the filesystem type of an annslicer mount in /proc/self/mountinfo.
const FSType = "fuse.annslicer"

// ErrNotMounted is returned by Unmount for a directory nothing is mounted on.
var ErrNotMounted = errors.New("not mounted")

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	ID     int
	Point  string
	FSType string
}

// mountsAt lists the mounts whose mount point is point, bottom first (the
// last one is what the path shows).
func mountsAt(point string) ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 || unescapeMountinfo(fields[4]) != point {
			continue
		}
		e := mountEntry{Point: point}
		e.ID, _ = strconv.Atoi(fields[0])
		for i := 5; i+1 < len(fields); i++ {
			if fields[i] == "-" {
				e.FSType = unescapeMountinfo(fields[i+1])
				break
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolve gives the absolute, symlink-free path of dir as mountinfo spells
// it, resolving only its parent when dir itself cannot be looked at (a
// stale mount answers ENOTCONN).
func resolve(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p, nil
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

// isStale reports whether the mount on dir has lost its server: listing it
// fails with ENOTCONN (the kernel may still answer a stat from its cache).
func isStale(dir string) bool {
	f, err := os.Open(dir)
	if err == nil {
		_, err = f.Readdirnames(1)
		f.Close()
	}
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// detach lazily unmounts dir: umount2(MNT_DETACH) as root, fusermount3 -uz
// otherwise.
func detach(dir string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(dir, syscall.MNT_DETACH)
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(bin); err == nil {
			if out, err := exec.Command(p, "-uz", dir).CombinedOutput(); err != nil {
				return fmt.Errorf("%s -uz: %v: %s", bin, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("no fusermount3 and not root")
}

// PrepareMountpoint checks that mnt can take a mount: an existing, empty
// directory with no live annslicer mount on it. A stale annslicer mount (its
// server was killed) is cleared first; note then says so. Errors name mnt
// and say what to do.
func PrepareMountpoint(mnt string) (note string, err error) {
	p, err := resolve(mnt)
	if err != nil {
		return "", fmt.Errorf("%s: %v", mnt, unwrapPath(err))
	}
	for cleared := 0; ; cleared++ {
		ents, err := mountsAt(p)
		if err != nil {
			return note, fmt.Errorf("%s: cannot read the mount table: %v", mnt, err)
		}
		if len(ents) == 0 {
			break
		}
		top := ents[len(ents)-1]
		if !isStale(p) {
			if top.FSType == FSType {
				return note, fmt.Errorf("%s: already mounted (by annslicer); unmount it first: annslicer unmount %s", mnt, mnt)
			}
			break // another filesystem: fine if empty (checked below)
		}
		if top.FSType != FSType {
			return note, fmt.Errorf("%s: a dead %s mount is on it (transport endpoint is not connected); unmount it first: fusermount3 -uz %s", mnt, top.FSType, mnt)
		}
		if cleared == 8 {
			return note, fmt.Errorf("%s: stale mounts keep coming back; unmount them with fusermount3 -uz %s", mnt, mnt)
		}
		if err := detach(p); err != nil {
			return note, fmt.Errorf("%s: a stale annslicer mount (its server died) is on it and clearing it failed: %v; run fusermount3 -uz %s", mnt, err, mnt)
		}
		note = fmt.Sprintf("%s: cleared a stale mount left by an annslicer server that died", mnt)
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return note, fmt.Errorf("%s: no such directory; create the mount point first", mnt)
		}
		return note, fmt.Errorf("%s: %v", mnt, unwrapPath(err))
	}
	if !st.IsDir() {
		return note, fmt.Errorf("%s: not a directory; the mount point must be an existing directory", mnt)
	}
	f, err := os.Open(p)
	if err != nil {
		return note, fmt.Errorf("%s: %v", mnt, unwrapPath(err))
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 {
		return note, fmt.Errorf("%s: not empty (it holds %s); mounting on it would hide its files: choose an empty directory", mnt, names[0])
	}
	return note, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// UserAllowOther reports whether /etc/fuse.conf lets users other than root
// mount with allow_other (a line "user_allow_other").
func UserAllowOther() bool {
	b, err := os.ReadFile("/etc/fuse.conf")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line, _, _ = strings.Cut(line, "#"); strings.TrimSpace(line) == "user_allow_other" {
			return true
		}
	}
	return false
}
