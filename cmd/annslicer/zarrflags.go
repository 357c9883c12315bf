package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/layout/zarrad"
)

// zarrFlags choose the zarr format of zarr outputs (slice, materialize,
// mount, merge): v2 by default, as anndata writes; v3 as anndata >= 0.12
// writes with zarr_write_format = 3, optionally sharded.
type zarrFlags struct {
	version   int
	shardSize int
}

func (z *zarrFlags) register(c *cobra.Command) {
	c.Flags().IntVar(&z.version, "zarr-version", 2, "zarr output: zarr format 2 (the default, as anndata writes) or 3 (zarr.json documents, as anndata >= 0.12 writes with zarr_write_format=3)")
	c.Flags().IntVar(&z.shardSize, "zarr-shard-size", 0, "zarr output with --zarr-version 3: store arrays with the sharding codec, N rows per shard file (compression applies inside shards)")
}

// check refuses zarr flags that cannot apply: on a non-zarr output, a
// format other than 2 or 3, sharding without v3 or of negative rows (0 is
// unsharded, the default).
func (z *zarrFlags) check(zarrOutput bool) error {
	if !zarrOutput && (z.version != 2 || z.shardSize != 0) {
		return usageError{fmt.Errorf("--zarr-version and --zarr-shard-size apply to zarr output only (--format zarr, or a merge or filter OUTPUT ending in .zarr)")}
	}
	if err := z.layout().Check(); err != nil {
		return usageError{err}
	}
	return nil
}

// layout is the zarr layout the flags ask for.
func (z *zarrFlags) layout() zarrad.Layout {
	return zarrad.Layout{Version: z.version, ShardRows: z.shardSize}
}
