// Helpers for reading whole small datasets and attributes as typed values
// (for converting HDF5 elements to zarr), and for creating datasets and
// attributes of a given numpy-like type (for writing h5ad from zarr).
#ifndef ANNSLICER_H5_VALUES_H
#define ANNSLICER_H5_VALUES_H

#include <hdf5.h>
#include <stdint.h>

/* Type classes as values.go names them. */
#define ANS_T_INT 0
#define ANS_T_FLOAT 1
#define ANS_T_STRING 2
#define ANS_T_BOOL 3
#define ANS_T_REFERENCE 4
#define ANS_T_OTHER 5
#define ANS_T_COMPOUND 6

/* An HDF5 array type (numpy's sub-array field) has at most this rank. */
#define ANS_MAX_ARRAY_RANK 32

/* A type: for an array type (ndims > 0), the rest describes one element
 * of the array (cls, size...). */
typedef struct {
    int cls;
    int size;
    int big_endian;
    int is_signed;
    int vlen;
    int cset;
    int ndims;
    int64_t dims[ANS_MAX_ARRAY_RANK];
} ans_type_info;

void ans_type_info_of(hid_t t, ans_type_info *out);
int ans_ds_type_info(hid_t ds, ans_type_info *out);
int ans_attr_type_info(hid_t obj, const char *name, ans_type_info *out, int *rank, int64_t *npoints);
herr_t ans_read_all(hid_t ds, void *buf);
char **ans_read_all_strings(hid_t ds, size_t *n);
int ans_attr_count(hid_t obj);
int ans_attr_name(hid_t obj, int idx, char *buf, size_t buflen);
herr_t ans_attr_read_i64(hid_t obj, const char *name, int64_t *out);
herr_t ans_attr_read_f64(hid_t obj, const char *name, double *out);
herr_t ans_attr_read_raw(hid_t obj, const char *name, void *out);
int ans_attr_ref_path(hid_t obj, const char *name, char *buf, size_t buflen);
herr_t ans_write_attr_ref(hid_t obj, const char *name, hid_t loc, const char *target);

hid_t ans_make_type(int cls, int size, int big_endian, int is_signed, int vlen, int cset);
hid_t ans_make_type_info(const ans_type_info *t);
hid_t ans_create_typed_dataset(hid_t loc, const char *name, int cls, int size, int big_endian,
                               int is_signed, int vlen, int cset, int rank, const hsize_t *dims,
                               int contiguous_early, const hsize_t *chunk, int filter, int level);
herr_t ans_write_all(hid_t ds, const void *buf);
herr_t ans_write_attr_scalar_string(hid_t obj, const char *name, const char *s);
herr_t ans_write_attr_i64s(hid_t obj, const char *name, const int64_t *v, size_t n, int scalar);
herr_t ans_write_attr_f64_scalar(hid_t obj, const char *name, double v);
herr_t ans_write_attr_bools(hid_t obj, const char *name, const int8_t *v, size_t n, int scalar);

#endif
