package zarr

// Metadata documents are compared byte for byte: a virtual store served by
// the FUSE mount must equal what zarr-python writes, and attributes copied
// from a source store must come out as zarr-python would have written them.
// zarr-python 2 writes with
//
//	json.dumps(o, indent=4, sort_keys=True, ensure_ascii=True, separators=(',', ': '))
//
// and Python's json also reads and writes the non-standard NaN, Infinity and
// -Infinity literals. encoding/json does neither, so this file holds a small
// JSON reader that keeps number literals and source spans, and a writer that
// reproduces Python's formatting (float repr included).

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/annslicer/annslicer/pynum"
)

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jvalue is a parsed JSON value. Numbers keep their literal so integers stay
// integers and floats can be re-printed the way Python would.
type jvalue struct {
	kind  jkind
	b     bool
	num   string // literal, for jNumber (may be NaN, Infinity, -Infinity)
	str   string
	arr   []*jvalue
	keys  []string // object keys in source order
	vals  []*jvalue
	start int // span in the source text
	end   int
}

func (v *jvalue) get(key string) (*jvalue, bool) {
	if v == nil || v.kind != jObject {
		return nil, false
	}
	// Python keeps the last of duplicate keys.
	for i := len(v.keys) - 1; i >= 0; i-- {
		if v.keys[i] == key {
			return v.vals[i], true
		}
	}
	return nil, false
}

func (v *jvalue) isFloatLiteral() bool {
	return v.kind == jNumber && strings.ContainsAny(v.num, ".eEIN")
}

type jparser struct {
	s   string
	pos int
}

// parseJSON parses one JSON document (Python dialect: NaN and Infinity allowed).
func parseJSON(data []byte) (*jvalue, error) {
	p := &jparser{s: string(data)}
	p.ws()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.s) {
		return nil, p.errf("trailing data")
	}
	return v, nil
}

func (p *jparser) errf(format string, a ...any) error {
	return fmt.Errorf("bad JSON at offset %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *jparser) ws() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) lit(word string) bool {
	if strings.HasPrefix(p.s[p.pos:], word) {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *jparser) value(depth int) (*jvalue, error) {
	if depth > 200 {
		return nil, p.errf("nested too deeply")
	}
	if p.pos >= len(p.s) {
		return nil, p.errf("unexpected end")
	}
	v := &jvalue{start: p.pos}
	switch c := p.s[p.pos]; {
	case c == '{':
		v.kind = jObject
		p.pos++
		p.ws()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			break
		}
		for {
			p.ws()
			if p.pos >= len(p.s) || p.s[p.pos] != '"' {
				return nil, p.errf("want object key")
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.ws()
			if p.pos >= len(p.s) || p.s[p.pos] != ':' {
				return nil, p.errf("want ':'")
			}
			p.pos++
			p.ws()
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k)
			v.vals = append(v.vals, e)
			p.ws()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				break
			}
			return nil, p.errf("want ',' or '}'")
		}
	case c == '[':
		v.kind = jArray
		p.pos++
		p.ws()
		if p.pos < len(p.s) && p.s[p.pos] == ']' {
			p.pos++
			break
		}
		for {
			p.ws()
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, e)
			p.ws()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.s) && p.s[p.pos] == ']' {
				p.pos++
				break
			}
			return nil, p.errf("want ',' or ']'")
		}
	case c == '"':
		v.kind = jString
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		v.str = s
	case p.lit("null"):
		v.kind = jNull
	case p.lit("true"):
		v.kind, v.b = jBool, true
	case p.lit("false"):
		v.kind = jBool
	case p.lit("NaN"):
		v.kind, v.num = jNumber, "NaN"
	case p.lit("Infinity"):
		v.kind, v.num = jNumber, "Infinity"
	case p.lit("-Infinity"):
		v.kind, v.num = jNumber, "-Infinity"
	case c == '-' || (c >= '0' && c <= '9'):
		v.kind = jNumber
		start := p.pos
		if p.s[p.pos] == '-' {
			p.pos++
		}
		digits := func() int {
			n := 0
			for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
				p.pos++
				n++
			}
			return n
		}
		if digits() == 0 {
			return nil, p.errf("bad number")
		}
		if p.pos < len(p.s) && p.s[p.pos] == '.' {
			p.pos++
			if digits() == 0 {
				return nil, p.errf("bad number")
			}
		}
		if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
			p.pos++
			if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
				p.pos++
			}
			if digits() == 0 {
				return nil, p.errf("bad number")
			}
		}
		v.num = p.s[start:p.pos]
	default:
		return nil, p.errf("unexpected %q", c)
	}
	v.end = p.pos
	return v, nil
}

func (p *jparser) str() (string, error) {
	p.pos++ // opening quote
	var sb strings.Builder
	for {
		if p.pos >= len(p.s) {
			return "", p.errf("unterminated string")
		}
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return sb.String(), nil
		case c == '\\':
			if p.pos+1 >= len(p.s) {
				return "", p.errf("unterminated string")
			}
			e := p.s[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) && strings.HasPrefix(p.s[p.pos:], `\u`) {
					save := p.pos
					p.pos += 2
					r2, err := p.hex4()
					if err == nil {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							sb.WriteRune(d)
							continue
						}
					}
					p.pos = save
				}
				sb.WriteRune(r)
			default:
				return "", p.errf("bad escape \\%c", e)
			}
		case c < 0x20:
			return "", p.errf("control character in string")
		default:
			sb.WriteByte(c)
			p.pos++
		}
	}
}

func (p *jparser) hex4() (rune, error) {
	if p.pos+4 > len(p.s) {
		return 0, p.errf("bad \\u escape")
	}
	n, err := strconv.ParseUint(p.s[p.pos:p.pos+4], 16, 32)
	if err != nil {
		return 0, p.errf("bad \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// ---- writing ----

// obj is a JSON object whose keys are written in the given order (zarr.json
// is not key-sorted); map[string]any is written with sorted keys.
type obj []kv

type kv struct {
	k string
	v any
}

// pyFloat is a float64 written as Python's repr would.
type pyFloat float64

// rawJSON is JSON text re-printed in Python's style.
type rawJSON []byte

// pyDumps encodes v as json.dumps(v, indent=indent, ensure_ascii=True,
// separators=(',', ': ')) would; maps are key-sorted.
func pyDumps(v any, indent int) ([]byte, error) {
	var sb strings.Builder
	if err := pyWrite(&sb, v, indent, 0); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

func pyWrite(sb *strings.Builder, v any, indent, level int) error {
	// indent < 0 is Python's one-line default: ", " and ": ".
	nl := func(l int) {
		if indent < 0 {
			return
		}
		sb.WriteByte('\n')
		sb.WriteString(strings.Repeat(" ", indent*l))
	}
	sep := ","
	if indent < 0 {
		sep = ", "
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case int:
		sb.WriteString(strconv.Itoa(x))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		sb.WriteString(strconv.FormatUint(x, 10))
	case pyInt:
		sb.WriteString(string(x))
	case pyFloat:
		sb.WriteString(pyFloatRepr(float64(x)))
	case float64:
		sb.WriteString(pyFloatRepr(x))
	case string:
		pyString(sb, x)
	case []int:
		a := make([]any, len(x))
		for i := range x {
			a[i] = x[i]
		}
		return pyWrite(sb, a, indent, level)
	case []string:
		a := make([]any, len(x))
		for i := range x {
			a[i] = x[i]
		}
		return pyWrite(sb, a, indent, level)
	case []any:
		if len(x) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(sep)
			}
			nl(level + 1)
			if err := pyWrite(sb, e, indent, level+1); err != nil {
				return err
			}
		}
		nl(level)
		sb.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := make(obj, len(keys))
		for i, k := range keys {
			o[i] = kv{k, x[k]}
		}
		return pyWrite(sb, o, indent, level)
	case obj:
		if len(x) == 0 {
			sb.WriteString("{}")
			return nil
		}
		sb.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(sep)
			}
			nl(level + 1)
			pyString(sb, e.k)
			sb.WriteString(": ")
			if err := pyWrite(sb, e.v, indent, level+1); err != nil {
				return err
			}
		}
		nl(level)
		sb.WriteByte('}')
	case rawJSON:
		jv, err := parseJSON(x)
		if err != nil {
			return err
		}
		return pyWrite(sb, jv, indent, level)
	case *jvalue:
		return pyWrite(sb, x.toAny(), indent, level)
	default:
		return fmt.Errorf("cannot encode %T as JSON", v)
	}
	return nil
}

// toAny converts a parsed value to the writer's types the way Python's
// json.loads would: sorted-key dicts, ints, floats.
func (v *jvalue) toAny() any {
	switch v.kind {
	case jNull:
		return nil
	case jBool:
		return v.b
	case jString:
		return v.str
	case jNumber:
		if !v.isFloatLiteral() {
			if v.num == "-0" {
				return int64(0)
			}
			return pyInt(v.num)
		}
		f, _ := parseFloatLiteral(v.num)
		return pyFloat(f)
	case jArray:
		a := make([]any, len(v.arr))
		for i, e := range v.arr {
			a[i] = e.toAny()
		}
		return a
	default:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = v.vals[i].toAny()
		}
		return m
	}
}

// pyInt is an integer literal of any size, printed as is.
type pyInt string

// canonicalNaN is numpy's np.nan (quiet NaN, no payload); Go's math.NaN()
// has a payload bit, which would make fill bytes differ from numpy's.
var canonicalNaN = math.Float64frombits(0x7ff8000000000000)

func parseFloatLiteral(s string) (float64, error) {
	switch s {
	case "NaN":
		return canonicalNaN, nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	var ne *strconv.NumError
	if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
		return f, nil // ±Inf or 0, as Python's float() gives
	}
	return f, err
}

// pyFloatRepr is a float as Python's json writes it: repr's digits
// (pynum.Float), NaN and ±Infinity as bare words.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return pynum.Float(f, 64)
}

// pyString writes s with ensure_ascii escaping: everything outside
// printable ASCII as \uXXXX (lower-case hex, UTF-16 surrogate pairs).
func pyString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if r >= 0x20 && r <= 0x7e {
				sb.WriteRune(r)
			} else if r > 0xffff {
				a, b := utf16.EncodeRune(r)
				fmt.Fprintf(sb, `\u%04x\u%04x`, a, b)
			} else {
				fmt.Fprintf(sb, `\u%04x`, r)
			}
		}
	}
	sb.WriteByte('"')
}
