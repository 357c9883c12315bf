// Package pynum writes numbers as Python prints them: file names made of
// category values, categories read from a CSV and JSON attributes must be
// the text Python would have made, or the same data gets other names.
package pynum

import (
	"math"
	"strconv"
	"strings"
)

// Float is Python's repr (and str) of f, held as a float of bits (64; 32
// as numpy prints a float32): the shortest digits that read back, fixed
// notation for magnitudes in [1e-4, 1e16), else d.ddde±XX; whole numbers
// end in ".0"; nan, inf, -inf. (The test is on the value, as numpy's: a
// float32 just under 1e-4 has the digits of 1e-4 but prints "1e-04".)
func Float(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, bits) // d.ddde±XX
	}
	s := strconv.FormatFloat(f, 'f', -1, bits)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
