// Package obscsv takes the obs column that picks cells (per-category
// shards, filter) from a CSV file instead of the source, which is never
// modified: Column joins the CSV's rows to the obs names, and Overlay
// shows the source with that column in obs, as a categorical, so the
// rules and both encoders take it by rows like any other.
//
// The semantics are those of the Python tool (annslicer 0.3.0's
// _merge_csv_into_obs, itself pandas.read_csv then astype("category")):
// keys compared as stripped strings, every cell must have a row, extra
// rows ignored; values typed as read_csv types them (infer.go).
package obscsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// maxListed is how many missing cells an error names.
const maxListed = 5

// Column reads CSV file path, joins its rows to obs names on joinColumn
// (default: first column), returns per source row the category code of
// `column` and the categories.
//
// A cell's code is -1 where its value is missing (an empty field, or one
// of pandas' NA spellings: NA, nan, null...), as pandas gives it.
func Column(path, joinColumn, column string, obsNames []string) (codes []int32, categories []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("CSV file %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	codes, categories, err = readColumn(f, joinColumn, column, obsNames)
	if err != nil {
		return nil, nil, fmt.Errorf("CSV file %s: %w", path, err)
	}
	return codes, categories, nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readColumn is Column on an open CSV. Memory is O(cells + distinct
// values): rows are streamed, and only those of cells are kept.
func readColumn(in io.Reader, joinColumn, column string, obsNames []string) ([]int32, []string, error) {
	br := bufio.NewReaderSize(in, 1<<16)
	// pandas (and Excel's "CSV UTF-8") drop a UTF-8 byte order mark
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // short rows are allowed (missing values), long ones checked below
	// strict quotes: a quote left open would swallow the rest of the file
	// into one value (pandas says "EOF inside string"); the price is that
	// a bare quote inside an unquoted field (pandas: text) is an error too
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("the file is empty (no header row); give it a header naming its columns")
	}
	if err != nil {
		return nil, nil, csvError(err)
	}
	header = append([]string(nil), header...)
	if !utf8.ValidString(strings.Join(header, "")) {
		return nil, nil, fmt.Errorf("line 1 is not valid UTF-8; save the CSV as UTF-8")
	}
	ki, ci, err := columns(header, joinColumn, column)
	if err != nil {
		return nil, nil, err
	}

	j := newJoin(obsNames)
	vals := newValues()
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) > len(header) {
			return nil, nil, fmt.Errorf("line %d has %d fields but the header has %d; quote fields that hold commas", line, len(rec), len(header))
		}
		var key, val string
		if ki < len(rec) {
			key = rec[ki]
		}
		if ci < len(rec) {
			val = rec[ci]
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return nil, nil, fmt.Errorf("line %d is not valid UTF-8; save the CSV as UTF-8", line)
		}
		// every row's value counts, a cell's or not: pandas types the
		// column and lists its categories from the whole file
		id := vals.add(val)
		if err := j.set(strings.TrimSpace(key), id, line, header[ki]); err != nil {
			return nil, nil, err
		}
	}
	if err := j.complete(header[ki]); err != nil {
		return nil, nil, err
	}
	code, categories := vals.categorise()
	codes := make([]int32, len(obsNames))
	for i, id := range j.val {
		codes[i] = code[id]
	}
	return codes, categories, nil
}

// csvError is a CSV syntax error in one line of text.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.StartLine != pe.Line { // a quoted field ran on: say where it began
			return fmt.Errorf("the row from line %d to line %d: %v; fix the CSV's quoting", pe.StartLine, pe.Line, pe.Err)
		}
		return fmt.Errorf("line %d: %v; fix the CSV's quoting", pe.Line, pe.Err)
	}
	return err
}

// columns finds the join column and the value column in the header (the
// first of a repeated name, as pandas names later ones "C.1").
func columns(header []string, joinColumn, column string) (ki, ci int, err error) {
	find := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		return -1
	}
	ki = 0
	if joinColumn != "" {
		if ki = find(joinColumn); ki < 0 {
			return 0, 0, fmt.Errorf("no join column %q; its columns are %s", joinColumn, quoteList(header))
		}
	}
	if ci = find(column); ci < 0 {
		return 0, 0, fmt.Errorf("no column %q; its columns are %s", column, quoteList(header))
	}
	if ci == ki {
		return 0, 0, fmt.Errorf("column %q is the join column (cell names); name another with --join-column", column)
	}
	return ki, ci, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// join maps stripped obs names to cells; names may repeat (anndata
// allows it), every cell of a name then takes that name's row.
type join struct {
	names []string
	first map[string]int32 // name -> its first cell
	next  []int32          // cell -> the next cell of the same name, -1
	val   []int32          // cell -> value id, -1 until its row is seen
	line  []int32          // cell -> the CSV line it took its value from
}

func newJoin(obsNames []string) *join {
	n := len(obsNames)
	j := &join{names: obsNames, first: make(map[string]int32, n), next: make([]int32, n),
		val: make([]int32, n), line: make([]int32, n)}
	for i := n - 1; i >= 0; i-- {
		name := strings.TrimSpace(obsNames[i])
		j.next[i] = -1
		if c, ok := j.first[name]; ok {
			j.next[i] = c
		}
		j.first[name] = int32(i)
		j.val[i] = -1
	}
	return j
}

// set gives the cells named key the value id. A second row for a cell is
// an error: pandas' join would repeat the cell (the Python tool then fails
// with "Length mismatch"); rows of keys that are no cell are ignored, even
// repeated.
func (j *join) set(key string, id int32, line int, keyCol string) error {
	c, ok := j.first[key]
	if !ok {
		return nil
	}
	if j.val[c] >= 0 {
		return fmt.Errorf("cell %q has two rows (lines %d and %d, join column %q); keep one row per cell", key, j.line[c], line, keyCol)
	}
	for ; c >= 0; c = j.next[c] {
		j.val[c], j.line[c] = id, int32(line)
	}
	return nil
}

// complete checks every cell has its row.
func (j *join) complete(keyCol string) error {
	var missing []string
	n := 0
	for i, v := range j.val {
		if v < 0 {
			if n < maxListed {
				missing = append(missing, fmt.Sprintf("%q", j.names[i]))
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > maxListed {
		more = ", ..."
	}
	return fmt.Errorf("%d of %d cells have no row (join column %q, compared with the obs names, both stripped): %s%s; add a row for every cell",
		n, len(j.names), keyCol, strings.Join(missing, ", "), more)
}
