package main

import (
	"errors"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/obscsv"
	"github.com/annslicer/annslicer/selection"
	"github.com/annslicer/annslicer/tree"
)

// Outputs chosen from obs instead of fixed-size shards: one per category
// of a categorical column (--obs-column, --always-include), or the cells a
// column marks true (--filter; the filter command). See package selection.

// selectFlags are the flags choosing outputs from obs.
type selectFlags struct {
	obsColumn string
	always    []string
	filter    string // materialize and mount (the filter command has its own)
	csvFile   string // the column from this CSV instead of obs (package obscsv)
	joinCol   string // the CSV's column matched to obs names (default: its first)
}

func (s *selectFlags) register(c *cobra.Command, withFilter bool) {
	c.Flags().StringVar(&s.obsColumn, "obs-column", "", "one output per category of this categorical obs column, named by the category (instead of fixed-size shards)")
	c.Flags().StringArrayVar(&s.always, "always-include", nil, "with --obs-column: the cells of these categories (e.g. non-targeting controls) go into every other category's output and get none of their own; takes several values (--always-include A B) or repeats")
	s.registerCSV(c)
	if withFilter {
		c.Flags().StringVar(&s.filter, "filter", "", "one output, filtered.h5ad|zarr, of the cells where this obs column is true (bool; numbers: not 0; strings true/false/1/0)")
	}
}

// active reports whether outputs come from obs.
func (s *selectFlags) active() bool { return s.obsColumn != "" || s.filter != "" }

// check refuses flags that do not go together, and says which plan flags
// are ignored (the Python tool ignores them silently).
func (s *selectFlags) check(c *cobra.Command) error {
	fl := c.Flags()
	for _, name := range []string{"obs-column", "filter"} {
		if fl.Changed(name) && fl.Lookup(name).Value.String() == "" {
			return usageError{errors.New("--" + name + " needs a column name")}
		}
	}
	if fl.Changed("join-column") && s.csvFile == "" {
		return usageError{errors.New("--join-column needs --csv-file (the CSV whose column it names)")}
	}
	if s.csvFile != "" && !s.active() {
		return usageError{errors.New("--csv-file needs --obs-column (or --filter): the CSV column that chooses the outputs")}
	}
	if len(s.always) > 0 && s.obsColumn == "" {
		return usageError{errors.New("--always-include needs --obs-column (the column whose categories it names)")}
	}
	if s.obsColumn != "" && s.filter != "" {
		return usageError{errors.New("--obs-column and --filter cannot be used together: filter first (annslicer filter), then slice the filtered file by category")}
	}
	if !s.active() {
		return nil
	}
	if fl.Changed("names") {
		return usageError{errors.New("--names does not apply with --obs-column: outputs are named by their category")}
	}
	var ignored []string
	for _, name := range []string{"size", "shuffle", "seed"} {
		if fl.Changed(name) {
			ignored = append(ignored, "--"+name)
		}
	}
	if len(ignored) > 0 {
		by := "--obs-column (one output per category"
		if s.filter != "" {
			by = "--filter (one output"
		}
		verb := "does"
		if len(ignored) > 1 {
			verb = "do"
		}
		logf("warning: %s %s not apply with %s, cells in source order); ignored", strings.Join(ignored, ", "), verb, by)
	}
	return nil
}

// outputs are the outputs from obs (the caller makes plans otherwise),
// and the source they are cut from: src, or src with the column from
// --csv-file (see obsColumn).
func (s *selectFlags) outputs(src *tree.Source) (*selection.Set, *tree.Source, error) {
	if s.filter != "" {
		col, out, err := s.column(src, s.filter)
		if err != nil {
			return nil, nil, err
		}
		set, err := selection.Filter(src.NObs, col)
		return set, out, err
	}
	col, out, err := s.column(src, s.obsColumn)
	if err != nil {
		return nil, nil, err
	}
	set, err := selection.Categories(src.NObs, col, s.always)
	if err != nil {
		return nil, nil, err
	}
	for _, cat := range set.Empty {
		logf("warning: category %q of obs column %q has no cells; no output is written for it", cat, s.obsColumn)
	}
	return set, out, nil
}

// registerCSV adds --csv-file and --join-column (every command choosing
// outputs from obs, filter too).
func (s *selectFlags) registerCSV(c *cobra.Command) {
	c.Flags().StringVar(&s.csvFile, "csv-file", "", "take the obs column from this CSV (header row; one row per cell, matched to obs names) instead of the input, which is not changed; it becomes a categorical in the outputs")
	c.Flags().StringVar(&s.joinCol, "join-column", "", "with --csv-file: the CSV column holding the obs names (default: its first column)")
}

// column reads obs column name of src, and the source the outputs are cut
// from: src itself, or, with --csv-file, src overlaid with the CSV's
// column as a categorical (obscsv.Overlay), so the outputs hold it in obs.
// Closing the overlay closes src.
func (s *selectFlags) column(src *tree.Source, name string) (*selection.Column, *tree.Source, error) {
	if s.csvFile == "" {
		col, err := selection.ReadColumn(src, name)
		return col, src, err
	}
	names, err := obscsv.ObsNames(src)
	if err != nil {
		return nil, nil, err
	}
	codes, cats, err := obscsv.Column(s.csvFile, s.joinCol, name, names)
	if err != nil {
		return nil, nil, err
	}
	out, err := obscsv.Overlay(src, name, codes, cats)
	if err != nil {
		return nil, nil, err
	}
	out.Closer = src.Close
	return selection.FromCodes(s.csvFile, name, codes, cats), out, nil
}

// spreadNargs rewrites `FLAG A B C` into `FLAG=A FLAG=B FLAG=C` for the
// flags that take several values after one flag, as argparse's nargs="+"
// (the Python tool's --always-include): the values run to the next
// argument starting with "-" (a negative number is a value, as argparse
// has it), or to "--".
func spreadNargs(args []string, flags ...string) []string {
	multi := map[string]bool{}
	for _, f := range flags {
		multi[f] = true
	}
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !multi[a] {
			out = append(out, a)
			continue
		}
		j := i + 1
		for j < len(args) && args[j] != "--" && (!strings.HasPrefix(args[j], "-") || isNumber(args[j])) {
			out = append(out, a+"="+args[j])
			j++
		}
		if j == i+1 {
			out = append(out, a) // no value: pflag says so
		}
		i = j - 1
	}
	return out
}

// negativeNumber is argparse's test of a value that starts with "-".
var negativeNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

func isNumber(s string) bool { return negativeNumber.MatchString(s) }
