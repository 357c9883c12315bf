package h5ad

import "testing"

// Float attributes become zarr attributes as Python's json.dumps writes
// them (the expected strings are what CPython 3.11 prints for these).
func TestFloatAttributesAreWrittenAsPython(t *testing.T) {
	in := []float64{12345678.9, 1e16, 1e-5, 3.0, 0.1, 1.5e300, 123456789012.0, 2.5e-5}
	want := "[12345678.9, 1e+16, 1e-05, 3.0, 0.1, 1.5e+300, 123456789012.0, 2.5e-05]"
	got, err := attrJSON(in)
	if err != nil || string(got) != want {
		t.Fatalf("attrJSON(%v) = %s, %v; want %s", in, got, err, want)
	}
	if got, _ := attrJSON(12345678.9); string(got) != "12345678.9" {
		t.Fatalf("attrJSON(12345678.9) = %s", got)
	}
}
