package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
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
	var allowOther bool
	c := &cobra.Command{
		Use:   "mount INPUT MOUNTPOINT",
		Short: "Serve every shard of INPUT as MOUNTPOINT/shard_N.h5ad, made on read (read-only FUSE; runs until Ctrl-C or `annslicer unmount`)",
		Args:  exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return runMount(c, &f, args[0], args[1], allowOther)
		},
	}
	f.register(c, false)
	c.Flags().BoolVar(&allowOther, "allow-other", false, "let other users read the mount (FUSE allow_other; when not mounting as root it needs user_allow_other in /etc/fuse.conf)")
	return c
}

func unmountCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount a running `annslicer mount`",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := vfs.Unmount(args[0]); err != nil {
				if errors.Is(err, vfs.ErrNotMounted) {
					return fmt.Errorf("%s: not mounted", args[0])
				}
				return fmt.Errorf("%s: %v", args[0], err)
			}
			return nil
		},
	}
}

func runMount(c *cobra.Command, f *shardFlags, input, mnt string, allowOther bool) error {
	if allowOther && os.Geteuid() != 0 && !vfs.UserAllowOther() {
		return fmt.Errorf("%s: --allow-other needs the line user_allow_other in /etc/fuse.conf when not mounting as root; ask an administrator to add it, or mount without --allow-other", mnt)
	}
	// Checked (and a stale mount cleared) before the source is opened, so
	// that a mistake costs nothing; vfs.Mount checks again.
	note, err := vfs.PrepareMountpoint(mnt)
	if note != "" {
		logf("%s", note)
	}
	if err != nil {
		return err
	}
	// From here on a signal unmounts (once mounted) or ends the run
	// before mounting, leaving nothing behind; SIGHUP too (a closed
	// terminal), or the mount would be left stale.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	dir, err := os.MkdirTemp("", "annslicer-mount-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var srv atomic.Pointer[vfs.Server]
	var pin *h5ad.Pin
	if !isZarr(input) {
		// Pinned before anything reads it: see h5ad.Pin.
		if pin, err = h5ad.PinFile(input); err != nil {
			return err
		}
		defer pin.Close()
		if ok, why := pin.Leased(); !ok && debug {
			logf("%s: no read lease (%v); changes are caught by its size, mtime and ctime", input, why)
		}
		stop := onLeaseBreak(func() {
			if pin.Check() != nil { // records the change, lets the writer go
				if s := srv.Load(); s != nil {
					s.Check() // fails reads now, drops the page cache
				}
			}
		})
		defer stop()
	}
	var ms vfs.Source
	if isZarr(input) || f.format == "zarr" {
		if zarrMountSource == nil {
			return fmt.Errorf("%s: zarr is not supported yet", input)
		}
		zs, closeFn, err := zarrMountSource(c, f, input, dir, pin)
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
		if err := pin.Bind(src); err != nil {
			return err
		}
		ms = newMountSource(src, plan, dir, input, pin)
	}
	select {
	case <-sigs:
		return fmt.Errorf("%s: interrupted before it was mounted", mnt)
	default:
	}
	s, err := vfs.Mount(mnt, ms, vfs.Options{
		Debug:      debug && os.Getenv("ANNSLICER_FUSE_DEBUG") == "1",
		Logger:     log.New(os.Stderr, "annslicer: ", 0),
		MaxImages:  maxImages(f.size),
		AllowOther: allowOther,
	})
	if err != nil {
		return fmt.Errorf("%s: cannot mount: %v", mnt, err)
	}
	srv.Store(s)
	s.Check() // a change seen before the store above
	fmt.Printf("annslicer: %d shards of %s mounted at %s (Ctrl-C or `annslicer unmount %s` to unmount)\n", len(ms.Shards()), input, mnt, mnt)
	go func() {
		<-sigs
		if err := s.Unmount(); err != nil {
			logf("%s: unmount: %v", mnt, err)
		}
	}()
	s.Wait()
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

// onLeaseBreak calls f on every SIGIO, which the kernel sends when a writer
// opens a source file this process holds a read lease on; stop ends it.
func onLeaseBreak(f func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGIO)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				f()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// zarrMountSource serves zarr shards (from an h5ad or zarr input, or h5ad
// shards of a zarr input); set by zarr.go. dir is a scratch directory
// removed after unmount; closeFn runs after unmount. pin is the pinned
// h5ad input (nil for a zarr input).
var zarrMountSource func(c *cobra.Command, f *shardFlags, input, dir string, pin *h5ad.Pin) (src vfs.Source, closeFn func(), err error)

// mountSource serves a plan's shards as h5ad images built on first use.
type mountSource struct {
	src      *h5ad.Source
	pin      *h5ad.Pin
	plan     *engine.Plan
	dir      string
	shards   []vfs.ShardInfo
	manifest []byte
}

func newMountSource(src *h5ad.Source, plan *engine.Plan, dir, input string, pin *h5ad.Pin) *mountSource {
	ms := &mountSource{src: src, pin: pin, plan: plan, dir: dir}
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

// Check is exact and cheap (see h5ad.Pin), so it runs on every call.
func (m *mountSource) Check() error { return m.pin.Check() }
