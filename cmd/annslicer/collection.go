package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/materialize"
	"github.com/annslicer/annslicer/tree"
)

// collectionFlags let every command that cuts outputs from a source take
// many: INPUT may be a quoted glob ('atlas/*.h5ad', natural order) and
// --inputs-from FILE lists more. The files are one source, their cells in
// order and joined as merge joins them (materialize.OpenCollection).
//
// merge takes the same flags: a merge is the collection written whole.
type collectionFlags struct {
	inputsFrom, join string
	label, keys, sep string // anndata.concat's label, keys, index_unique
}

func (cf *collectionFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&cf.inputsFrom, "inputs-from", "", "file listing inputs, one path per line (after any INPUT argument; no glob expansion): many files (h5ad and zarr mixed) taken as one collection")
	c.Flags().StringVar(&cf.join, "join", "outer", "when the inputs' var names differ: outer keeps every gene (zeros where absent), inner keeps the genes of every input")
	c.Flags().StringVar(&cf.label, "label", "", "add obs column `COL` naming each cell's input (a categorical of the keys), as anndata.concat(label=...)")
	c.Flags().StringVar(&cf.keys, "keys", "", "the inputs' keys `K1,K2,...`, one per input, in input order (default: the file names without .h5ad/.zarr)")
	c.Flags().StringVar(&cf.sep, "index-unique", "", "make obs names unique: NAME + `SEP` + the input's key, as anndata.concat(index_unique=...)")
	for _, name := range []string{"label", "keys", "index-unique"} { // names, not files
		c.RegisterFlagCompletionFunc(name, cobra.NoFileCompletions)
	}
}

// collectionArgs accepts n arguments, or n-1 with --inputs-from (which
// then gives every input).
func collectionArgs(n int) cobra.PositionalArgs {
	exact := exactArgs(n)
	return func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("inputs-from") && len(args) == n-1 {
			return nil
		}
		return exact(c, args)
	}
}

// split separates the inputs from the rest of the arguments: with
// --inputs-from and one argument fewer, there is no INPUT argument.
func (cf *collectionFlags) split(c *cobra.Command, args []string, n int) (input string, rest []string) {
	if cf.inputsFrom != "" && len(args) == n-1 {
		return "", args
	}
	return args[0], args[1:]
}

// inputs are the files of the INPUT arguments (paths, or globs) and
// --inputs-from.
func (cf *collectionFlags) inputs(args ...string) ([]string, error) {
	if cf.join != "outer" && cf.join != "inner" {
		return nil, usageError{fmt.Errorf("--join %q: use outer or inner", cf.join)}
	}
	var ins []string
	if args = slices.DeleteFunc(args, func(a string) bool { return a == "" }); len(args) > 0 {
		var err error
		if ins, err = expandInputs(args); err != nil {
			return nil, err
		}
	}
	if cf.inputsFrom != "" {
		more, err := readPaths(cf.inputsFrom, "inputs file")
		if err != nil {
			return nil, err
		}
		if len(more) == 0 {
			return nil, usageError{fmt.Errorf("%s: the inputs file lists no path; give one path per line", cf.inputsFrom)}
		}
		ins = append(ins, more...)
	}
	return ins, nil
}

// options are the collection's join and keys (--label, --keys,
// --index-unique: checked against the inputs).
func (cf *collectionFlags) options(c *cobra.Command, inputs []string) (materialize.CollectionOptions, error) {
	ik, err := inputKeys(c, inputs, cf.label, cf.keys, cf.sep)
	return materialize.CollectionOptions{Join: cf.join, Keys: ik, Ctx: c.Context(), Warn: warn}, err
}

// open opens the inputs as one source.
func (cf *collectionFlags) open(c *cobra.Command, inputs []string) (*tree.Source, error) {
	o, err := cf.options(c, inputs)
	if err != nil {
		return nil, err
	}
	return materialize.OpenCollection(inputs, o)
}

// warn tells of something left out, on one line.
func warn(msg string) { fmt.Fprintln(os.Stderr, "annslicer: warning: "+oneLine(msg)) }
