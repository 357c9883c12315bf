package selection

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/annslicer/annslicer/pynum"

	"github.com/annslicer/annslicer/tree"
)

// Column is one obs column as a selection needs it: a categorical's codes
// (-1: missing) and its categories as text, or the values of a plain
// column as the truth filter reads them.
type Column struct {
	Source string // the file the column comes from, for messages
	Name   string
	// Categorical: Codes (one per cell) index Categories (str() of each
	// category, as Python prints it).
	Categorical bool
	Codes       []int32
	Categories  []string
	catKind     byte // dtype kind of the categories: 'b', 'i', 'u', 'f', or 'O' for text
	// Plain columns: Kind is the dtype kind ('b' bool, 'i'/'u'/'f'/'c'
	// numbers, 'O' text); NonZero holds bool and number values, Text text.
	Kind    byte
	DType   string // numpy dtype, for messages
	NonZero []bool
	Text    []string
	// Missing marks the cells a nullable column (mask) or a nullable string
	// has no value for; nil when there are none.
	Missing []bool
}

// ReadColumn reads obs column name of src: the encodings anndata writes
// (categorical, nullable-integer/-boolean, nullable-string-array, string
// arrays, numeric arrays) and the 0.7 layout's categoricals (codes beside
// obs/__categories/name).
func ReadColumn(src *tree.Source, name string) (*Column, error) {
	root, err := src.Root()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	obs, err := root.Group("obs")
	if err != nil {
		return nil, fmt.Errorf("%s: obs is not a dataframe group (%v); columns of this layout cannot be read", src.Path, err)
	}
	defer obs.Close()
	attrs, err := obs.Attrs()
	if err != nil {
		return nil, err
	}
	kids, err := obs.Children()
	if err != nil {
		return nil, err
	}
	index := tree.AttrString(attrs, "_index")
	var cols []string
	var found *tree.Child
	for i, k := range kids {
		if k.Name == index || k.Name == "__categories" {
			continue
		}
		cols = append(cols, k.Name)
		if k.Name == name {
			found = &kids[i]
		}
	}
	if found == nil {
		sort.Strings(cols)
		return nil, fmt.Errorf("%s: obs has no column %q (its columns: %s)", src.Path, name, strings.Join(cols, ", "))
	}
	c := &Column{Source: src.Path, Name: name}
	where := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%s: obs column %q: %w", src.Path, name, err)
	}
	if !found.IsGroup {
		a, err := obs.Array(name)
		if err != nil {
			return nil, where(err)
		}
		defer a.Close()
		if legacy, err := legacyCategories(obs, name); err != nil {
			return nil, where(err)
		} else if legacy != nil {
			defer legacy.Close()
			return c, where(c.readCategorical(a, legacy, src.NObs))
		}
		return c, where(c.readPlain(a, src.NObs))
	}
	g, err := obs.Group(name)
	if err != nil {
		return nil, where(err)
	}
	defer g.Close()
	ga, err := g.Attrs()
	if err != nil {
		return nil, where(err)
	}
	switch enc := tree.AttrString(ga, "encoding-type"); enc {
	case "categorical":
		codes, err := g.Array("codes")
		if err != nil {
			return nil, where(err)
		}
		defer codes.Close()
		cats, err := g.Array("categories")
		if err != nil {
			return nil, where(err)
		}
		defer cats.Close()
		return c, where(c.readCategorical(codes, cats, src.NObs))
	case "nullable-integer", "nullable-boolean", "nullable-string-array":
		vals, err := g.Array("values")
		if err != nil {
			return nil, where(err)
		}
		defer vals.Close()
		if err := c.readPlain(vals, src.NObs); err != nil {
			return nil, where(err)
		}
		mask, err := g.Array("mask")
		if err != nil {
			return nil, where(err)
		}
		defer mask.Close()
		var m Column
		if err := m.readPlain(mask, src.NObs); err != nil {
			return nil, where(err)
		}
		if c.DType = strings.TrimPrefix(enc, "nullable-"); enc == "nullable-string-array" {
			c.DType = "string"
		}
		for _, na := range m.NonZero {
			if na {
				c.Missing = m.NonZero
				break
			}
		}
		return c, nil
	default:
		return nil, where(fmt.Errorf("has encoding %q, which no selection reads", enc))
	}
}

// legacyCategories is obs/__categories/name of the 0.7 layout, or nil.
func legacyCategories(obs tree.Group, name string) (tree.Array, error) {
	g, err := obs.Group("__categories")
	if err != nil {
		return nil, nil // no such group: not a legacy categorical
	}
	defer g.Close()
	kids, err := g.Children()
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		if k.Name == name && !k.IsGroup {
			return g.Array(name)
		}
	}
	return nil, nil
}

// vector checks a is a 1-D array of n values.
func vector(a tree.Array, n int64) error {
	if sh := a.Shape(); len(sh) != 1 || sh[0] != n {
		return fmt.Errorf("%s has shape %v, expected (%d,): one value per cell", a.Path(), sh, n)
	}
	return nil
}

func (c *Column) readCategorical(codes, cats tree.Array, n int64) error {
	if err := vector(codes, n); err != nil {
		return err
	}
	dt := codes.DType()
	if dt.Kind != 'i' && dt.Kind != 'u' {
		return fmt.Errorf("%s has dtype %s; categorical codes are integers", codes.Path(), dt)
	}
	if sh := cats.Shape(); len(sh) != 1 {
		return fmt.Errorf("%s has shape %v; categories are a vector", cats.Path(), sh)
	}
	var err error
	c.Categorical = true
	c.catKind = cats.DType().Kind
	if c.Categories, err = texts(cats); err != nil {
		return err
	}
	raw, err := readAll(codes, n)
	if err != nil {
		return err
	}
	c.Codes = make([]int32, n)
	ncat := int64(len(c.Categories))
	for i := range c.Codes {
		v := intAt(raw, dt, i)
		if v < -1 || v >= ncat {
			return fmt.Errorf("%s: code %d of cell %d is outside the %d categories; the file is corrupt", codes.Path(), v, i, ncat)
		}
		c.Codes[i] = int32(v)
	}
	return nil
}

func (c *Column) readPlain(a tree.Array, n int64) error {
	if err := vector(a, n); err != nil {
		return err
	}
	dt := a.DType()
	c.Kind, c.DType = dt.Kind, numpyName(dt)
	switch dt.Kind {
	case 'b', 'i', 'u', 'f', 'c':
		raw, err := readAll(a, n)
		if err != nil {
			return err
		}
		c.NonZero = make([]bool, n)
		for i := range c.NonZero {
			c.NonZero[i] = nonZero(raw[i*dt.Size:(i+1)*dt.Size], dt)
		}
		return nil
	case 'O', 'S', 'U':
		c.Kind = 'O'
		var err error
		c.Text, err = texts(a)
		return err
	default:
		return fmt.Errorf("has dtype %s, which no selection reads", dt)
	}
}

// readAll reads every value of a 1-D fixed-size array.
func readAll(a tree.Array, n int64) ([]byte, error) {
	r := a.Rows()
	buf := make([]byte, n*r.RowBytes())
	if err := r.ReadRows(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// texts reads a vector as Python's str() of each value: strings as they
// are, numbers and booleans as Python prints them.
func texts(a tree.Array) ([]string, error) {
	dt := a.DType()
	n := a.Shape()[0]
	switch dt.Kind {
	case 'O':
		return a.Strings(nil)
	case 'S', 'U', 'b', 'i', 'u', 'f':
	default:
		return nil, fmt.Errorf("%s has dtype %s, which no selection reads", a.Path(), dt)
	}
	raw, err := readAll(a, n)
	if err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		b := raw[i*dt.Size : (i+1)*dt.Size]
		switch dt.Kind {
		case 'S':
			out[i] = strings.TrimRight(string(b), "\x00")
		case 'U':
			var sb strings.Builder
			for j := 0; j+4 <= len(b); j += 4 {
				r := rune(order(dt).Uint32(b[j:]))
				if r == 0 {
					break
				}
				if !utf8.ValidRune(r) {
					r = utf8.RuneError
				}
				sb.WriteRune(r)
			}
			out[i] = sb.String()
		case 'b':
			out[i] = map[bool]string{true: "True", false: "False"}[b[0] != 0]
		case 'i', 'u':
			if dt.Kind == 'u' && dt.Size == 8 {
				out[i] = strconv.FormatUint(order(dt).Uint64(b), 10)
			} else {
				out[i] = strconv.FormatInt(intAt(raw, dt, i), 10)
			}
		case 'f':
			out[i] = pynum.Float(floatAt(b, dt), floatBits(dt))
		}
	}
	return out, nil
}

func order(dt tree.DType) binary.ByteOrder {
	if dt.Order == '>' {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// intAt is value i of raw, an integer array of dtype dt.
func intAt(raw []byte, dt tree.DType, i int) int64 {
	b := raw[i*dt.Size : (i+1)*dt.Size]
	o := order(dt)
	signed := dt.Kind == 'i'
	switch dt.Size {
	case 1:
		if signed {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		if signed {
			return int64(int16(o.Uint16(b)))
		}
		return int64(o.Uint16(b))
	case 4:
		if signed {
			return int64(int32(o.Uint32(b)))
		}
		return int64(o.Uint32(b))
	default:
		v := o.Uint64(b)
		if !signed && v > math.MaxInt64 {
			return math.MaxInt64 // only compared with category counts
		}
		return int64(v)
	}
}

func floatAt(b []byte, dt tree.DType) float64 {
	o := order(dt)
	switch dt.Size {
	case 2:
		return float16(o.Uint16(b))
	case 4:
		return float64(math.Float32frombits(o.Uint32(b)))
	default:
		return math.Float64frombits(o.Uint64(b))
	}
}

func float16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		if frac != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// nonZero is Python's `value != 0` for one number of dtype dt (NaN is
// non-zero, -0.0 is zero), from its bytes: every float, complex part
// included, is zero exactly when all its bits but the sign are.
func nonZero(b []byte, dt tree.DType) bool {
	part := len(b)
	if dt.Kind == 'c' {
		part /= 2
	}
	for p := 0; p < len(b); p += part {
		v := b[p : p+part]
		for j, x := range v {
			if dt.Kind == 'f' || dt.Kind == 'c' {
				signByte := len(v) - 1
				if dt.Order == '>' {
					signByte = 0
				}
				if j == signByte {
					x &= 0x7f
				}
			}
			if x != 0 {
				return true
			}
		}
	}
	return false
}

// numpyName is the dtype's numpy name, as pandas shows it in messages.
func numpyName(dt tree.DType) string {
	switch dt.Kind {
	case 'b':
		return "bool"
	case 'i':
		return fmt.Sprintf("int%d", dt.Size*8)
	case 'u':
		return fmt.Sprintf("uint%d", dt.Size*8)
	case 'f':
		return fmt.Sprintf("float%d", dt.Size*8)
	case 'c':
		return fmt.Sprintf("complex%d", dt.Size*8)
	case 'O', 'S', 'U':
		return "object"
	}
	return dt.String()
}

// floatBits is the width numpy prints a float of dt at: float32 as
// float32, float16 and float64 as float64 (Python's float).
func floatBits(dt tree.DType) int {
	if dt.Size == 4 {
		return 32
	}
	return 64
}
