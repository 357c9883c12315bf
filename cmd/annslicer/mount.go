package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/layout/h5ad"
	"github.com/annslicer/annslicer/materialize"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
	"github.com/annslicer/annslicer/vfs"
)

func mountCmd() *cobra.Command {
	var f shardFlags
	var allowOther, merge, prefetch bool
	c := &cobra.Command{
		Use:   "mount INPUT MOUNTPOINT",
		Short: "Serve every shard of INPUT as MOUNTPOINT/shard_N.h5ad (MOUNTPOINT/{category}.h5ad, MOUNTPOINT/filtered.h5ad), made on read (read-only FUSE; runs until Ctrl-C or `annslicer unmount`)",
		Args:  collectionArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			input, rest := f.coll.split(c, args, 2)
			args = append([]string{input}, rest...)
			if err := f.sel.check(c); err != nil {
				return err
			}
			if err := f.validate(); err != nil {
				return err
			}
			if merge {
				for _, name := range []string{"size", "shuffle", "seed", "obs-column", "always-include", "filter", "csv-file", "join-column", "shards"} {
					if c.Flags().Changed(name) {
						return usageError{fmt.Errorf("--merge serves one file, the merge of the inputs: --%s does not apply", name)}
					}
				}
			}
			return runMount(c, &f, args[0], args[1], mountMode{allowOther, merge, prefetch})
		},
	}
	f.register(c, false)
	c.Flags().BoolVar(&merge, "merge", false, "serve one file, MOUNTPOINT/merged.h5ad (merged.zarr with --format zarr): the merge of the inputs, byte for byte what `annslicer merge` writes (a .zarr with --compression none), never written")
	c.Flags().BoolVar(&prefetch, "prefetch", false, "make each shard whole in the background when it is first opened and put it in the kernel's page cache, so that a loader's reads of it (many small ones) do not each wait for their cells to be gathered; uses the page cache like reading the shard through once")
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

// mountMode is what mount's own flags ask of it.
type mountMode struct{ allowOther, merge, prefetch bool }

func runMount(c *cobra.Command, f *shardFlags, input, mnt string, mode mountMode) error {
	allowOther, merge := mode.allowOther, mode.merge
	inputs, err := f.coll.inputs(input)
	if err != nil {
		return err
	}
	co, err := f.coll.options(c, inputs)
	if err != nil {
		return err
	}
	collection := merge || co.Joins(inputs)
	input = inputs[0]
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
	if !isZarr(input) && !collection {
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
	if slices.ContainsFunc(inputs, isZarr) {
		if err := holdZarrCache(f.shuffle); err != nil {
			return err
		}
	}
	var coll *materialize.CollectionOptions
	if collection {
		input, coll = materialize.CollectionName(inputs), &co
	}
	open := materialize.OpenMount
	if merge {
		open = materialize.OpenMergedMount
	}
	m, err := open(materialize.MountOptions{Input: input, Inputs: inputs, Collection: coll,
		Format: f.format, Dir: dir, Pin: pin,
		Select: func(src *tree.Source) (*selection.Set, *tree.Source, error) { return f.outputs(c, src) }, Log: debugLog, Zarr: f.zarr.layout()})
	if err != nil {
		return err
	}
	defer m.Close()
	m.KeepPlans(maxImages(m.MaxCells()))
	select {
	case <-sigs:
		return fmt.Errorf("%s: interrupted before it was mounted", mnt)
	default:
	}
	s, err := vfs.Mount(mnt, m, vfs.Options{
		Debug:      debug && os.Getenv("ANNSLICER_FUSE_DEBUG") == "1",
		Logger:     log.New(os.Stderr, "annslicer: ", 0),
		MaxImages:  maxImages(m.MaxCells()),
		AllowOther: allowOther,
		Prefetch:   mode.prefetch,
	})
	if err != nil {
		return fmt.Errorf("%s: cannot mount: %v", mnt, err)
	}
	srv.Store(s)
	s.Check() // a change seen before the store above
	if merge {
		fmt.Printf("annslicer: the merge of %s mounted at %s (Ctrl-C or `annslicer unmount %s` to unmount)\n", input, filepath.Join(mnt, m.Shards()[0].Name), mnt)
	} else {
		fmt.Printf("annslicer: %d shards of %s mounted at %s (Ctrl-C or `annslicer unmount %s` to unmount)\n", len(m.Shards()), input, mnt, mnt)
	}
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
