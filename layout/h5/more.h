// More libhdf5 helpers, for merge: integer datasets of a chosen width,
// string rows written by hyperslab, string-array attributes, type equality.
#ifndef ANNSLICER_H5_MORE_H
#define ANNSLICER_H5_MORE_H

#include <hdf5.h>
#include <stdint.h>

hid_t ans_create_int_dataset(hid_t loc, const char *name, int bytes, int rank,
                             const hsize_t *dims, int contiguous_early);
herr_t ans_write_string_rows(hid_t ds, hsize_t row0, char **s, size_t n, int cset);
char **ans_attr_strings(hid_t obj, const char *name, size_t *n);
herr_t ans_write_attr_strings(hid_t obj, const char *name, char **s, size_t n);
herr_t ans_write_attr_f64s(hid_t obj, const char *name, const double *v, size_t n);
int ans_ds_types_equal(hid_t a, hid_t b);
int ans_ds_int_signed(hid_t ds);
int ans_attr_truth(hid_t obj, const char *name);

#endif
