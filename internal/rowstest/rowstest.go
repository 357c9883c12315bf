// Package rowstest holds a source array in memory for the tests of the
// packages that gather rows (engine, layout/image).
package rowstest

import "fmt"

// Rows is a source array held in memory, Unit bytes a row; it counts its
// reads and refuses any past its end.
type Rows struct {
	B     []byte
	Unit  int64
	Reads int
}

func (m *Rows) RowBytes() int64 { return m.Unit }

func (m *Rows) ReadRows(p []byte, row0 int64) error {
	m.Reads++
	if row0 < 0 || row0*m.Unit+int64(len(p)) > int64(len(m.B)) {
		return fmt.Errorf("rows %d+%d past the end", row0, int64(len(p))/m.Unit)
	}
	copy(p, m.B[row0*m.Unit:])
	return nil
}
