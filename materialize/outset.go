package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// An output set is everything one run writes (the shards of a slice, a
// merge's one file or store). Users trust these runs with their only copy
// of an atlas, so a run that fails, is interrupted or is killed must leave
// every pre-existing file as it was, and a final name must never hold a
// partial file. Hence: every output is written under a hidden staging
// directory next to it (same filesystem, so a rename publishes it), and
// only when the whole set is complete are the outputs renamed into place,
// together. What they replace is kept in the staging directory until the
// last rename succeeded, so a failing rename puts everything back.
//
// Layout of a staging directory, DIR/.annslicer-PID-RANDOM/:
//
//	new/NAME   an output being written (DIR/NAME once published)
//	old/NAME   what DIR/NAME held, kept until the set is in place
//	work/      scratch of the run (merge's converted inputs)
//
// A staging directory whose process is gone (kill -9, power loss) is
// removed by the next run that writes into DIR; an old/NAME whose DIR/NAME
// is missing (killed while renaming) is put back first.

// SetOptions configure an output set.
type SetOptions struct {
	Overwrite bool
	// Inputs are never written, replaced or removed: an output that is (or
	// is inside, or contains) an input is refused, even with Overwrite.
	Inputs []string
	// Extra are outputs of an earlier run that do not belong to the new
	// set (PREFIX_shard_K beyond the new number of shards). They would
	// make a mixed set: without Overwrite the run is refused, with it they
	// are removed, atomically with the rest.
	Extra []string
	// Log hears about housekeeping (--debug); may be nil.
	Log func(msg string)
}

// Set is an output set being written; see NewSet.
type Set struct {
	final  []string          // output paths, as given
	staged []string          // where each output is written
	extra  []string          // removed when the set is published
	stages map[string]string // output directory -> its staging directory
	dirs   []string          // output directories, in first-use order
	made   []string          // directories this run created, parents first
	log    func(string)
	done   bool
}

const stagePrefix = ".annslicer-"

// NewSet checks a run's outputs before anything is written, and makes
// their staging directories. Refused: a name given twice, an output that
// is an input, an existing output without Overwrite, an existing directory
// where a file goes, leftovers of an earlier set (Extra) without Overwrite,
// an unwritable directory.
func NewSet(names []string, o SetOptions) (*Set, error) {
	// Clean: "x.zarr/" is staged next to x.zarr, not inside it.
	names = append([]string(nil), names...)
	for k, n := range names {
		names[k] = filepath.Clean(n)
	}
	s := &Set{final: names, stages: map[string]string{}, log: o.Log}
	seen := map[string]int{}
	for k, n := range names {
		r := resolve(n)
		if j, ok := seen[r]; ok {
			return nil, &DuplicateError{Name: n, First: j, Second: k}
		}
		seen[r] = k
	}
	for k, n := range names {
		if err := notAnInput(n, o.Inputs); err != nil {
			return nil, err
		}
		for j := range k { // hard links between outputs: one file, named twice
			if sameFile(names[j], n) {
				return nil, &DuplicateError{Name: n, First: j, Second: k}
			}
		}
		st, err := os.Lstat(n)
		if err != nil {
			continue
		}
		if st.IsDir() && !IsZarr(n) {
			return nil, fmt.Errorf("%s: exists and is a directory; remove it or choose another name", n)
		}
		if !o.Overwrite {
			return nil, fmt.Errorf("%s: already exists; pass --overwrite to replace it", n)
		}
	}
	if len(o.Extra) > 0 {
		if !o.Overwrite {
			return nil, fmt.Errorf("%s: left from an earlier run with more shards (a mixed set otherwise); pass --overwrite to replace the whole set, or remove them", listNames(o.Extra))
		}
		for _, e := range o.Extra {
			if err := notAnInput(e, o.Inputs); err != nil {
				return nil, err
			}
		}
		s.extra = o.Extra
	}
	cleanScratch(s.logf)
	for _, n := range names {
		d := filepath.Dir(n)
		if _, ok := s.stages[d]; ok {
			continue
		}
		// A missing output directory is made (as materialize OUTDIR
		// always was), and removed again if the run publishes nothing.
		if err := s.mkdirs(d); err != nil {
			s.Abort()
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: cannot create the output directory: %v", d, err)
		}
		cleanStale(d, stagePrefix, s.logf)
		st, err := os.MkdirTemp(d, fmt.Sprintf("%s%d-", stagePrefix, os.Getpid()))
		if err == nil {
			s.stages[d] = st
			if err = os.WriteFile(filepath.Join(st, "host"), []byte(hostname()), 0o644); err == nil {
				if err = os.Mkdir(filepath.Join(st, "new"), 0o755); err == nil {
					err = os.Mkdir(filepath.Join(st, "old"), 0o755)
				}
			}
		}
		if err != nil {
			s.Abort()
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: cannot write there: %v", d, err)
		}
		s.dirs = append(s.dirs, d)
	}
	for _, n := range names {
		s.staged = append(s.staged, filepath.Join(s.stages[filepath.Dir(n)], "new", filepath.Base(n)))
	}
	return s, nil
}

// DuplicateError: one output path given for two shards.
type DuplicateError struct {
	Name          string
	First, Second int
	Manifest      bool // Second is a slice's manifest (Job.Manifest)
}

func (e *DuplicateError) Error() string {
	if e.Manifest {
		return fmt.Sprintf("%s: given as the manifest and as the path of shard %d; give the manifest a path of its own", e.Name, e.First)
	}
	return fmt.Sprintf("%s: given for shards %d and %d; give each shard its own path", e.Name, e.First, e.Second)
}

// Temp is where output k is written.
func (s *Set) Temp(k int) string { return s.staged[k] }

// Work is a scratch directory inside the staging directory of the first
// output, removed with it.
func (s *Set) Work() (string, error) {
	w := filepath.Join(s.stages[s.dirs[0]], "work")
	if err := os.MkdirAll(w, 0o755); err != nil {
		return "", s.Err(err)
	}
	return w, nil
}

// Commit publishes the set: every output renamed into place, the files it
// replaces and the Extra removed. Cancelled before it starts, it publishes
// nothing; once renaming has begun it finishes (renames are quick), so an
// interrupted run never leaves half a set. On any failure, what was
// renamed is put back and nothing new remains.
func (s *Set) Commit(ctx context.Context) (err error) {
	if s.done {
		return errors.New("output set already finished")
	}
	defer s.Abort()
	if ctx != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	type aside struct{ final, old string }
	var moved []aside // DIR/NAME moved (or linked) to old/NAME
	var placed []int  // outputs renamed into place
	linked := map[string]bool{}
	defer func() {
		if err == nil {
			return
		}
		// Undo, newest first: an output whose predecessor was kept comes
		// back (an atomic rename for files), a new one goes away.
		for i := len(placed) - 1; i >= 0; i-- {
			k := placed[i]
			if _, kept := linked[s.final[k]]; !kept {
				os.RemoveAll(s.final[k])
			}
		}
		for i := len(moved) - 1; i >= 0; i-- {
			os.Rename(moved[i].old, moved[i].final)
		}
	}()
	keep := func(p string, link bool) error {
		st, err := os.Lstat(p)
		if err != nil {
			return nil // nothing there to keep
		}
		old := filepath.Join(s.stages[filepath.Dir(p)], "old", filepath.Base(p))
		if link && st.Mode().IsRegular() && os.Link(p, old) == nil {
			// A hard link keeps the old bytes while the final name goes on
			// holding a whole file until the rename replaces it.
			linked[p] = true
		} else if err := os.Rename(p, old); err != nil {
			return fmt.Errorf("%s: cannot replace it: %v", p, unwrapPath(err))
		}
		moved = append(moved, aside{p, old})
		return nil
	}
	for _, e := range s.extra {
		if err := keep(e, false); err != nil {
			return err
		}
	}
	for k, n := range s.final {
		st, err := os.Lstat(s.staged[k])
		if err != nil {
			return fmt.Errorf("%s: was not written: %v", n, unwrapPath(err))
		}
		if err := keep(n, st.Mode().IsRegular()); err != nil {
			return err
		}
	}
	for k, n := range s.final {
		if err := os.Rename(s.staged[k], n); err != nil {
			return fmt.Errorf("%s: cannot put it in place: %v", n, unwrapPath(err))
		}
		placed = append(placed, k)
	}
	return nil
}

// Abort removes the staging directories and whatever is in them. Safe to
// call more than once, and after Commit.
func (s *Set) Abort() {
	s.done = true
	for _, st := range s.stages {
		os.RemoveAll(st)
	}
	// Directories this run made go too unless they now hold outputs
	// (os.Remove leaves a non-empty directory alone).
	for i := len(s.made) - 1; i >= 0; i-- {
		os.Remove(s.made[i])
	}
}

// mkdirs makes d and its missing parents, remembering which it made.
func (s *Set) mkdirs(d string) error {
	var missing []string
	for p := d; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		s.made = append(s.made, missing[i])
	}
	return nil
}

// Err rewrites an error of the run for the user: staging paths become the
// final names, and a full filesystem is said plainly.
func (s *Set) Err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	dir := ""
	for _, d := range s.dirs {
		if strings.Contains(msg, s.stages[d]) && dir == "" {
			dir = d
		}
	}
	if isNoSpace(err) {
		if dir == "" && len(s.dirs) > 0 {
			dir = s.dirs[0]
		}
		return noSpace(dir, s.finalIn(msg))
	}
	var pairs []string
	for k := range s.final {
		pairs = append(pairs, s.staged[k], s.final[k])
	}
	for _, d := range s.dirs {
		pairs = append(pairs, s.stages[d]+"/work", d, s.stages[d], d)
	}
	return errors.New(strings.NewReplacer(pairs...).Replace(msg))
}

// finalIn names the output a message is about, if it names one.
func (s *Set) finalIn(msg string) string {
	for k, p := range s.staged {
		if strings.Contains(msg, p) {
			return s.final[k]
		}
	}
	return ""
}

func (s *Set) logf(format string, a ...any) {
	if s.log != nil {
		s.log(fmt.Sprintf(format, a...))
	}
}

// cleanStale removes the directories prefix+PID-* in dir of runs on this
// host whose process is gone (a staging directory, h5ad scratch), putting
// back first anything a staging directory had moved aside. A directory of
// another host sharing dir (NFS) is left alone: its PID means nothing here.
func cleanStale(dir, prefix string, logf func(string, ...any)) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := stagePID(e.Name(), prefix)
		if !ok || !e.IsDir() || pid == os.Getpid() || alive(pid) {
			continue
		}
		st := filepath.Join(dir, e.Name())
		// A staging directory without its host file is being made right
		// now, maybe by a run on another host sharing dir (runs split
		// with --shards, on a cluster), whose PID means nothing here: left
		// alone (one of a run killed in that instant stays, hidden). The
		// h5ad scratch directories have none (and are on this host).
		h, err := os.ReadFile(filepath.Join(st, "host"))
		if err == nil && string(h) != hostname() || err != nil && prefix == stagePrefix {
			continue
		}
		olds, _ := os.ReadDir(filepath.Join(st, "old"))
		for _, o := range olds {
			final := filepath.Join(dir, o.Name())
			if _, err := os.Lstat(final); errors.Is(err, os.ErrNotExist) {
				if os.Rename(filepath.Join(st, "old", o.Name()), final) == nil {
					logf("put back %s, moved aside by process %d which stopped while renaming", final, pid)
				}
			}
		}
		if err := os.RemoveAll(st); err == nil {
			logf("removed %s, left by process %d which is no longer running", st, pid)
		}
	}
}

var scratchOnce sync.Once

// cleanScratch removes the h5ad scratch directories (layout/h5ad, in the
// temporary directory) of runs killed before they could.
func cleanScratch(logf func(string, ...any)) {
	scratchOnce.Do(func() { cleanStale(os.TempDir(), "annslicer-src-", logf) })
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// stagePID parses PREFIX PID-RANDOM.
func stagePID(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// resolve is p as an absolute path with symlinks resolved, as far as it
// exists, so two spellings of one place compare equal.
func resolve(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		a = filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(a)); err == nil {
		return filepath.Join(r, filepath.Base(a))
	}
	return a
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// notAnInput refuses an output that would write, replace or remove an
// input: the same path (through symlinks), the same file (hard links), a
// path inside an input (a zarr store), or a directory holding an input.
func notAnInput(out string, inputs []string) error {
	ro := resolve(out)
	for _, in := range inputs {
		ri := resolve(in)
		why := ""
		switch {
		case ro == ri || sameFile(in, out):
			why = "is also an input (" + in + ")"
		case within(ro, ri):
			why = "is inside the input " + in
		case within(ri, ro):
			why = "holds the input " + in
		default:
			continue
		}
		return fmt.Errorf("%s: %s; an input is never written or replaced, even with --overwrite: write to another path", out, why)
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

func listNames(ps []string) string {
	ps = append([]string(nil), ps...)
	sort.Strings(ps)
	if len(ps) > 4 {
		return strings.Join(ps[:4], ", ") + fmt.Sprintf(" and %d more", len(ps)-4)
	}
	return strings.Join(ps, ", ")
}

func unwrapPath(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
