package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func init() { moreCommands = append(moreCommands, filterCmd) }

// filterCmd is the Python tool's `filter`: one output with the cells where
// an obs column is true, in source order, written as a slice run of one
// output (so every element is kept, and `materialize --filter` or `mount
// --filter` give the same bytes).
func filterCmd() *cobra.Command {
	var f shardFlags
	c := &cobra.Command{
		Use:   "filter INPUT OUTPUT",
		Short: "Write OUTPUT (.h5ad, or .zarr) with the cells of INPUT where an obs column is true (bool; numbers: not 0; strings true/false/1/0)",
		Args:  collectionArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			input, rest := f.coll.split(c, args, 2)
			args = append([]string{input}, rest...)
			if f.sel.filter == "" {
				return usageError{errors.New("filter needs --obs-column: the obs column saying which cells to keep")}
			}
			f.format = "h5ad"
			if isZarr(args[1]) {
				f.format = "zarr"
			}
			return runShards(shardJob{Cmd: c, Flags: &f, Input: args[0], Given: -1,
				Name: func(int, string) string { return args[1] }})
		},
	}
	c.Flags().StringVar(&f.sel.filter, "obs-column", "", "the obs column saying which cells to keep: bool; numbers (kept when not 0); strings true/false/1/0 in any case; a categorical by its categories the same way")
	f.sel.registerCSV(c)
	f.zarr.register(c)
	f.coll.register(c)
	c.Flags().StringVar(&f.compression, "compression", "", "an .h5ad OUTPUT: gzip or lzf (default none); a .zarr OUTPUT: blosc (default), zstd, gzip, zlib or none")
	c.Flags().BoolVar(&f.overwrite, "overwrite", false, "replace OUTPUT if it exists")
	return c
}
