package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/engine"
	"github.com/annslicer/annslicer/materialize"
)

func init() { moreCommands = append(moreCommands, mergeCmd) }

func mergeCmd() *cobra.Command {
	var cf collectionFlags
	var overwrite bool
	var compression string
	var zf zarrFlags
	c := &cobra.Command{
		Use:   "merge OUTPUT [INPUT...] [--inputs-from FILE]",
		Short: "Merge .h5ad files or .zarr stores into OUTPUT: cells stacked in input order, genes joined (inputs may be quoted globs, taken in natural order)",
		Long: `Merge .h5ad files or .zarr stores (any mix) into OUTPUT, an .h5ad file or
a .zarr store by its extension, streaming: every input is read where it
is, a few at a time, and nothing but OUTPUT is written (a .zarr OUTPUT
with Blosc lz4 like anndata and consolidated metadata, zarr format 2
unless --zarr-version 3). Memory stays
bounded by the output's per-cell strings and a few windows, whatever the
total.

Cells are stacked in input order; an INPUT may be a quoted glob pattern
('shards/s_shard_*.h5ad'), expanded in natural order (shard_2 before
shard_10), so merging the shards of a slice restores the source order.

obs columns are concatenated as anndata.concat does: with --join outer
(default) a column not in every input is kept, with missing values where
absent (categorical: code -1; float: NaN; integer: float64 NaN; bool:
nullable boolean; strings: categorical), with --join inner it is left
out; categories are united in order of first appearance, ordered only if
every input has the same ordered ones; a column categorical in some inputs
and strings in others becomes categorical; numbers whose dtypes differ get
numpy's common type. X, layers, obsm and raw/X are
stacked; obsp graphs are stacked block-diagonally; uns comes from the
first input; varm and varp too when var is identical in every input.
Other elements not in every input are left out with a warning. When var names differ, --join outer keeps every
gene (the first input's order, then new genes as they appear; absent
values are zeros), --join inner the genes of every input (the first
input's order); var then keeps only its index, as anndata.concat does.
Dtypes never change.

--label COL adds obs column COL naming each cell's input (a categorical
whose categories are the keys, in input order), in place of the inputs'
column COL if the join keeps it, else last; --index-unique SEP makes obs
names NAME + SEP + KEY. The keys are --keys K1,K2,... (one per input), or
else the inputs' file names without .h5ad or .zarr (anndata.concat's
default is 0, 1, ...).`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 && !(len(args) == 1 && c.Flags().Changed("inputs-from")) {
				return usageError{fmt.Errorf("merge takes an OUTPUT and at least one INPUT (or --inputs-from FILE), got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			out := args[0]
			if trimmed := strings.TrimRight(out, "/"); !strings.HasSuffix(trimmed, ".zarr") && !strings.HasSuffix(trimmed, ".h5ad") {
				return usageError{fmt.Errorf("%s: OUTPUT must end in .h5ad or .zarr", out)}
			}
			if err := zf.check(strings.HasSuffix(strings.TrimRight(out, "/"), ".zarr")); err != nil {
				return err
			}
			inputs, err := cf.inputs(args[1:]...)
			if err != nil {
				return err
			}
			co, err := cf.options(c, inputs)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(inputs, isZarr) {
				holdZarrCache(false) // inputs are read in order: never refused
			}
			if debug {
				logf("merging %d inputs into %s (join %s)", len(inputs), out, cf.join)
			}
			return materialize.Merge(out, inputs, materialize.MergeOptions{
				Join: co.Join, Overwrite: overwrite, Compression: compression, Progress: newProgress(), Ctx: c.Context(), Log: debugLog, Zarr: zf.layout(), Keys: co.Keys,
				Warn: warn,
			})
		},
	}
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace OUTPUT if it exists")
	c.Flags().StringVar(&compression, "compression", "", "an .h5ad OUTPUT: gzip or lzf (default none); a .zarr OUTPUT: blosc (default, lz4 as anndata), zstd, gzip, zlib or none (byte-identical to `mount --merge --format zarr`)")
	cf.register(c)
	zf.register(c)
	return c
}

// inputKeys reads --label, --keys and --index-unique: the keys are
// --keys, or the inputs' file stems.
func inputKeys(c *cobra.Command, inputs []string, label, keys, sep string) (engine.InputKeys, error) {
	ik := engine.InputKeys{Label: label, IndexUnique: c.Flags().Changed("index-unique"), Sep: sep}
	if c.Flags().Changed("label") && label == "" {
		return ik, usageError{fmt.Errorf("--label needs a column name")}
	}
	if strings.Contains(label, "/") {
		return ik, usageError{fmt.Errorf("--label %q: a column name cannot contain '/'", label)}
	}
	given := c.Flags().Changed("keys")
	if !ik.IndexUnique && label == "" {
		if given {
			return ik, usageError{fmt.Errorf("--keys is used only with --label or --index-unique")}
		}
		return ik, nil
	}
	if given {
		ik.Keys = strings.Split(keys, ",")
		if len(ik.Keys) != len(inputs) {
			return ik, usageError{fmt.Errorf("--keys gives %d keys for %d inputs; give exactly one per input, comma-separated, in input order", len(ik.Keys), len(inputs))}
		}
		seen := map[string]bool{}
		for _, k := range ik.Keys {
			if seen[k] {
				return ik, usageError{fmt.Errorf("--keys gives %q twice; keys must be unique", k)}
			}
			seen[k] = true
		}
		return ik, nil
	}
	first := map[string]string{}
	for _, in := range inputs {
		stem := inputStem(in)
		if other, ok := first[stem]; ok {
			return ik, usageError{fmt.Errorf("%s and %s have the same name %q, which labels each input; give the keys with --keys k1,k2,... (one per input)", other, in, stem)}
		}
		first[stem] = in
		ik.Keys = append(ik.Keys, stem)
	}
	return ik, nil
}

// inputStem is an input's file name without .h5ad or .zarr.
func inputStem(p string) string {
	base := filepath.Base(strings.TrimRight(p, "/"))
	for _, ext := range []string{".h5ad", ".zarr"} {
		if s, ok := strings.CutSuffix(base, ext); ok {
			return s
		}
	}
	return base
}

// expandInputs turns arguments into files: an existing path is taken as
// it is, anything else with glob characters is expanded in natural order,
// and a pattern without a match is an error.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if _, err := os.Stat(a); err == nil || !strings.ContainsAny(a, "*?[") {
			out = append(out, a)
			continue
		}
		matches, err := filepath.Glob(a)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: bad glob pattern: %v", a, err)}
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no file matches this pattern; check the path (and quote the pattern so the shell leaves it alone)", a)
		}
		slices.SortFunc(matches, naturalCompare)
		out = append(out, matches...)
	}
	return out, nil
}

// naturalCompare orders strings with digit runs compared as numbers:
// shard_2 before shard_10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) - len(tb)
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
			if len(na) != len(nb) { // same number, fewer leading zeros first
				return len(na) - len(nb)
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
