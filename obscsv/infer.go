package obscsv

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/annslicer/annslicer/pynum"
)

// The column's categories as pandas gives them: read_csv types the
// column from every row (NA spellings are missing; all integers: int64;
// all numbers: float64, integers with a missing value too; all
// True/False spellings: bool; anything else: the text as it is), then
// astype("category") lists the distinct values sorted. Ours are the same
// values in the same order, as the text str() gives them in Python (so
// "01" and "1" are one category "1", and 2.0 is "2.0"): the names the
// Python tool gives its per-category outputs. The categories are written
// as strings either way (see the package's README text).

// naValues are pandas' default NA spellings (pandas._libs.parsers
// .STR_NA_VALUES, pandas 2.x), matched exactly as pandas does.
var naValues = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

// values are the distinct texts of the column, by id.
type values struct {
	id   map[string]int32
	text []string
}

func newValues() *values { return &values{id: map[string]int32{}} }

func (v *values) add(s string) int32 {
	if id, ok := v.id[s]; ok {
		return id
	}
	id := int32(len(v.text))
	v.id[s] = id
	v.text = append(v.text, s)
	return id
}

// categorise types the column and gives each value id its category code
// (-1: missing) and the categories in order.
func (v *values) categorise() (code []int32, categories []string) {
	code = make([]int32, len(v.text))
	var present []int // ids of non-missing values
	missing := false
	for id, s := range v.text {
		if naValues[s] {
			code[id] = -1
			missing = true
		} else {
			present = append(present, id)
		}
	}
	ints, floats, bools := true, true, true
	num := make([]float64, len(v.text))
	in := make([]int64, len(v.text))
	for _, id := range present {
		s := v.text[id]
		if ints {
			if i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				in[id], num[id] = i, float64(i)
			} else {
				ints = false
			}
		}
		if floats && !ints {
			if f, ok := parseFloat(s); ok {
				num[id] = f
			} else {
				floats = false
			}
		}
		if bools {
			bools = trueValue(s) || falseValue(s)
		}
	}
	// an integer column with a missing value is float64 in pandas
	if ints && missing {
		ints = false
	}
	if !ints && floats {
		for _, id := range present {
			f, _ := parseFloat(v.text[id])
			num[id] = f
		}
	}
	var name func(id int) string
	var less func(a, b int) bool
	switch {
	case len(present) == 0:
		return code, []string{}
	case ints:
		name = func(id int) string { return strconv.FormatInt(in[id], 10) }
		less = func(a, b int) bool { return in[a] < in[b] }
	case floats:
		name = func(id int) string { return pynum.Float(num[id], 64) }
		less = func(a, b int) bool { return num[a] < num[b] }
	case bools:
		name = func(id int) string {
			if trueValue(v.text[id]) {
				return "True"
			}
			return "False"
		}
		less = func(a, b int) bool { return !trueValue(v.text[a]) && trueValue(v.text[b]) }
	default:
		name = func(id int) string { return v.text[id] }
		less = func(a, b int) bool { return v.text[a] < v.text[b] } // code points: Python's order
	}
	sort.SliceStable(present, func(i, j int) bool { return less(present[i], present[j]) })
	for k, id := range present {
		// values equal as numbers ("1", "01", " 1") are one category
		if k == 0 || less(present[k-1], id) {
			categories = append(categories, name(id))
		}
		code[id] = int32(len(categories) - 1)
	}
	return code, categories
}

func trueValue(s string) bool  { return s == "True" || s == "TRUE" || s == "true" }
func falseValue(s string) bool { return s == "False" || s == "FALSE" || s == "false" }

// parseFloat reads a decimal number as pandas' CSV reader does: spaces
// around it, an optional exponent, inf/infinity. NaN spellings other than
// the NA values are text.
func parseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "_xXpP") { // Go also reads 0x1p3 and 1_000
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange // 1e999 is inf, as in pandas
}
