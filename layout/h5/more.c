#include "more.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

/* Little-endian signed integers of 1, 2, 4 or 8 bytes. */
hid_t ans_create_int_dataset(hid_t loc, const char *name, int bytes, int rank,
                             const hsize_t *dims, int contiguous_early) {
    hid_t t;
    switch (bytes) {
    case 1: t = H5T_STD_I8LE; break;
    case 2: t = H5T_STD_I16LE; break;
    case 4: t = H5T_STD_I32LE; break;
    case 8: t = H5T_STD_I64LE; break;
    default: return -1;
    }
    return ans_create_dataset(loc, name, t, rank, dims, contiguous_early, NULL, 0, 0);
}

/* Writes n variable-length strings at rows [row0, row0+n) of a 1-D dataset. */
herr_t ans_write_string_rows(hid_t ds, hsize_t row0, char **s, size_t n, int cset) {
    ans_quiet();
    if (n == 0) return 0;
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, (H5T_cset_t)cset);
    hid_t fspace = H5Dget_space(ds);
    hsize_t start[1] = {row0}, count[1] = {n};
    herr_t st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(1, count, NULL);
    if (st >= 0) st = H5Dwrite(ds, mem, mspace, fspace, H5P_DEFAULT, s);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Tclose(mem);
    return st;
}

/* Reads a string attribute (scalar or 1-D, variable or fixed length) as
 * malloc'd C strings; NULL when absent or not strings. */
char **ans_attr_strings(hid_t obj, const char *name, size_t *n) {
    ans_quiet();
    *n = 0;
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    char **out = NULL;
    hssize_t cnt = H5Sget_simple_extent_npoints(space);
    if (H5Tget_class(type) == H5T_STRING && cnt >= 0) {
        out = calloc((size_t)cnt + 1, sizeof(char *));
        if (H5Tis_variable_str(type) > 0) {
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(type));
            char **tmp = calloc((size_t)cnt + 1, sizeof(char *));
            if (cnt == 0 || H5Aread(a, mem, tmp) >= 0) {
                for (hssize_t i = 0; i < cnt; i++) {
                    out[i] = strdup(tmp[i] ? tmp[i] : "");
                    if (tmp[i]) H5free_memory(tmp[i]);
                }
            } else { free(out); out = NULL; }
            free(tmp);
            H5Tclose(mem);
        } else {
            size_t sz = H5Tget_size(type);
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, sz + 1);
            H5Tset_strpad(mem, H5T_STR_NULLTERM);
            char *buf = calloc((size_t)cnt * (sz + 1) + 1, 1);
            if (cnt == 0 || H5Aread(a, mem, buf) >= 0) {
                for (hssize_t i = 0; i < cnt; i++) out[i] = strdup(buf + (size_t)i * (sz + 1));
            } else { free(out); out = NULL; }
            free(buf);
            H5Tclose(mem);
        }
    }
    if (out) *n = (size_t)cnt;
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return out;
}

/* A 1-D array of variable-length UTF-8 strings, as h5py writes object
 * arrays of str (anndata's column-order). Replaces an existing one. */
herr_t ans_write_attr_strings(hid_t obj, const char *name, char **s, size_t n) {
    ans_quiet();
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : (n ? H5Awrite(a, t, s) : 0);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
    return st;
}

/* A 1-D float64 attribute (anndata writes an empty column-order so). */
herr_t ans_write_attr_f64s(hid_t obj, const char *name, const double *v, size_t n) {
    ans_quiet();
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : (n ? H5Awrite(a, H5T_NATIVE_DOUBLE, v) : 0);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return st;
}

/* 1 when two datasets (maybe in different files) have equal datatypes. */
int ans_ds_types_equal(hid_t a, hid_t b) {
    ans_quiet();
    hid_t ta = H5Dget_type(a), tb = H5Dget_type(b);
    int eq = H5Tequal(ta, tb) > 0;
    H5Tclose(ta);
    H5Tclose(tb);
    return eq;
}

/* 1 for a signed integer dataset, 0 for unsigned, -1 when not integers. */
int ans_ds_int_signed(hid_t ds) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    int r = -1;
    if (H5Tget_class(t) == H5T_INTEGER) r = H5Tget_sign(t) == H5T_SGN_2;
    H5Tclose(t);
    return r;
}

/* A scalar attribute read as a truth value whatever its type (h5py writes
 * numpy bools as an enum over int8): 1 when any byte is non-zero, 0 when
 * all are zero, -1 when absent or not a scalar of at most 8 bytes. */
int ans_attr_truth(hid_t obj, const char *name) {
    ans_quiet();
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    int r = -1;
    size_t sz = H5Tget_size(type);
    H5T_class_t cls = H5Tget_class(type);
    if (H5Sget_simple_extent_npoints(space) == 1 && sz <= 8 &&
        (cls == H5T_INTEGER || cls == H5T_ENUM || cls == H5T_BITFIELD)) {
        unsigned char buf[8] = {0};
        if (H5Aread(a, type, buf) >= 0) {
            r = 0;
            for (size_t i = 0; i < sz; i++) if (buf[i]) r = 1;
        }
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return r;
}
