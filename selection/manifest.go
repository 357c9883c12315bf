package selection

// What shards.json says of a selection's outputs.

// MaxRuns is the most runs of consecutive rows listed for one output in
// shards.json; an output of more runs is listed without its rows (its
// selection, column and category, says which cells it holds).
const MaxRuns = 1000

// Runs are output k's rows as ascending runs [start, end), or nil when
// there are more than MaxRuns of them. A contiguous Plan's shard is one
// run; a shuffled one's rows are not listed (they are not ascending, and
// listing them would list every cell of the source): shards.json gives
// its size, shuffle and seed, which make the same permutation again.
// Cost: O(the output's own rows + MaxRuns), however many outputs share
// the always-included rows.
func (s *Set) Runs(k int) [][2]int64 {
	if s.pick != nil && (k < 0 || k >= len(s.pick)) {
		return nil
	}
	k = s.Index(k)
	if p := s.plan; p != nil {
		if p.Shuffle || k < 0 || k >= p.Shards() {
			return nil
		}
		lo := int64(k) * p.Size
		if n := p.Count(k); n > 0 {
			return [][2]int64{{lo, lo + n}}
		}
		return [][2]int64{}
	}
	if k < 0 || k >= len(s.outs) {
		return nil
	}
	own, ok := runsOf(s.outs[k].own)
	if !ok {
		return nil
	}
	shared, ok := s.sharedRuns, s.sharedOK
	if !ok {
		return nil
	}
	// merge two lists of disjoint ascending runs, joining touching ones
	out := make([][2]int64, 0, len(own)+len(shared))
	add := func(r [2]int64) {
		if n := len(out); n > 0 && out[n-1][1] == r[0] {
			out[n-1][1] = r[1]
			return
		}
		out = append(out, r)
	}
	i, j := 0, 0
	for i < len(own) || j < len(shared) {
		if j == len(shared) || i < len(own) && own[i][0] < shared[j][0] {
			add(own[i])
			i++
		} else {
			add(shared[j])
			j++
		}
	}
	if len(out) > MaxRuns {
		return nil
	}
	if out == nil {
		out = [][2]int64{}
	}
	return out
}

// runsOf is l as runs, false when there are more than MaxRuns.
func runsOf(l rowList) ([][2]int64, bool) {
	var runs [][2]int64
	for i := 0; i < l.Len(); i++ {
		r := l.At(i)
		if n := len(runs); n > 0 && runs[n-1][1] == r {
			runs[n-1][1]++
			continue
		}
		if len(runs) == MaxRuns {
			return nil, false
		}
		runs = append(runs, [2]int64{r, r + 1})
	}
	return runs, true
}
