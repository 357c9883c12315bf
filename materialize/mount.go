package materialize

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/layout/zarrad"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
	"github.com/annslicer/annslicer/vfs"
)

// Mount serves the shards of one source, any format to any format, as
// images made on first use (what vfs serves): h5ad shards as a skeleton
// plus extents (h5ad.EncodeImage), zarr shards as entries
// (zarrad.Entries). Their bytes are those Slice writes.
type Mount struct {
	tree     *tree.Source
	set      *selection.Set
	shards   []Shard
	manifest image.File
	dir      string       // scratch directory for h5ad skeletons
	changed  func() error // exact and cheap: see h5ad.Pin, zarrad.Pin
	built    func() error // after a build: its directory listings held
	log      func(msg string)
	zarr     zarrad.Layout
	plan     func(i int) (*tree.Plan, error) // output i's plan
	planned  recentPlans                     // FileSize's, for OpenFile
	maxCells int64
}

// Shard names one shard of a mount: vfs's own type, so that the list a
// mount makes is the one vfs serves, not copied (100,000 shards: 2.4 MB).
type Shard = vfs.ShardInfo

// MountOptions say what to mount.
type MountOptions struct {
	Input string
	// Collection, when not nil, makes Inputs one source (OpenCollection);
	// Input then only names it.
	Collection *CollectionOptions
	Inputs     []string
	Format     string // of the shards: "h5ad" or "zarr"
	Dir        string // scratch directory (removed by the caller after unmount)
	// Pin is the pinned h5ad input (h5ad.PinFile, taken before anything
	// reads it); nil for a zarr store, which is pinned here.
	Pin *h5ad.Pin
	// Select makes the outputs once the source is open (fixed-size
	// shards: selection.FromPlan; categories, a filter: from its obs),
	// and the source they are cut from: src, or a source over src (whose
	// Close closes src) with a column of obs from elsewhere.
	Select func(src *tree.Source) (*selection.Set, *tree.Source, error)
	Zarr   zarrad.Layout    // of zarr shards
	Log    func(msg string) // nil: quiet
}

// OpenMount opens the input and plans its shards. A zarr store is pinned
// before anything reads it, and every file the store reads afterwards is
// checked against the pin.
func OpenMount(o MountOptions) (*Mount, error) {
	m := &Mount{dir: o.Dir, log: o.Log, zarr: o.Zarr, built: func() error { return nil }}
	if m.log == nil {
		m.log = func(string) {}
	}
	if o.Collection != nil {
		// Every input is checked once, and its stamps kept: a change is
		// caught within a second (a read then fails), not exactly as a
		// single source's pin does, which would cost a lease or a stat
		// per input and read.
		stamps := newInputStamps(o.Inputs)
		t, err := OpenCollection(o.Inputs, *o.Collection)
		if err != nil {
			return nil, err
		}
		m.tree, m.changed = t, stamps.check
	} else if IsZarr(o.Input) {
		zp, err := zarrad.PinStore(o.Input)
		if err != nil {
			return nil, err
		}
		cache := zarr.NewCache(ZarrCacheBytes)
		cache.SetReadFile(zp.ReadFile)
		t, err := zarrad.OpenTree(o.Input, cache)
		if err != nil {
			return nil, err
		}
		if zp.Verify() != nil {
			t.Close()
			return nil, fmt.Errorf("%s: changed while it was being opened; mount it again once the writer is done", o.Input)
		}
		m.tree, m.changed, m.built = t, zp.Check, zp.VerifyDirs
	} else {
		src, err := h5ad.Open(o.Input)
		if err != nil {
			return nil, err
		}
		if err := o.Pin.Bind(src); err != nil {
			src.Close()
			return nil, err
		}
		m.tree, m.changed = src.Tree(), o.Pin.Check
		m.tree.Closer = src.Close
	}
	if src, ok := m.tree.Native.(*h5ad.Source); ok && o.Dir != "" {
		// its template goes under the mount's scratch directory, like
		// everything else the mount makes
		src.ScratchIn(o.Dir)
	}
	set, cut, err := o.Select(m.tree)
	if err != nil {
		m.tree.Close()
		return nil, err
	}
	m.set, m.tree = set, cut
	m.shards, m.manifest = shardList(set, o.Format, o.Zarr, m.tree)
	m.maxCells = set.MaxCount()
	m.plan = func(i int) (*tree.Plan, error) { return engine.PlanShard(m.tree, m.set.Rows(i)) }
	return m, nil
}

// Close releases the source, after unmount.
func (m *Mount) Close() {
	m.planned.closeAll()
	m.tree.Close()
}

func (m *Mount) Shards() []Shard      { return m.shards }
func (m *Mount) MaxCells() int64      { return m.maxCells }
func (m *Mount) Manifest() image.File { return m.manifest }

// Check is exact and cheap (see h5ad.Pin, zarrad.Pin), so it runs on
// every call.
func (m *Mount) Check() error { return m.changed() }

// OpenFile builds the image of h5ad shard i.
func (m *Mount) OpenFile(i int) (image.File, error) {
	start := time.Now()
	z := m.planned.take(i)
	if z == nil {
		var err error
		if z, err = m.plan(i); err != nil {
			return nil, err
		}
	}
	im, err := h5ad.EncodeImage(z, m.dir) // owns z from here
	if err != nil {
		return nil, srcErr(z, err)
	}
	if err := m.built(); err != nil {
		return nil, err
	}
	m.log(fmt.Sprintf("built image of %s (%d bytes) in %.3fs", m.shards[i].Name, im.Size(), time.Since(start).Seconds()))
	return im, nil
}

// FileSize is h5ad shard i's size, its bytes not made (vfs.FileSizer).
// The plan is kept for OpenFile: a lookup is mostly followed by a read,
// and a shard of a collection or a shuffle costs more to plan than to
// encode.
func (m *Mount) FileSize(i int) (int64, error) { return m.size(i, true) }

// FileSizeAhead is FileSize for a shard a lookup has not asked for yet
// (vfs sizes shards ahead of `ls -l`): its plan is not kept.
func (m *Mount) FileSizeAhead(i int) (int64, error) { return m.size(i, false) }

// size plans shard i and lays it out; keep hands the plan to OpenFile.
func (m *Mount) size(i int, keep bool) (int64, error) {
	z, err := m.plan(i)
	if err != nil {
		return 0, err
	}
	n, err := h5ad.EncodedSize(z, m.dir)
	if err != nil {
		z.Close()
		return 0, srcErr(z, err)
	}
	if keep {
		m.planned.put(i, z)
	} else {
		z.Close()
	}
	return n, nil
}

// KeepPlans sets how many plans FileSize keeps for the reads that follow
// (default 4): a kept plan costs about what a built image does, so the
// caller bounds both alike.
func (m *Mount) KeepPlans(n int) {
	m.planned.mu.Lock()
	m.planned.max = n
	m.planned.mu.Unlock()
}

// recentPlans keeps the last plans FileSize made (a bounded number:
// lookups of thousands of shards must not hold thousands of plans).
type recentPlans struct {
	mu    sync.Mutex
	max   int // 0: 4
	idx   []int
	plans []*tree.Plan
}

func (r *recentPlans) put(i int, z *tree.Plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idx, r.plans = append(r.idx, i), append(r.plans, z)
	limit := r.max
	if limit <= 0 {
		limit = 4
	}
	if len(r.plans) > limit {
		r.plans[0].Close()
		r.idx, r.plans = r.idx[1:], r.plans[1:]
	}
}

// closeAll closes every kept plan (the mount is over).
func (r *recentPlans) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, z := range r.plans {
		z.Close()
	}
	r.idx, r.plans = nil, nil
}

// take removes and returns shard i's plan, or nil.
func (r *recentPlans) take(i int) *tree.Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, j := range r.idx {
		if j == i {
			z := r.plans[k]
			r.idx = append(r.idx[:k], r.idx[k+1:]...)
			r.plans = append(r.plans[:k], r.plans[k+1:]...)
			return z
		}
	}
	return nil
}

// OpenTree builds the files of zarr shard i.
func (m *Mount) OpenTree(i int) ([]image.Entry, error) {
	start := time.Now()
	z, err := m.plan(i)
	if err != nil {
		return nil, err
	}
	entries, err := m.zarr.Entries(z)
	if err == nil {
		err = m.built()
	}
	if err != nil {
		z.Close()
		return nil, srcErr(z, err)
	}
	// vfs drops trees it no longer caches without telling anyone, and a
	// reader may still hold one: release the shard once it is unreachable.
	if len(entries) > 0 {
		runtime.AddCleanup(&entries[0], func(z *tree.Plan) { z.Close() }, z)
	} else {
		z.Close()
	}
	m.log(fmt.Sprintf("built %s (%d files) in %.3fs", m.shards[i].Name, len(entries), time.Since(start).Seconds()))
	return entries, nil
}
