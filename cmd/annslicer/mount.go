package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/layout/image"
	"github.com/annslicer/annslicer/vfs"
)

func mountCmd() *cobra.Command {
	var f shardFlags
	c := &cobra.Command{
		Use:   "mount INPUT MOUNTPOINT",
		Short: "Serve every shard of INPUT as MOUNTPOINT/shard_N.h5ad, made on read (read-only FUSE; runs until Ctrl-C or `annslicer unmount`)",
		Args:  exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return runMount(c, &f, args[0], args[1])
		},
	}
	f.register(c, false)
	return c
}

func unmountCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount a running `annslicer mount`",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := vfs.Unmount(args[0]); err != nil {
				return fmt.Errorf("%s: %v", args[0], err)
			}
			return nil
		},
	}
}

func runMount(c *cobra.Command, f *shardFlags, input, mnt string) error {
	if st, err := os.Stat(mnt); err != nil {
		return fmt.Errorf("%s: no such file or directory; create the mount point first", mnt)
	} else if !st.IsDir() {
		return fmt.Errorf("%s: not a directory; the mount point must be an existing directory", mnt)
	}
	dir, err := os.MkdirTemp("", "annslicer-mount-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var ms vfs.Source
	if isZarr(input) || f.format == "zarr" {
		if zarrMountSource == nil {
			return fmt.Errorf("%s: zarr is not supported yet", input)
		}
		zs, closeFn, err := zarrMountSource(c, f, input, dir)
		if err != nil {
			return err
		}
		defer closeFn()
		ms = zs
	} else {
		src, plan, err := openPlanned(c, f, input)
		if err != nil {
			return err
		}
		defer src.Close()
		ms = newMountSource(src, plan, dir, input)
	}
	srv, err := vfs.Mount(mnt, ms, vfs.Options{
		Debug:     debug && os.Getenv("ANNSLICER_FUSE_DEBUG") == "1",
		Logger:    log.New(os.Stderr, "annslicer: ", 0),
		MaxImages: maxImages(f.size),
	})
	if err != nil {
		return fmt.Errorf("%s: cannot mount: %v", mnt, err)
	}
	fmt.Printf("annslicer: %d shards of %s mounted at %s (Ctrl-C or `annslicer unmount %s` to unmount)\n", len(ms.Shards()), input, mnt, mnt)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		if err := srv.Unmount(); err != nil {
			logf("%s: unmount: %v", mnt, err)
		}
	}()
	srv.Wait()
	if debug {
		logf("%s: unmounted", mnt)
	}
	return nil
}

// A built image keeps O(its cells) of row offsets (two int64 per cell and
// sparse matrix); the number kept built is bounded so that they stay
// within imageBudget whatever the shard size.
const (
	imageBudget      = 64 << 20
	imageBytesPerRow = 64
)

func maxImages(size int64) int {
	return int(max(8, min(256, imageBudget/(max(size, 1)*imageBytesPerRow))))
}

// zarrMountSource serves zarr shards (from an h5ad or zarr input, or h5ad
// shards of a zarr input); set by zarr.go. dir is a scratch directory
// removed after unmount; closeFn runs after unmount.
var zarrMountSource func(c *cobra.Command, f *shardFlags, input, dir string) (src vfs.Source, closeFn func(), err error)

// mountSource serves a plan's shards as h5ad images built on first use.
type mountSource struct {
	src      *h5ad.Source
	plan     *engine.Plan
	dir      string
	shards   []vfs.ShardInfo
	manifest []byte

	mu   sync.Mutex
	last time.Time // of the last stat
	err  error     // sticky: a changed source never comes back
}

func newMountSource(src *h5ad.Source, plan *engine.Plan, dir, input string) *mountSource {
	ms := &mountSource{src: src, plan: plan, dir: dir}
	ms.shards, ms.manifest = shardList(plan, "h5ad", input, src.NObs)
	return ms
}

// shardList names the shards of a mount and writes its shards.json: the
// input, the plan (with the seed actually used, so the same shards can be
// materialized later) and every shard's name and cell count.
func shardList(plan *engine.Plan, format, input string, nobs int64) ([]vfs.ShardInfo, []byte) {
	type shardJSON struct {
		Name  string `json:"name"`
		Cells int64  `json:"cells"`
	}
	var infos []vfs.ShardInfo
	var list []shardJSON
	for k := 0; k < plan.Shards(); k++ {
		info := vfs.ShardInfo{Name: fmt.Sprintf("shard_%d.%s", k, format), Cells: plan.Count(k)}
		infos = append(infos, info)
		list = append(list, shardJSON{info.Name, info.Cells})
	}
	abs, _ := filepath.Abs(input)
	var seed *uint64
	if plan.Shuffle {
		seed = &plan.Seed
	}
	manifest, _ := json.MarshalIndent(struct {
		Input   string      `json:"input"`
		Format  string      `json:"format"`
		NObs    int64       `json:"n_obs"`
		Size    int64       `json:"size"`
		Shuffle bool        `json:"shuffle"`
		Seed    *uint64     `json:"seed"`
		Shards  []shardJSON `json:"shards"`
	}{abs, format, nobs, plan.Size, plan.Shuffle, seed, list}, "", "  ")
	return infos, append(manifest, '\n')
}

func (m *mountSource) Shards() []vfs.ShardInfo { return m.shards }
func (m *mountSource) Manifest() []byte        { return m.manifest }

func (m *mountSource) OpenFile(i int) (image.File, error) {
	start := time.Now()
	im, err := engine.H5ADImage(m.src, m.plan.Rows(i), m.dir)
	if err != nil {
		return nil, err
	}
	if debug {
		logf("built image of %s (%d bytes) in %.3fs", m.shards[i].Name, im.Size(), time.Since(start).Seconds())
	}
	return im, nil
}

func (m *mountSource) OpenTree(i int) ([]image.Entry, error) {
	return nil, fmt.Errorf("%s: zarr shards are not supported yet", m.shards[i].Name)
}

// checkEvery bounds how often a read stats the source.
const checkEvery = 50 * time.Millisecond

func (m *mountSource) Check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil && time.Since(m.last) >= checkEvery {
		m.err = m.src.Changed()
		m.last = time.Now()
	}
	return m.err
}
