package materialize

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// A full filesystem shows up as ENOSPC from our own writes, and only as
// text from libhdf5 ("errno = 28, error message = 'No space left on
// device'"), which keeps no error value: both are recognised, and said as
// one line naming the filesystem that is full.

func isNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "no space left on device") || strings.Contains(m, "errno = 28,")
}

// noSpace is the message for a full filesystem under dir, writing name
// (which may be empty).
func noSpace(dir, name string) error {
	what := dir
	if name != "" {
		what = name
	}
	where := dir
	if dev, fstype, mnt := mountOf(resolve(dir)); mnt != "" {
		where = fmt.Sprintf("%s (%s mounted on %s", dev, fstype, mnt)
		if dev == fstype { // tmpfs, overlay: the source says nothing more
			where = fmt.Sprintf("%s (mounted on %s", dev, mnt)
		}
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil {
			where += ", " + human(int64(st.Blocks)*st.Bsize) + " in all"
		}
		where += ")"
	}
	return fmt.Errorf("%s: no space left on device %s; free some space there or write elsewhere (nothing was replaced, nothing was left)", what, where)
}

// mountOf finds the mount holding path in /proc/self/mountinfo: its device
// (the mount source), filesystem type and mount point.
func mountOf(path string) (dev, fstype, mnt string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		mp := unescapeMount(fields[4])
		if within(path, mp) || mp == "/" {
			if len(mp) >= len(mnt) { // the innermost (later mounts win ties)
				dev, fstype, mnt = unescapeMount(fields[sep+2]), fields[sep+1], mp
			}
		}
	}
	return dev, fstype, mnt
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
