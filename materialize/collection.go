package materialize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/zarr"
	"github.com/annslicer/annslicer/tree"
)

// CollectionOptions say how the files of a collection join.
type CollectionOptions struct {
	Join string           // "outer" (default) or "inner": how differing var names combine
	Keys engine.InputKeys // anndata.concat's label, keys and index_unique
	Warn func(msg string) // hears about elements left out; may be nil
	Ctx  context.Context  // cancelled: stop checking the inputs
}

// OpenCollection opens one source, or many as one: the files' cells in
// order, var joined, obs columns united, categories unified, exactly as
// merge writes them. It is merge's plan (engine.PlanMerge), whose arrays
// read the files by range, read back as a source (tree.PlanSource): any
// output cut from it (shards, a shuffle of every cell of every file,
// categories, a mount) reads the files where they are, a bounded number
// of them open at once, and nothing of the atlas is written first.
func OpenCollection(inputs []string, o CollectionOptions) (*tree.Source, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	if !o.Joins(inputs) {
		return OpenSource(inputs[0])
	}
	merged, err := o.plan(inputs, zarr.NewCache(ZarrCacheBytes), o.Warn)
	if err != nil {
		return nil, err
	}
	src, err := tree.PlanSource(merged.Plan, CollectionName(inputs))
	if err != nil {
		merged.Close()
		return nil, err
	}
	src.Parts = merged.Parts()
	return src, nil
}

// Joins reports whether inputs are a collection rather than one plain
// source: several files, or one whose cells are labelled or renamed.
func (o CollectionOptions) Joins(inputs []string) bool {
	return len(inputs) > 1 || o.Keys.Label != "" || o.Keys.IndexUnique
}

// plan is merge's plan of the inputs, its warnings told to warn (nil:
// not told).
func (o CollectionOptions) plan(inputs []string, cache *zarr.Cache, warn func(string)) (*engine.Merged, error) {
	if o.Join == "" {
		o.Join = "outer"
	}
	if o.Join != "outer" && o.Join != "inner" {
		return nil, fmt.Errorf("--join %q: use outer or inner", o.Join)
	}
	merged, err := engine.PlanMerge(inputs, engine.MergeOptions{
		Join: o.Join, Keys: o.Keys, Ctx: o.Ctx,
		Open: func(p string) (*tree.Source, error) { return openSource(p, cache) },
	})
	if err == nil && warn != nil {
		for _, w := range merged.Warnings {
			warn(w)
		}
	}
	return merged, err
}

// CollectionName names a collection in messages: its one file, or its
// first file and how many follow.
func CollectionName(inputs []string) string {
	if len(inputs) == 1 {
		return inputs[0]
	}
	return fmt.Sprintf("%s (and %d more inputs)", inputs[0], len(inputs)-1)
}

// inputStamps notices a changed input of a collection (mount): each
// input's size, mtime and ctime (a zarr store's: its directory's and its
// metadata's), compared at most once a second, so a check costs nothing
// on most reads however many inputs there are.
type inputStamps struct {
	mu     sync.Mutex
	paths  []string
	stamps []stamp
	last   time.Time
	err    error
}

type stamp struct {
	size         int64
	mtime, ctime syscall.Timespec
	ino          uint64
	found        bool
}

func stampOf(p string) stamp {
	var st syscall.Stat_t
	if syscall.Stat(p, &st) != nil {
		return stamp{}
	}
	return stamp{size: st.Size, mtime: st.Mtim, ctime: st.Ctim, ino: st.Ino, found: true}
}

func newInputStamps(inputs []string) *inputStamps {
	s := &inputStamps{last: time.Now()}
	for _, in := range inputs {
		s.paths = append(s.paths, in)
		if IsZarr(in) {
			for _, meta := range []string{".zmetadata", "zarr.json"} {
				if _, err := os.Stat(filepath.Join(in, meta)); err == nil {
					s.paths = append(s.paths, filepath.Join(in, meta))
				}
			}
		}
	}
	for _, p := range s.paths {
		s.stamps = append(s.stamps, stampOf(p))
	}
	return s
}

func (s *inputStamps) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || time.Since(s.last) < time.Second {
		return s.err
	}
	s.last = time.Now()
	for i, p := range s.paths {
		if stampOf(p) != s.stamps[i] {
			s.err = fmt.Errorf("%s: changed since it was mounted; unmount and mount again", p)
			return s.err
		}
	}
	return nil
}
