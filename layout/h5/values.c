#include "values.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static int is_bool_enum(hid_t t) {
    if (H5Tget_class(t) != H5T_ENUM || H5Tget_size(t) != 1 || H5Tget_nmembers(t) != 2) return 0;
    int ok = 1;
    for (unsigned i = 0; i < 2 && ok; i++) {
        char *n = H5Tget_member_name(t, i);
        if (!n) return 0;
        ok = strcmp(n, i == 0 ? "FALSE" : "TRUE") == 0;
        H5free_memory(n);
    }
    return ok;
}

static void type_info(hid_t t, ans_type_info *o);

/* An array type: its element's type, and its dims. An array of arrays
 * (which h5py never makes: numpy flattens sub-arrays of sub-arrays) or of
 * more than ANS_MAX_ARRAY_RANK dimensions is "other". */
static void array_info(hid_t t, ans_type_info *o) {
    int nd = H5Tget_array_ndims(t);
    hid_t base = H5Tget_super(t);
    if (nd <= 0 || nd > ANS_MAX_ARRAY_RANK || base < 0 || H5Tget_class(base) == H5T_ARRAY) {
        if (base >= 0) H5Tclose(base);
        o->cls = ANS_T_OTHER;
        return;
    }
    hsize_t dims[ANS_MAX_ARRAY_RANK];
    H5Tget_array_dims2(t, dims);
    type_info(base, o);
    H5Tclose(base);
    o->ndims = nd;
    for (int i = 0; i < nd; i++) o->dims[i] = (int64_t)dims[i];
}

static void type_info(hid_t t, ans_type_info *o) {
    memset(o, 0, sizeof *o);
    o->size = (int)H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        o->cls = ANS_T_INT;
        o->is_signed = H5Tget_sign(t) == H5T_SGN_2;
        o->big_endian = H5Tget_order(t) == H5T_ORDER_BE;
        break;
    case H5T_FLOAT:
        o->cls = ANS_T_FLOAT;
        o->big_endian = H5Tget_order(t) == H5T_ORDER_BE;
        break;
    case H5T_STRING:
        o->cls = ANS_T_STRING;
        o->vlen = H5Tis_variable_str(t) > 0;
        o->cset = (int)H5Tget_cset(t);
        break;
    case H5T_ENUM:
        o->cls = is_bool_enum(t) ? ANS_T_BOOL : ANS_T_OTHER;
        break;
    case H5T_REFERENCE:
        o->cls = ANS_T_REFERENCE;
        break;
    case H5T_COMPOUND:
        o->cls = ANS_T_COMPOUND;
        break;
    case H5T_ARRAY:
        array_info(t, o);
        break;
    default:
        o->cls = ANS_T_OTHER;
    }
}

void ans_type_info_of(hid_t t, ans_type_info *out) { type_info(t, out); }

int ans_ds_type_info(hid_t ds, ans_type_info *out) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    type_info(t, out);
    H5Tclose(t);
    return 0;
}

int ans_attr_type_info(hid_t obj, const char *name, ans_type_info *out, int *rank, int64_t *npoints) {
    ans_quiet();
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    type_info(t, out);
    *rank = H5Sget_simple_extent_ndims(s);
    *npoints = (int64_t)H5Sget_simple_extent_npoints(s);
    if (H5Sget_simple_extent_type(s) == H5S_NULL) *npoints = -1;
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

herr_t ans_read_all(hid_t ds, void *buf) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    herr_t st = H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Tclose(t);
    return st;
}

/* Every string of a variable-length string dataset of any rank (0-d too). */
char **ans_read_all_strings(hid_t ds, size_t *n) {
    ans_quiet();
    hid_t s = H5Dget_space(ds);
    hssize_t cnt = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    if (cnt < 0) return NULL;
    hid_t ft = H5Dget_type(ds);
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(ft));
    H5Tclose(ft);
    char **out = calloc((size_t)cnt + 1, sizeof(char *));
    herr_t st = cnt ? H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : 0;
    H5Tclose(mem);
    if (st < 0) { free(out); return NULL; }
    *n = (size_t)cnt;
    return out;
}

int ans_attr_count(hid_t obj) {
    ans_quiet();
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info3(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#else
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#endif
    return (int)info.num_attrs;
}

int ans_attr_name(hid_t obj, int idx, char *buf, size_t buflen) {
    ans_quiet();
    ssize_t n = H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx, buf, buflen, H5P_DEFAULT);
    return (int)n;
}

static herr_t attr_read(hid_t obj, const char *name, hid_t mem, void *out) {
    ans_quiet();
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t st;
    if (mem < 0) {
        hid_t t = H5Aget_type(a);
        st = H5Aread(a, t, out);
        H5Tclose(t);
    } else {
        st = H5Aread(a, mem, out);
    }
    H5Aclose(a);
    return st;
}

herr_t ans_attr_read_i64(hid_t obj, const char *name, int64_t *out) { return attr_read(obj, name, H5T_NATIVE_INT64, out); }
herr_t ans_attr_read_f64(hid_t obj, const char *name, double *out) { return attr_read(obj, name, H5T_NATIVE_DOUBLE, out); }
herr_t ans_attr_read_raw(hid_t obj, const char *name, void *out) { return attr_read(obj, name, -1, out); }

/* ---- creating ---- */

static hid_t bool_type(void) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t v = 0;
    H5Tenum_insert(t, "FALSE", &v);
    v = 1;
    H5Tenum_insert(t, "TRUE", &v);
    return t;
}

hid_t ans_make_type(int cls, int size, int big_endian, int is_signed, int vlen, int cset) {
    hid_t t = -1;
    switch (cls) {
    case ANS_T_INT:
        switch (size) {
        case 1: t = H5Tcopy(is_signed ? H5T_STD_I8LE : H5T_STD_U8LE); break;
        case 2: t = H5Tcopy(is_signed ? H5T_STD_I16LE : H5T_STD_U16LE); break;
        case 4: t = H5Tcopy(is_signed ? H5T_STD_I32LE : H5T_STD_U32LE); break;
        case 8: t = H5Tcopy(is_signed ? H5T_STD_I64LE : H5T_STD_U64LE); break;
        default: return -1;
        }
        break;
    case ANS_T_FLOAT:
        switch (size) {
        case 2:
            t = H5Tcopy(H5T_IEEE_F32LE);
            /* half precision as numpy/h5py define it */
            H5Tset_fields(t, 15, 10, 5, 0, 10);
            H5Tset_size(t, 2);
            H5Tset_ebias(t, 15);
            break;
        case 4: t = H5Tcopy(H5T_IEEE_F32LE); break;
        case 8: t = H5Tcopy(H5T_IEEE_F64LE); break;
        default: return -1;
        }
        break;
    case ANS_T_BOOL:
        return bool_type();
    case ANS_T_STRING:
        t = H5Tcopy(H5T_C_S1);
        if (vlen) {
            H5Tset_size(t, H5T_VARIABLE);
        } else {
            H5Tset_size(t, (size_t)size);
            H5Tset_strpad(t, H5T_STR_NULLPAD);
        }
        H5Tset_cset(t, (H5T_cset_t)cset);
        return t;
    default:
        return -1;
    }
    if (big_endian) H5Tset_order(t, H5T_ORDER_BE);
    return t;
}

hid_t ans_create_typed_dataset(hid_t loc, const char *name, int cls, int size, int big_endian,
                               int is_signed, int vlen, int cset, int rank, const hsize_t *dims,
                               int contiguous_early, const hsize_t *chunk, int filter, int level) {
    ans_quiet();
    hid_t t = ans_make_type(cls, size, big_endian, is_signed, vlen, cset);
    if (t < 0) return -1;
    hid_t id = ans_create_dataset(loc, name, t, rank, dims, contiguous_early, chunk, filter, level);
    H5Tclose(t);
    return id;
}

/* The type t describes: an array of its element type when t->ndims > 0
 * (h5py's form of a numpy sub-array field). */
hid_t ans_make_type_info(const ans_type_info *t) {
    hid_t base = ans_make_type(t->cls, t->size, t->big_endian, t->is_signed, t->vlen, t->cset);
    if (base < 0 || t->ndims == 0) return base;
    hid_t a = -1;
    if (t->ndims > 0 && t->ndims <= ANS_MAX_ARRAY_RANK) {
        hsize_t dims[ANS_MAX_ARRAY_RANK];
        for (int i = 0; i < t->ndims; i++) dims[i] = (hsize_t)t->dims[i];
        a = H5Tarray_create2(base, (unsigned)t->ndims, dims);
    }
    H5Tclose(base);
    return a;
}

herr_t ans_write_all(hid_t ds, const void *buf) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    herr_t st = H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Tclose(t);
    return st;
}

static herr_t write_attr(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, type, buf);
    if (a >= 0) H5Aclose(a);
    return st;
}

/* A scalar variable-length UTF-8 string, as h5py writes a str attribute. */
herr_t ans_write_attr_scalar_string(hid_t obj, const char *name, const char *s) {
    ans_quiet();
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    herr_t st = write_attr(obj, name, t, sp, &s);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

static hid_t space_of(size_t n, int scalar) {
    if (scalar) return H5Screate(H5S_SCALAR);
    hsize_t d[1] = {(hsize_t)n};
    return H5Screate_simple(1, d, NULL);
}

herr_t ans_write_attr_i64s(hid_t obj, const char *name, const int64_t *v, size_t n, int scalar) {
    ans_quiet();
    hid_t sp = space_of(n, scalar);
    herr_t st = write_attr(obj, name, H5T_STD_I64LE, sp, v);
    H5Sclose(sp);
    return st;
}

herr_t ans_write_attr_f64_scalar(hid_t obj, const char *name, double v) {
    ans_quiet();
    hid_t sp = H5Screate(H5S_SCALAR);
    herr_t st = write_attr(obj, name, H5T_IEEE_F64LE, sp, &v);
    H5Sclose(sp);
    return st;
}

herr_t ans_write_attr_bools(hid_t obj, const char *name, const int8_t *v, size_t n, int scalar) {
    ans_quiet();
    hid_t t = bool_type();
    hid_t sp = space_of(n, scalar);
    herr_t st = write_attr(obj, name, t, sp, v);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

/* The path of the object a scalar object-reference attribute points to
 * (anndata 0.7's categories); its length, or -1. */
int ans_attr_ref_path(hid_t obj, const char *name, char *buf, size_t buflen) {
    ans_quiet();
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hobj_ref_t ref;
    herr_t st = H5Aread(a, H5T_STD_REF_OBJ, &ref);
    H5Aclose(a);
    if (st < 0) return -1;
    hid_t t = H5Rdereference2(obj, H5P_DEFAULT, H5R_OBJECT, &ref);
    if (t < 0) return -1;
    ssize_t n = H5Iget_name(t, buf, buflen);
    H5Oclose(t);
    return (int)n;
}

/* A scalar object-reference attribute pointing to target (a path relative
 * to loc), as anndata 0.7 wrote categories. */
herr_t ans_write_attr_ref(hid_t obj, const char *name, hid_t loc, const char *target) {
    ans_quiet();
    hobj_ref_t ref;
    if (H5Rcreate(&ref, loc, target, H5R_OBJECT, -1) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    herr_t st = write_attr(obj, name, H5T_STD_REF_OBJ, sp, &ref);
    H5Sclose(sp);
    return st;
}
