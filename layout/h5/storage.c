#include "storage.h"
#include "helpers.h"

#include <liblzf/lzf.h>

/* Bytes allocated in the file for the dataset's data (compressed size for
 * filtered chunks); -1 on error. */
int64_t ans_ds_storage_size(hid_t ds) {
    ans_quiet();
    return (int64_t)H5Dget_storage_size(ds);
}

/* Number of written chunks of a chunked dataset; -1 on error. */
int64_t ans_ds_num_chunks(hid_t ds) {
    ans_quiet();
    hsize_t n = 0;
    hid_t space = H5Dget_space(ds);
    herr_t st = H5Dget_num_chunks(ds, space, &n);
    H5Sclose(space);
    return st < 0 ? -1 : (int64_t)n;
}

/* The idx-th written chunk: its first element's coordinates, filter mask,
 * file address and stored size. */
int ans_ds_chunk_info(hid_t ds, int64_t idx, hsize_t *offset, unsigned *mask, int64_t *addr, int64_t *size) {
    ans_quiet();
    haddr_t a = HADDR_UNDEF;
    hsize_t sz = 0;
    hid_t space = H5Dget_space(ds);
    herr_t st = H5Dget_chunk_info(ds, space, (hsize_t)idx, offset, mask, &a, &sz);
    H5Sclose(space);
    if (st < 0 || a == HADDR_UNDEF) return -1;
    *addr = (int64_t)a;
    *size = (int64_t)sz;
    return 0;
}

/* The idx-th filter of the dataset's pipeline: id and up to *ncd client
 * values (*ncd is set to their count). */
int ans_ds_filter(hid_t ds, int idx, unsigned *id, unsigned *cd, size_t *ncd) {
    ans_quiet();
    hid_t dcpl = H5Dget_create_plist(ds);
    unsigned flags;
    char name[64];
    unsigned conf;
    H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)idx, &flags, ncd, cd, sizeof name, name, &conf);
    H5Pclose(dcpl);
    if (f < 0) return -1;
    *id = (unsigned)f;
    return 0;
}

/* Bytes of one variable-length descriptor on disk: a 4-byte length, a
 * global heap address, a 4-byte object index. */
int ans_vlen_disk_size(hid_t file) {
    size_t a, l;
    if (ans_file_sizes(file, &a, &l) < 0) return -1;
    return 4 + (int)a + 4;
}

size_t ans_lzf_decompress(const void *in, size_t n, void *out, size_t cap) {
    return lzf_decompress(in, (unsigned)n, out, (unsigned)cap);
}

/* Size of the file's user block: file addresses are relative to its end. */
int64_t ans_userblock(hid_t file) {
    ans_quiet();
    hid_t fcpl = H5Fget_create_plist(file);
    if (fcpl < 0) return -1;
    hsize_t ub = 0;
    herr_t st = H5Pget_userblock(fcpl, &ub);
    H5Pclose(fcpl);
    return st < 0 ? -1 : (int64_t)ub;
}

/* 1 when the dataset's integers or floats are laid out in a way numpy (so
 * anndata) cannot represent -- a precision, offset or field layout other
 * than the standard ones, as a corrupt datatype message gives -- else 0. */
int ans_ds_type_odd(hid_t ds) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    if (t < 0) return 1;
    int odd = 0;
    size_t size = H5Tget_size(t);
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_INTEGER) {
        odd = !(size == 1 || size == 2 || size == 4 || size == 8) ||
              H5Tget_precision(t) != 8 * size || H5Tget_offset(t) != 0;
    } else if (cls == H5T_FLOAT) {
        size_t spos, epos, esize, mpos, msize;
        H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize);
        size_t ebias = H5Tget_ebias(t), prec = H5Tget_precision(t);
        switch (size) {
        case 2: odd = !(spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && ebias == 15); break;
        case 4: odd = !(spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23 && ebias == 127); break;
        case 8: odd = !(spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52 && ebias == 1023); break;
        default: odd = 1;
        }
        odd = odd || prec != 8 * size || H5Tget_offset(t) != 0;
    }
    H5Tclose(t);
    return odd;
}

/* Counts an object's attributes by what libhdf5 would dereference when
 * reading or copying them: nvar those of a variable-length type (string or
 * sequence), nnested those with variable-length data nested in a compound
 * or array. Only attribute messages are read here, not their values. */
struct attr_count { int nvar, nnested; };

static herr_t count_attr(hid_t obj, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    struct attr_count *c = op;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_VLEN || (cls == H5T_STRING && H5Tis_variable_str(t) > 0)) c->nvar++;
    else if ((cls == H5T_COMPOUND || cls == H5T_ARRAY) &&
             (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tdetect_class(t, H5T_STRING) > 0)) c->nnested++;
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

/* File address of the object's header (-1 where libhdf5 has no addresses).
 * Attribute messages are not decoded. */
int64_t ans_obj_addr(hid_t obj) {
    ans_quiet();
#if H5_VERSION_GE(1, 12, 0)
    (void)obj;
    return -1; /* 1.12 tokens: no address */
#else
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_BASIC) < 0) return -2;
    return (int64_t)oi.addr;
#endif
}

int ans_obj_attr_info(hid_t obj, int *nvar, int *nnested) {
    ans_quiet();
    struct attr_count c = {0, 0};
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, count_attr, &c) < 0) return -1;
    *nvar = c.nvar;
    *nnested = c.nnested;
    return 0;
}

/* Byte size of the base type of a variable-length type (1 for a string's
 * characters, as libhdf5 reads it); -1 when not variable-length. */
int64_t ans_ds_vlen_base_size(hid_t ds) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    int64_t n = -1;
    if (H5Tget_class(t) == H5T_VLEN) {
        hid_t b = H5Tget_super(t);
        if (b >= 0) { n = (int64_t)H5Tget_size(b); H5Tclose(b); }
    } else if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        n = 1;
    }
    H5Tclose(t);
    return n;
}

/* Address of the object the idx-th link (name order) of grp points to,
 * without loading that object: -1 for soft and external links, -2 on
 * error. */
int64_t ans_link_addr(hid_t grp, int idx) {
    ans_quiet();
    H5L_info_t li;
    if (H5Lget_info_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx, &li, H5P_DEFAULT) < 0) return -2;
    if (li.type != H5L_TYPE_HARD) return -1;
    return (int64_t)li.u.address;
}
