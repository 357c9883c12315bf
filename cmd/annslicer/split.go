package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/annslicer/annslicer/selection"
)

// One plan split across machines (--shards i/N): every run computes the
// same outputs and keeps those whose index k has k mod N == i (package
// selection, split.go), with their usual names; N runs, concurrent or
// not, into one directory make the set one run would. And --manifest:
// what a run wrote, in the format of a mount's shards.json.

// splitFlags are --shards (slice, materialize, mount) and --manifest
// (slice, materialize).
type splitFlags struct {
	shards   string
	manifest string
	cmd      *cobra.Command
}

func (s *splitFlags) register(c *cobra.Command, writes bool) {
	s.cmd = c
	what := "write"
	if !writes {
		what = "show"
	}
	c.Flags().StringVar(&s.shards, "shards", "", fmt.Sprintf("INDEX/COUNT: %s only the outputs k with k mod COUNT = INDEX (0 <= INDEX < COUNT), named as usual: COUNT runs with INDEX 0..COUNT-1 (e.g. a Slurm array, a Kubernetes Indexed Job) make the whole set between them; a shuffle needs --seed", what))
	if writes {
		c.Flags().StringVar(&s.manifest, "manifest", "", "also write this JSON file (as the mount's shards.json): the plan and, for each output written (this run's, with --shards), its path relative to the file, cells and rows; in place with the outputs, or not at all")
	}
}

// share is the --shards value; ok is false without the flag (or on a
// command without it: filter).
func (s *splitFlags) share() (sp selection.Split, ok bool, err error) {
	if s.cmd == nil || !s.cmd.Flags().Changed("shards") {
		return sp, false, nil
	}
	sp, err = selection.ParseSplit(s.shards)
	if err != nil {
		return sp, false, usageError{fmt.Errorf("--shards %v", err)}
	}
	return sp, true, nil
}

// check refuses a bad --shards, and a shuffle split without a seed: each
// run would draw its own permutation, and the shares would overlap.
func (s *splitFlags) check(f *shardFlags) error {
	_, ok, err := s.share()
	if err != nil || !ok {
		return err
	}
	if f.shuffle && !f.sel.active() && !s.cmd.Flags().Changed("seed") {
		return usageError{errors.New("--shards with --shuffle needs --seed: every run must draw the same permutation (give them all the same --seed)")}
	}
	return nil
}

// part keeps this run's share of set (all of it without --shards).
func (s *splitFlags) part(set *selection.Set) *selection.Set {
	sp, ok, _ := s.share() // checked before
	if !ok || set == nil {
		return set
	}
	return set.Part(sp)
}

// owns reports whether output k of the whole set is this run's to
// write, replace or remove.
func (s *splitFlags) owns(k int) bool {
	sp, ok, _ := s.share()
	return !ok || sp.Owns(k)
}

// manifestDir is the directory manifest names are relative to.
func (s *splitFlags) manifestDir() string { return filepath.Dir(s.manifest) }

func (s *splitFlags) index() int { sp, _, _ := s.share(); return sp.I }
func (s *splitFlags) count() int { sp, _, _ := s.share(); return sp.N }

// said is what --debug's plan line adds for a share: python/annslicer
// reads the line (the whole plan first, as without --shards).
func (s *splitFlags) said(set *selection.Set) string {
	sp, ok := set.Share()
	if !ok {
		return ""
	}
	return fmt.Sprintf("; this run, --shards %s: %d of them", sp, set.Shards())
}
