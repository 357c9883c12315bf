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
