// Command annslicer shards AnnData files out of core, serves shards through
// FUSE without writing them, and merges shards back.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	rtdebug "runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/materialize"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
)

var debug bool

// moreCommands are registered by other files of this package (init).
var moreCommands []func() *cobra.Command

// interrupted: Ctrl-C, SIGTERM or SIGHUP stopped a run; nothing it wrote
// was left, and existing files are as they were.
type interrupted struct{}

func (interrupted) Error() string {
	return "interrupted; nothing was written and existing files are unchanged"
}

// usageError marks a wrong invocation (exit 2) as opposed to a failure (1).
type usageError struct{ error }

func main() {
	// First thing: a signal arriving while the source is being opened or
	// planned must already stop the run cleanly (exit 130, nothing left),
	// not kill it with the default action. Commands see it as the
	// cancellation of their context (cmd.Context()).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// Some steps (libhdf5 calls, a zarr group being written) notice the
	// signal only when they end: a second one stops the run at once, as
	// its default action, leaving only the staging directory (which the
	// next run removes).
	go func() { <-ctx.Done(); stop() }()
	// Garbage from read windows would otherwise let the heap float far above
	// what is live; a soft limit keeps peak RSS near the working set.
	rtdebug.SetMemoryLimit(memoryLimit)
	root := &cobra.Command{
		Use:           "annslicer",
		Short:         "Shard large AnnData files (.h5ad, .zarr) out of core, mount shards virtually, merge them back",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&debug, "debug", false, "log each step (one line per shard) on stderr")
	root.SetFlagErrorFunc(flagError)
	root.SetArgs(spreadNargs(os.Args[1:], "--always-include"))
	root.AddCommand(sliceCmd(), materializeCmd(), mountCmd(), unmountCmd())
	for _, c := range moreCommands {
		root.AddCommand(c())
	}
	addResourceFlags(root)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return applyResources(c) }
	completeFlagValues(root)
	if p := os.Getenv("ANNSLICER_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if p := os.Getenv("ANNSLICER_HEAPPROFILE"); p != "" {
		// the live heap at its largest so far (checked every 100 ms, the
		// profile rewritten when the heap has grown by a MiB): what holds
		// a run's memory at its peak, which a profile at the end misses
		go func() {
			var most uint64
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			for range time.Tick(100 * time.Millisecond) {
				metrics.Read(s)
				if live := s[0].Value.Uint64(); live > most+1<<20 {
					most = live
					if f, err := os.Create(p); err == nil {
						pprof.Lookup("heap").WriteTo(f, 0)
						f.Close()
					}
				}
			}
		}()
	}
	err := root.ExecuteContext(ctx)
	pprof.StopCPUProfile()
	if err != nil {
		var ue usageError
		if ctx.Err() != nil && !errors.As(err, &ue) {
			// Whatever the run was doing when it stopped, it stopped
			// because of the signal.
			err = interrupted{}
		}
		fmt.Fprintln(os.Stderr, "annslicer: "+oneLine(err.Error()))
		if errors.As(err, &interrupted{}) {
			os.Exit(130)
		}
		if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// memoryLimit is the soft limit of the Go heap: above the working set of
// a run from an h5ad source, whose reads go through small, reused buffers.
const memoryLimit = 48 << 20

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// shardFlags are the flags that define a shard plan, shared by slice,
// materialize and mount so they always mean the same shards.
type shardFlags struct {
	size        int64
	shuffle     bool
	seed        uint64
	compression string
	overwrite   bool
	format      string
	sel         selectFlags     // outputs from obs instead of fixed-size shards
	zarr        zarrFlags       // zarrflags.go
	coll        collectionFlags // INPUT globs, --inputs-from, --join: collection.go
	split       splitFlags      // --shards, --manifest: split.go
}

func (f *shardFlags) register(c *cobra.Command, writes bool) {
	c.Flags().Int64Var(&f.size, "size", 10000, "cells per shard (the last shard takes the rest)")
	c.Flags().BoolVar(&f.shuffle, "shuffle", false, "shuffle cells across shards (a random permutation of all cells)")
	c.Flags().Uint64Var(&f.seed, "seed", 0, "seed of the shuffle (requires --shuffle); the same seed always gives the same shards")
	c.Flags().StringVar(&f.format, "format", "h5ad", "format of the shards: h5ad or zarr")
	f.zarr.register(c)
	f.coll.register(c)
	if writes {
		c.Flags().StringVar(&f.compression, "compression", "", "h5ad shards: gzip or lzf (default none: the fastest, and byte-identical to the mounted shards); zarr shards: blosc (default, lz4 as anndata), zstd, gzip, zlib or none (byte-identical to the mounted shards)")
		c.Flags().BoolVar(&f.overwrite, "overwrite", false, "replace shard files that already exist")
	}
	f.sel.register(c, c.Name() != "slice")
	f.split.register(c, writes)
}

// outputs are the outputs of src: from obs (--obs-column, --filter), or
// fixed-size shards, this run's share of them (--shards); and the source
// they are cut from (src, unless a column comes from elsewhere).
func (f *shardFlags) outputs(c *cobra.Command, src *tree.Source) (*selection.Set, *tree.Source, error) {
	if f.sel.active() {
		set, src, err := f.sel.outputs(src)
		return f.split.part(set), src, err
	}
	p, err := f.plan(c, src.NObs)
	if err != nil {
		return nil, nil, err
	}
	return f.split.part(selection.FromPlan(p)), src, nil
}

func (f *shardFlags) plan(c *cobra.Command, n int64) (*engine.Plan, error) {
	var seed *uint64
	if c.Flags().Changed("seed") {
		seed = &f.seed
	}
	p, err := engine.NewPlan(n, f.size, f.shuffle, seed)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

func (f *shardFlags) validate() error {
	if f.size <= 0 && !f.sel.active() {
		return usageError{fmt.Errorf("--size must be a positive number of cells, got %d", f.size)}
	}
	switch f.format {
	case "h5ad":
		switch f.compression {
		case "", "gzip", "lzf":
		default:
			return usageError{fmt.Errorf("--compression %q is not supported for h5ad shards: use gzip or lzf", f.compression)}
		}
	case "zarr":
	default:
		return usageError{fmt.Errorf("--format %q is not supported: use h5ad or zarr", f.format)}
	}
	if err := f.split.check(f); err != nil {
		return err
	}
	return f.zarr.check(f.format == "zarr")
}

// isZarr reports whether path names a zarr store (a directory *.zarr).
func isZarr(path string) bool { return materialize.IsZarr(path) }

// shardJob is a slice/materialize run as the flags give it.
type shardJob struct {
	Cmd       *cobra.Command
	Flags     *shardFlags
	Input     string
	Name      func(k int, stem string) string // output path of output k, named stem (shard_3, a category)
	Given     int                             // names supplied by --names, -1 when generated
	NamesFile string
	// Stale lists the outputs of an earlier run with the same names and
	// more shards than n (nil with --names): replaced with the set.
	Stale func(n int) []stale
}

func sliceCmd() *cobra.Command {
	var f shardFlags
	var namesFile string
	c := &cobra.Command{
		Use:   "slice INPUT OUT_PREFIX",
		Short: "Write the shards of INPUT as OUT_PREFIX_shard_0.h5ad, OUT_PREFIX_shard_1.h5ad, ... (with --obs-column: OUT_PREFIX_{category}.h5ad)",
		Args:  collectionArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			input, rest := f.coll.split(c, args, 2)
			args = append([]string{input}, rest...)
			var names []string
			if namesFile != "" {
				var err error
				if names, err = readNames(namesFile); err != nil {
					return err
				}
			}
			job := shardJob{Cmd: c, Flags: &f, Input: args[0], Given: len(names), NamesFile: namesFile}
			job.Name = func(k int, stem string) string {
				if names != nil {
					return names[k]
				}
				return fmt.Sprintf("%s_%s.%s", args[1], stem, f.format)
			}
			if names == nil {
				job.Stale = func(n int) []stale { return staleShards(args[1]+"_shard_", f.format, n) }
			}
			return runShards(job)
		},
	}
	f.register(c, true)
	c.Flags().StringVar(&namesFile, "names", "", "file with one output path per line, used instead of OUT_PREFIX_shard_N.h5ad|zarr (at least one per shard)")
	return c
}

// readNames reads --names: one output path per line, blank lines ignored.
func readNames(path string) ([]string, error) { return readPaths(path, "names file") }

// readPaths reads a file of paths (--names, --inputs-from), one per line
// as written (relative ones from the working directory), blank lines
// ignored.
func readPaths(path, what string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the %s: %v", path, what, errors.Unwrap(err))
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names, nil
}

func materializeCmd() *cobra.Command {
	var f shardFlags
	c := &cobra.Command{
		Use:   "materialize INPUT OUTDIR",
		Short: "Write OUTDIR/shard_N.h5ad (OUTDIR/{category}.h5ad, OUTDIR/filtered.h5ad): the files `annslicer mount` shows with the same flags",
		Args:  collectionArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			input, rest := f.coll.split(c, args, 2)
			args = append([]string{input}, rest...)
			// OUTDIR is made when missing (by the output set, which
			// removes it again if the run writes nothing).
			return runShards(shardJob{Cmd: c, Flags: &f, Input: args[0], Given: -1,
				Name: func(k int, stem string) string {
					return filepath.Join(args[1], stem+"."+f.format)
				},
				Stale: func(n int) []stale { return staleShards(filepath.Join(args[1], "shard_"), f.format, n) },
			})
		},
	}
	f.register(c, true)
	return c
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s (%s), got %d", c.Name(), plural(n, "argument"), strings.Join(strings.Fields(c.Use)[1:], " "), len(args))}
		}
		return nil
	}
}

// runShards writes every shard as one output set (materialize.Slice).
func runShards(job shardJob) error {
	c, f, input := job.Cmd, job.Flags, job.Input
	if err := f.sel.check(c); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if c.Flags().Changed("seed") && !f.shuffle && !f.sel.active() {
		return usageError{errors.New("--seed only applies with --shuffle")}
	}
	var codec zarr.Codec
	if f.format == "zarr" {
		var err error
		if codec, err = f.zarr.layout().Codec(f.compression); err != nil {
			return usageError{err}
		}
	}
	inputs, err := f.coll.inputs(input)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(inputs, isZarr) {
		if err := holdZarrCache(f.shuffle); err != nil {
			return err
		}
	}
	src, err := f.coll.open(c, inputs)
	if err != nil {
		return err
	}
	input = materialize.CollectionName(inputs)
	defer src.Close()
	set, src, err := f.outputs(c, src)
	if err != nil {
		return err
	}
	if set.Total() == 0 {
		logf("warning: no output: every category of obs column %q is empty or always included; nothing was written", set.Column)
		return nil
	}
	if set.Shards() == 0 {
		logf("warning: --shards %s: none of the %d outputs is this run's (no index k from 0 to %d has k mod %d = %d); no shard was written", f.split.shards, set.Total(), set.Total()-1, f.split.count(), f.split.index())
		if f.split.manifest == "" {
			return nil
		}
	}
	names, extra, err := job.outputs(set)
	if err != nil {
		return err
	}
	if plan := set.Plan(); debug && plan != nil {
		// python/annslicer reads this line (_PLAN_LINE)
		logf("%s: %d cells -> %d shards of %d (shuffle=%v seed=%d format=%s)%s", input, src.NObs, set.Total(), plan.Size, plan.Shuffle, plan.Seed, f.format, f.split.said(set))
	} else if debug {
		logf("%s: %d cells -> %d outputs by obs column %q (format=%s)%s", input, src.NObs, set.Total(), set.Column, f.format, f.split.said(set))
	}
	j := materialize.Job{Source: src, Inputs: inputs, Outputs: set, Names: names, Format: f.format, Codec: codec, Zarr: f.zarr.layout(),
		Overwrite: f.overwrite, Extra: extra, Progress: newProgress(), Ctx: c.Context(), Log: debugLog}
	if f.format != "zarr" {
		j.Compression = f.compression
	}
	if f.split.manifest != "" {
		j.Manifest = f.split.manifest
		if j.ManifestDoc, err = materialize.ManifestOf(set, names, f.split.manifestDir(), f.format, f.zarr.layout(), src); err != nil {
			return err
		}
	}
	return job.setErr(materialize.Slice(j))
}

// outputs names the outputs of set, and the earlier shards they replace.
func (job shardJob) outputs(set *selection.Set) (names, extra []string, err error) {
	if job.NamesFile != "" && job.Given < set.Total() {
		return nil, nil, usageError{fmt.Errorf("%s: %d names for %d shards; give one output path per shard", job.NamesFile, job.Given, set.Total())}
	}
	names = make([]string, set.Shards())
	for k := range names {
		names[k] = job.Name(set.Index(k), set.Name(k))
	}
	if job.Stale != nil && set.Plan() != nil {
		// Compared to every shard of the plan, not this run's share. Any
		// of them refuses the run without --overwrite (every run of a
		// split says the same); with it, a run removes only those of its
		// own share, so that N runs never touch the same file.
		for _, st := range job.Stale(set.Total()) {
			if !job.Flags.overwrite || job.Flags.split.owns(st.k) {
				extra = append(extra, st.path)
			}
		}
	}
	return names, extra, nil
}

// setErr says which names file a duplicate name comes from (a usage error).
func (job shardJob) setErr(err error) error {
	var dup *materialize.DuplicateError
	if errors.As(err, &dup) && dup.Manifest {
		return usageError{err}
	}
	if errors.As(err, &dup) && job.NamesFile != "" {
		return usageError{fmt.Errorf("%s: %v", job.NamesFile, err)}
	}
	return err
}

// stale is a shard of an earlier run: its path, and its index k.
type stale struct {
	path string
	k    int
}

// staleShards lists the files STEM<K>.EXT (K written plainly) with K >= n:
// shards of an earlier run with the same names and more shards.
func staleShards(stem, ext string, n int) []stale {
	dir, base := filepath.Dir(stem), filepath.Base(stem)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []stale
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, "."+ext)
		if k, err := strconv.Atoi(num); ok && err == nil && k >= n && strconv.Itoa(k) == num {
			out = append(out, stale{filepath.Join(dir, e.Name()), k})
		}
	}
	return out
}

// debugLog is where housekeeping is told with --debug.
func debugLog(msg string) {
	if debug {
		logf("%s", msg)
	}
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "annslicer: "+format+"\n", a...) }
