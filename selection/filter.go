package selection

import (
	"fmt"
	"strconv"
	"strings"
)

// Filter is one output, "filtered", holding the cells where c is true, in
// source order (none: an output without cells, still a valid file).
func Filter(nobs int64, c *Column) (*Set, error) {
	keep, err := c.Truth()
	if err != nil {
		return nil, err
	}
	if int64(len(keep)) != nobs {
		return nil, fmt.Errorf("%s: obs column %q has %d values for %d cells", c.Source, c.Name, len(keep), nobs)
	}
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	t := newRowTable(nobs, n)
	i := 0
	for row, k := range keep {
		if k {
			t.set(i, int64(row))
			i++
		}
	}
	return &Set{Kind: Filtered, NObs: nobs, Column: c.Name, outs: []output{{name: "filtered", own: t.slice(0, n)}}}, nil
}

// truthOf reads a string as the Python tool does: true/false/1/0 in any
// case.
func truthOf(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// missing is how a missing value is listed among the offending ones.
const missing = "<missing>"

// Truth is whether each cell is kept: booleans as they are, numbers when
// non-zero (NaN too, as in Python), strings true/false/1/0 in any case,
// categorical columns by their categories the same way. Any other string,
// or a missing value, is an error listing them.
func (c *Column) Truth() ([]bool, error) {
	if c.Categorical {
		return c.categoryTruth()
	}
	var bad []string
	var keep []bool
	switch c.Kind {
	case 'O':
		keep = make([]bool, len(c.Text))
		for i, s := range c.Text {
			if c.Missing != nil && c.Missing[i] {
				bad = append(bad, missing)
				continue
			}
			v, ok := truthOf(s)
			if !ok {
				bad = append(bad, s)
			}
			keep[i] = v
		}
	default:
		keep = c.NonZero
		for i := range c.Missing {
			if c.Missing[i] {
				bad = append(bad, missing)
			}
		}
	}
	if len(bad) > 0 {
		return nil, c.badValues(bad)
	}
	return keep, nil
}

func (c *Column) categoryTruth() ([]bool, error) {
	truth := make([]bool, len(c.Categories))
	valid := make([]bool, len(c.Categories))
	for i, cat := range c.Categories {
		switch c.catKind {
		case 'b':
			truth[i], valid[i] = cat == "True", true
		case 'i', 'u', 'f':
			f, err := strconv.ParseFloat(cat, 64)
			truth[i], valid[i] = err != nil || f != 0, true
		default:
			truth[i], valid[i] = truthOf(cat)
		}
	}
	var bad []string
	keep := make([]bool, len(c.Codes))
	for i, code := range c.Codes {
		switch {
		case code < 0:
			bad = append(bad, missing)
		case !valid[code]:
			bad = append(bad, c.Categories[code])
		default:
			keep[i] = truth[code]
		}
	}
	if len(bad) > 0 {
		return nil, c.badValues(bad)
	}
	return keep, nil
}

func (c *Column) badValues(bad []string) error {
	var vals []string
	nMissing := 0
	for _, v := range bad {
		if v == missing {
			nMissing++
		} else {
			vals = append(vals, v)
		}
	}
	vals = sortedDistinct(vals)
	var what []string
	if len(vals) > 0 {
		shown, more := vals, ""
		if len(vals) > 10 {
			shown, more = vals[:10], fmt.Sprintf(" and %d other values", len(vals)-10)
		}
		what = append(what, fmt.Sprintf("%s values that are not true or false: %s%s", cells(len(bad)-nMissing, "holds", "hold"), quoteList(shown), more))
	}
	if nMissing > 0 {
		what = append(what, cells(nMissing, "has", "have")+" no value")
	}
	return fmt.Errorf("%s: obs column %q: %s; the filter column must be bool, numbers (kept when not 0) or the strings true/false/1/0 in any case", c.Source, c.Name, strings.Join(what, ", "))
}

// cells is "1 cell has", "2 cells have".
func cells(n int, one, many string) string {
	if n == 1 {
		return "1 cell " + one
	}
	return fmt.Sprintf("%d cells %s", n, many)
}
