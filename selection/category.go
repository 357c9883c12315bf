package selection

import (
	"fmt"
	"sort"
	"strings"
)

// FromCodes is a categorical column given by its codes and categories
// (e.g. read from a CSV file): source names where it comes from.
func FromCodes(source, name string, codes []int32, categories []string) *Column {
	return &Column{Source: source, Name: name, Categorical: true, Codes: codes, Categories: categories, catKind: 'O'}
}

// Sanitize makes a category a file name stem, as the Python tool does:
// every character outside [A-Za-z0-9_.-] becomes "_" (one per character,
// not per byte).
func Sanitize(category string) string {
	var b strings.Builder
	for _, r := range category {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Categories is one output per category of c, in category order, each
// holding the cells of that category and those of the always categories,
// in source order. Always categories get no output of their own; empty
// categories none either (listed in Empty). Two categories with the same
// name stem, a value of always that is no category, or a column that is
// not categorical are errors.
func Categories(nobs int64, c *Column, always []string) (*Set, error) {
	if !c.Categorical {
		return nil, fmt.Errorf("%s: obs column %q is not categorical (its values are %s); --obs-column needs a categorical column: make it one (adata.obs[%q] = adata.obs[%q].astype(\"category\")), or give the column with --csv-file", c.Source, c.Name, c.DType, c.Name, c.Name)
	}
	if int64(len(c.Codes)) != nobs {
		return nil, fmt.Errorf("%s: obs column %q has %d values for %d cells", c.Source, c.Name, len(c.Codes), nobs)
	}
	index := map[string]int{}
	for i, cat := range c.Categories {
		if _, dup := index[cat]; !dup {
			index[cat] = i
		}
	}
	isAlways := make([]bool, len(c.Categories))
	var unknown []string
	for _, v := range always {
		if i, ok := index[v]; ok {
			isAlways[i] = true
		} else {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		what := "is not a category"
		if len(unknown) > 1 {
			what = "are not categories"
		}
		return nil, fmt.Errorf("%s: --always-include %s %s of obs column %q (its categories: %s)", c.Source, quoteList(unknown), what, c.Name, quoteList(c.Categories))
	}
	seen := map[string]string{}
	for i, cat := range c.Categories {
		if isAlways[i] {
			continue
		}
		stem := Sanitize(cat)
		if first, ok := seen[stem]; ok {
			return nil, fmt.Errorf("%s: categories %q and %q of obs column %q both make the file name %q (characters outside A-Z a-z 0-9 _ . - become _); rename one of them", c.Source, first, cat, c.Name, stem)
		}
		seen[stem] = cat
	}
	s := &Set{Kind: ByCategory, NObs: nobs, Column: c.Name, Always: always}
	// Two passes over the codes: count, then place each cell in its
	// category's part of one table (in source order, so each is sorted).
	counts := make([]int, len(c.Categories))
	nShared := 0
	for _, code := range c.Codes {
		if code < 0 {
			continue
		}
		if isAlways[code] {
			nShared++
		} else {
			counts[code]++
		}
	}
	total := 0
	starts := make([]int, len(c.Categories))
	for i, n := range counts {
		starts[i] = total
		total += n
	}
	table, shared := newRowTable(nobs, total), newRowTable(nobs, nShared)
	next := append([]int(nil), starts...)
	js := 0
	for row, code := range c.Codes {
		switch {
		case code < 0:
		case isAlways[code]:
			shared.set(js, int64(row))
			js++
		default:
			table.set(next[code], int64(row))
			next[code]++
		}
	}
	s.shared = shared.slice(0, nShared)
	for i, cat := range c.Categories {
		switch {
		case isAlways[i]:
		case counts[i] == 0:
			s.Empty = append(s.Empty, cat)
		default:
			s.outs = append(s.outs, output{name: Sanitize(cat), category: cat, own: table.slice(starts[i], starts[i]+counts[i])})
		}
	}
	return s, nil
}

// quoteList is `"a", "b"`, at most 20 of them.
func quoteList(vals []string) string {
	var q []string
	for i, v := range vals {
		if i == 20 {
			q = append(q, fmt.Sprintf("and %d more", len(vals)-20))
			break
		}
		q = append(q, fmt.Sprintf("%q", v))
	}
	return strings.Join(q, ", ")
}

// sortedDistinct is the distinct values of vals, sorted.
func sortedDistinct(vals []string) []string {
	set := map[string]bool{}
	for _, v := range vals {
		set[v] = true
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
