package zarr

// PyFloat writes f as Python's json.dumps does: repr's shortest digits
// (fixed notation for exponents in [-4, 16)), NaN and ±Infinity as bare
// words. Attributes converted from HDF5 are written with it, so they read
// as anndata would have written them to zarr.
func PyFloat(f float64) string { return pyFloatRepr(f) }
