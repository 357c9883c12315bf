package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/materialize"
	"github.com/annslicer/annslicer/tree"
)

// collectionFlags let every command that cuts outputs from a source take
// many: INPUT may be a quoted glob ('atlas/*.h5ad', natural order) and
// --inputs-from FILE lists more. The files are one source, their cells in
// order and joined as merge joins them (materialize.OpenCollection).
type collectionFlags struct {
	inputsFrom string
	join       string
}

func (cf *collectionFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&cf.inputsFrom, "inputs-from", "", "file listing the inputs, one path per line (after INPUT when one is given): many files (h5ad and zarr mixed) cut as one collection")
	c.Flags().StringVar(&cf.join, "join", "outer", "when a collection's var names differ: outer keeps every gene (zeros where absent), inner the genes of every input")
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

// inputs are the files of INPUT (a path, or a glob) and --inputs-from.
func (cf *collectionFlags) inputs(input string) ([]string, error) {
	if cf.join != "outer" && cf.join != "inner" {
		return nil, usageError{fmt.Errorf("--join %q: use outer or inner", cf.join)}
	}
	var ins []string
	if input != "" {
		var err error
		if ins, err = expandInputs([]string{input}); err != nil {
			return nil, err
		}
	}
	if cf.inputsFrom != "" {
		more, err := readPaths(cf.inputsFrom, "inputs file")
		if err != nil {
			return nil, err
		}
		if len(more) == 0 && len(ins) == 0 {
			return nil, usageError{fmt.Errorf("%s: lists no inputs; give one path per line", cf.inputsFrom)}
		}
		ins = append(ins, more...)
	}
	return ins, nil
}

// open opens the inputs as one source.
func (cf *collectionFlags) open(c *cobra.Command, inputs []string) (*tree.Source, error) {
	return materialize.OpenCollection(inputs, materialize.CollectionOptions{
		Join: cf.join, Ctx: c.Context(),
		Warn: func(msg string) { fmt.Fprintln(os.Stderr, "annslicer: warning: "+oneLine(msg)) },
	})
}

// anyZarr reports whether any input is a zarr store (its chunk cache is
// then part of the memory budget).
func anyZarr(inputs []string) bool {
	for _, in := range inputs {
		if isZarr(in) {
			return true
		}
	}
	return false
}

// describe names the inputs in messages.
func describe(inputs []string) string {
	if len(inputs) == 1 {
		return inputs[0]
	}
	return fmt.Sprintf("%d inputs (%s, ...)", len(inputs), strings.Join(inputs[:min(2, len(inputs))], ", "))
}
