package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	rtdebug "runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/materialize"
)

// --jobs, --memory-limit and --tmpdir: the Python tool's names for how
// much of the machine a run may use, and what they mean for this engine.

// resourceCommands take the flags: every command that reads a source.
var resourceCommands = map[string]bool{"slice": true, "materialize": true, "merge": true, "filter": true, "mount": true}

type resourceFlags struct {
	jobs   int
	memory string
	tmpdir string
}

var resFlags resourceFlags

// addResourceFlags registers the flags on the commands of resourceCommands.
func addResourceFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		if !resourceCommands[c.Name()] {
			continue
		}
		c.Flags().IntVarP(&resFlags.jobs, "jobs", "j", 0, "shards written (or inputs read) at once, and the cores used (default: every core, at most 4 shards at once)")
		c.Flags().StringVar(&resFlags.memory, "memory-limit", "", "bound on the memory of the run, e.g. 16GB (10^9), 16GiB (2^30), 512MB or plain bytes (default: half of RAM or of the cgroup limit); caches and batches are sized to fit")
		c.Flags().StringVar(&resFlags.tmpdir, "tmpdir", "", "directory for scratch files (default: $TMPDIR or /tmp)")
	}
}

// minMemory is the least a run is given: below it, peak RSS passed the
// limit (a zarr source at 70 MB peaked at 83 MB: the program, libhdf5,
// libblosc, the smallest chunk cache and a shard's buffers).
const minMemory = 96 << 20

// applyResources turns the flags into the engine's settings, before the
// command runs (the root's PersistentPreRunE).
func applyResources(c *cobra.Command) error {
	if !resourceCommands[c.Name()] {
		return nil
	}
	if c.Flags().Changed("jobs") {
		if resFlags.jobs < 1 {
			return usageError{fmt.Errorf("--jobs must be at least 1, got %d", resFlags.jobs)}
		}
		runtime.GOMAXPROCS(resFlags.jobs)
		materialize.Workers = resFlags.jobs
	}
	limit := defaultMemory()
	if c.Flags().Changed("memory-limit") {
		n, err := parseSize(resFlags.memory)
		if err != nil {
			return usageError{fmt.Errorf("--memory-limit: %v", err)}
		}
		if n < minMemory {
			return usageError{fmt.Errorf("--memory-limit %s is below the %d MiB annslicer needs at least; give more", resFlags.memory, minMemory>>20)}
		}
		limit = n
	}
	setMemoryBudget(limit)
	if c.Flags().Changed("tmpdir") {
		d := resFlags.tmpdir
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return usageError{fmt.Errorf("--tmpdir %s: not an existing directory; create it first", d)}
		}
		// Every scratch file of the engine is made under os.TempDir().
		os.Setenv("TMPDIR", d)
	}
	return nil
}

// setMemoryBudget sizes what a run holds to limit: the Go heap's soft
// limit keeps the collector working before the total would pass it
// (outsideGo is left to what is not Go's: the program, libhdf5, libc),
// and holdZarrCache gives the zarr chunk cache at most half of what is
// left above the floor.
func setMemoryBudget(limit int64) {
	budget = limit
	applyLimit()
	watchLive()
}

// held is Go memory a run keeps on purpose (the zarr chunk cache and its
// decode headroom); the soft limit is memoryLimit above it, within the
// budget.
// Atomic: the live-heap watcher reads it while a command sets it.
var held atomic.Int64

func applyLimit() {
	rtdebug.SetMemoryLimit(goLimit(memoryLimit + held.Load() + liveAbove.Load()))
}

// liveAbove is how far the live heap went above what memoryLimit is for
// (a source's working set): a collection's plan holds every input's obs
// names and columns, and its shuffled shards gather from all of them
// (about 175 MB live for 10 files of 100k cells). With the soft limit
// below what is live the collector never paused: 400 cycles, a third of
// the CPU, in a 14 s shuffled slice of that collection. So the limit
// follows the live heap up (watchLive), keeping memoryLimit of headroom
// for garbage; it bounds garbage, not what the run needs.
var liveAbove atomic.Int64

// watchLive raises the soft limit as the live heap grows, every 50 ms.
func watchLive() {
	watchOnce.Do(func() {
		go func() {
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			for range time.Tick(50 * time.Millisecond) {
				metrics.Read(s)
				if s[0].Value.Kind() != metrics.KindUint64 {
					return
				}
				if live := int64(s[0].Value.Uint64()) - liveFloor - held.Load(); live > liveAbove.Load() {
					liveAbove.Store(live)
					applyLimit()
				}
			}
		}()
	})
}

var watchOnce sync.Once

// liveFloor is the live heap memoryLimit already allows for (a run from
// one h5ad source stays below it: its limit never moves).
const liveFloor = 32 << 20

// goLimit is want, the Go memory a run would like, within the budget.
func goLimit(want int64) int64 { return max(16<<20, min(want, budget-outsideGo)) }

// outsideGo is the resident memory that is not the Go runtime's: the
// program's text, libhdf5, libblosc and libc (peak RSS stayed under the
// limit with 40 MiB, not with 32).
const outsideGo = 40 << 20

// budget is the run's memory limit (setMemoryBudget).
var budget int64 = 4e9

// Decoded zarr chunks are kept for reuse: a shuffled plan comes back to
// the same chunk for every shard (the shards of a group are written in
// lockstep, materialize/lockstep.go), so it keeps many; a contiguous plan
// or a merge reads each chunk once, in order, and a small cache is as
// fast (measured on the 200k-cell bench store: 1.30 s and 98 MB peak
// with 16 MiB, against 1.37 s and 213 MB with 128 MiB).
const (
	shuffleCacheBytes = 128 << 20
	orderedCacheBytes = 16 << 20
	// decodeHeadroom is heap above the cache for chunks being decoded:
	// every chunk read is a new compressed and a new decoded buffer, and
	// with the soft limit right above the cache the collector ran 76
	// times in a 1 s slice (0.91 s; with 32 MiB more, 0.80 s).
	decodeHeadroom = 32 << 20
)

// shuffleMinMemory is the least a shuffled zarr source runs in: its
// shards gather rows from every chunk, and with a cache smaller than the
// chunks of one array they decode a chunk per row (at a 100 MB limit a
// 200k-cell slice took 12.6 s instead of 2 s, and peaked at 148 MB).
const shuffleMinMemory = 256 << 20

// holdZarrCache sizes the zarr chunk cache of a run (shuffled or not)
// within its budget, and raises the heap's soft limit by it: with the
// cache above the limit the collector would run on nearly every
// allocation.
func holdZarrCache(shuffled bool) error {
	want := int64(orderedCacheBytes)
	if shuffled {
		if budget < shuffleMinMemory {
			return usageError{fmt.Errorf("--memory-limit %s: shuffling a zarr source needs at least %d MiB; give more, or shuffle an .h5ad copy", resFlags.memory, shuffleMinMemory>>20)}
		}
		want = shuffleCacheBytes
	}
	cache := min(want, max(8<<20, (budget-minMemory)/2))
	materialize.ZarrCacheBytes = cache
	held.Store(cache + decodeHeadroom)
	applyLimit()
	return nil
}

var sizeRE = regexp.MustCompile(`(?i)^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgt]?)(i?)b?\s*$`)

// parseSize reads a byte count as the Python tool does: K, M, G, T are
// powers of 1000, with an i (GiB) powers of 1024; a plain number is bytes.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size; use e.g. 16GB, 16GiB, 512MB or a number of bytes", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size; use e.g. 16GB, 16GiB, 512MB or a number of bytes", s)
	}
	base := 1000.0
	if m[3] != "" {
		base = 1024
	}
	if m[2] != "" {
		v *= math.Pow(base, float64(strings.Index("kmgt", strings.ToLower(m[2]))+1))
	}
	if v >= math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return int64(v), nil
}

// defaultMemory is half of RAM, or of the cgroup's limit when lower, as
// the Python tool's default.
func defaultMemory() int64 {
	total := int64(0)
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
				total = kb << 10
				break
			}
		}
		f.Close()
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
				total = n
			}
		}
	}
	if total == 0 {
		return 4e9 // unknown: the Python tool's fallback
	}
	return total / 2
}
