#include "helpers.h"

#include <errno.h>
#include <liblzf/lzf.h>
#include <stdlib.h>
#include <string.h>

/* libhdf5's error printing is per thread in a thread-safe build, and Go
 * runs cgo calls on many threads: every entry point silences its own. */
static __thread int quieted;
#define QUIET() do { if (!quieted) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); quieted = 1; } } while (0)

/* ---------------------------------------------------------------------------
 * LZF filter (id 32000), compatible with h5py's: cd_values are
 * {filter revision, LZF API version, chunk size in bytes}. libhdf5 lacks it
 * and Debian's plugin package is broken, so it is registered in-process.
 */

#define LZF_FILTER_REVISION 4
#define LZF_API_VERSION 0x0105

static htri_t lzf_can_apply(hid_t dcpl, hid_t type, hid_t space) {
    (void)dcpl; (void)type; (void)space;
    return 1;
}

/* The chunk's byte size goes into cd_values[2] so decompression can size
 * its buffer in one go, as h5py's files expect. */
static herr_t lzf_set_local(hid_t dcpl, hid_t type, hid_t space) {
    (void)space;
    unsigned flags;
    size_t nelem = 8;
    unsigned cd[8];
    if (H5Pget_filter_by_id2(dcpl, ANS_LZF_FILTER, &flags, &nelem, cd, 0, NULL, NULL) < 0)
        return -1;
    if (nelem < 3) nelem = 3;
    cd[0] = LZF_FILTER_REVISION;
    cd[1] = LZF_API_VERSION;
    hsize_t chunk[32];
    int rank = H5Pget_chunk(dcpl, 32, chunk);
    if (rank < 0) return -1;
    size_t bytes = H5Tget_size(type);
    for (int i = 0; i < rank; i++) bytes *= (size_t)chunk[i];
    cd[2] = (unsigned)bytes;
    return H5Pmodify_filter(dcpl, ANS_LZF_FILTER, flags, nelem, cd);
}

static size_t lzf_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[],
                         size_t nbytes, size_t *buf_size, void **buf) {
    void *out = NULL;
    size_t out_size;
    unsigned int status;
    if (!(flags & H5Z_FLAG_REVERSE)) {
        /* An output no smaller than the input fails the (optional) filter,
         * and libhdf5 then stores the chunk as it is. */
        out_size = nbytes;
        out = malloc(out_size);
        if (!out) return 0;
        status = lzf_compress(*buf, (unsigned)nbytes, out, (unsigned)out_size);
        if (status == 0) { free(out); return 0; }
    } else {
        out_size = (cd_nelmts >= 3 && cd_values[2] != 0) ? cd_values[2] : *buf_size;
        for (;;) {
            out = malloc(out_size);
            if (!out) return 0;
            status = lzf_decompress(*buf, (unsigned)nbytes, out, (unsigned)out_size);
            if (status != 0) break;
            free(out);
            if (errno != E2BIG) return 0;
            out_size *= 2;
        }
    }
    free(*buf);
    *buf = out;
    *buf_size = out_size;
    return status;
}

static const H5Z_class2_t lzf_class = {
    H5Z_CLASS_T_VERS, (H5Z_filter_t)ANS_LZF_FILTER, 1, 1, "lzf",
    lzf_can_apply, lzf_set_local, lzf_filter,
};

int ans_init(void) {
    if (H5open() < 0) return -1;
    /* Errors are reported through Go, with the file and element named. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Zfilter_avail(ANS_LZF_FILTER) <= 0 && H5Zregister(&lzf_class) < 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */

/* Object timestamps off everywhere: a shard's skeleton must come out
 * byte-identical every time it is built (mount and materialize agree).
 * v18: in the 1.8 format (superblock 2, object headers 2), the template
 * layout/h5w appends a Go-written skeleton to. */
hid_t ans_create_file(const char *path, int v18) {
    QUIET();
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* v18: superblock 2 and version 2 object headers, which layout/h5w
     * extends; newer messages may still come in with copies (a chunked
     * dataset's layout of version 4 in a file h5py wrote with
     * libver="latest": H5Ocopy refused it as out of bounds). */
    if (v18) H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    return f;
}

/* The file address of the object at name (relative to loc), or -1. */
int64_t ans_object_addr(hid_t loc, const char *name) {
    QUIET();
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
    return (int64_t)info.addr;
}

hid_t ans_create_group(hid_t loc, const char *name) {
    QUIET();
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

/* contiguous_early: space reserved at creation and never filled, so the
 * array's bytes have a fixed file extent that the image generates.
 * Otherwise chunk (may be NULL) and filter: 0 none, 1 gzip(level), 2 lzf. */
hid_t ans_create_dataset(hid_t loc, const char *name, hid_t type, int rank,
                         const hsize_t *dims, int contiguous_early,
                         const hsize_t *chunk, int filter, int level) {
    QUIET();
    hid_t space = H5Screate_simple(rank, dims, NULL);
    if (space < 0) return -1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    herr_t st = 0;
    if (contiguous_early) {
        st |= H5Pset_layout(dcpl, H5D_CONTIGUOUS);
        st |= H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
        st |= H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    } else if (chunk) {
        st |= H5Pset_chunk(dcpl, rank, chunk);
        if (filter == 1) st |= H5Pset_deflate(dcpl, (unsigned)level);
        if (filter == 2) {
            unsigned cd[3] = {LZF_FILTER_REVISION, LZF_API_VERSION, 0};
            st |= H5Pset_filter(dcpl, ANS_LZF_FILTER, H5Z_FLAG_OPTIONAL, 3, cd);
        }
    }
    hid_t ds = -1;
    if (st >= 0) ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return ds;
}



/* ------------------------------------------------------------------------ */

static int type_is_variable(hid_t type) {
    if (H5Tdetect_class(type, H5T_VLEN) > 0) return 1;
    if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) return 1;
    /* H5Tdetect_class does not tell variable strings nested inside from
     * fixed-length ones (a record array's "S" fields): walk the members. */
    int v = 0;
    if (H5Tget_class(type) == H5T_COMPOUND) {
        int n = H5Tget_nmembers(type);
        if (n < 0) return 1;
        for (int i = 0; i < n && !v; i++) {
            hid_t mt = H5Tget_member_type(type, (unsigned)i);
            v = mt < 0 || type_is_variable(mt);
            if (mt >= 0) H5Tclose(mt);
        }
    } else if (H5Tget_class(type) == H5T_ARRAY) {
        hid_t bt = H5Tget_super(type);
        v = bt < 0 || type_is_variable(bt);
        if (bt >= 0) H5Tclose(bt);
    }
    return v;
}

int ans_needs_conversion_walk(hid_t type) { return type_is_variable(type); }

/* Object references are file addresses: one into the source means nothing
 * in the shard, so each is re-created at the same path in the shard (the
 * shard mirrors the source's layout). anndata 0.7 keeps categoricals so. */
/* Copies an object-reference attribute to dst, pointing at the same
 * paths. With prefix (the absolute path of a copied tree's source root),
 * targets inside that tree point into the copy rooted at dst_root
 * instead: the copy may have another name (the h5w template's "0", "1"). */
static herr_t copy_ref_attr(hid_t src_attr, hid_t dst, const char *name, hid_t space,
                            const char *prefix, hid_t dst_root) {
    QUIET();
    size_t plen = prefix ? strlen(prefix) : 0;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    hobj_ref_t *refs = calloc((size_t)(n > 0 ? n : 1), sizeof(hobj_ref_t));
    herr_t st = H5Aread(src_attr, H5T_STD_REF_OBJ, refs);
    char path[4096];
    for (hssize_t i = 0; st >= 0 && i < n; i++) {
        ssize_t len = H5Rget_name(src_attr, H5R_OBJECT, &refs[i], path, sizeof path);
        if (len <= 0 || (size_t)len >= sizeof path) { st = -1; break; }
        if (plen && strncmp(path, prefix, plen) == 0 && path[plen] == '/')
            st = H5Rcreate(&refs[i], dst_root, path + plen + 1, H5R_OBJECT, -1);
        else
            st = H5Rcreate(&refs[i], dst, path, H5R_OBJECT, -1);
    }
    if (st >= 0) {
        hid_t a = H5Acreate2(dst, name, H5T_STD_REF_OBJ, space, H5P_DEFAULT, H5P_DEFAULT);
        st = a < 0 ? -1 : H5Awrite(a, H5T_STD_REF_OBJ, refs);
        if (a >= 0) H5Aclose(a);
    }
    free(refs);
    return st;
}

struct copy_ctx { hid_t dst; const char *skip1, *skip2; };

static herr_t copy_one_attr(hid_t src, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    struct copy_ctx *c = op;
    if ((c->skip1 && strcmp(name, c->skip1) == 0) || (c->skip2 && strcmp(name, c->skip2) == 0))
        return 0;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    herr_t st = 0;
    if (H5Tget_class(type) == H5T_REFERENCE) {
        st = H5Tequal(type, H5T_STD_REF_OBJ) > 0 ? copy_ref_attr(a, c->dst, name, space, NULL, -1) : -1;
    } else {
        /* Fixed-size values move as raw bytes in the file's own type, so byte
         * order and width survive; variable-length ones need memory types. */
        int var = type_is_variable(type);
        hid_t mem = var ? H5Tget_native_type(type, H5T_DIR_ASCEND) : H5Tcopy(type);
        hssize_t n = H5Sget_simple_extent_npoints(space);
        size_t sz = H5Tget_size(mem) * (size_t)(n > 0 ? n : 0);
        void *buf = calloc(sz > 0 ? sz : 1, 1);
        if (n > 0) st = H5Aread(a, mem, buf);
        hid_t d = st < 0 ? -1 : H5Acreate2(c->dst, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0) st = -1;
        else {
            if (n > 0) st = H5Awrite(d, mem, buf);
            H5Aclose(d);
        }
        if (var && n > 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
        free(buf);
        H5Tclose(mem);
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return st < 0 ? -1 : 0;
}

herr_t ans_copy_attrs(hid_t src, hid_t dst, const char *skip1, const char *skip2) {
    QUIET();
    struct copy_ctx c = {dst, skip1, skip2};
    hsize_t idx = 0;
    return H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_one_attr, &c);
}

/* Returns the string's length, -1 when absent, -2 when not a string. */
int ans_attr_string(hid_t obj, const char *name, char *buf, size_t buflen) {
    QUIET();
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t type = H5Aget_type(a);
    int ret = -2;
    hid_t space = H5Aget_space(a);
    if (H5Tget_class(type) == H5T_STRING && H5Sget_simple_extent_npoints(space) == 1) {
        hid_t mem = H5Tcopy(H5T_C_S1);
        if (H5Tis_variable_str(type) > 0) {
            char *s = NULL;
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(type));
            if (H5Aread(a, mem, &s) >= 0 && s) {
                ret = (int)strlen(s);
                snprintf(buf, buflen, "%s", s);
                H5free_memory(s);
            }
        } else {
            size_t sz = H5Tget_size(type);
            char *tmp = calloc(sz + 1, 1);
            H5Tset_size(mem, sz + 1);
            H5Tset_strpad(mem, H5T_STR_NULLTERM);
            if (H5Aread(a, mem, tmp) >= 0) {
                ret = (int)strlen(tmp);
                snprintf(buf, buflen, "%s", tmp);
            }
            free(tmp);
        }
        H5Tclose(mem);
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return ret;
}

/* Reads an integer attribute (scalar or 1-D) as int64; returns the count,
 * -1 when absent, -2 when not integers. */
int ans_attr_int64s(hid_t obj, const char *name, int64_t *out, int max) {
    QUIET();
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    int ret = -2;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (H5Tget_class(type) == H5T_INTEGER && n <= max) {
        if (H5Aread(a, H5T_NATIVE_INT64, out) >= 0) ret = (int)n;
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return ret;
}

/* Writes integers in like_type, the source attribute's own type. */
herr_t ans_write_attr_int64s(hid_t obj, const char *name, hid_t like_type,
                             const int64_t *vals, int n) {
    QUIET();
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, like_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, vals);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return st;
}

/* ------------------------------------------------------------------------ */

static herr_t rows_io(hid_t ds, hid_t memtype, hsize_t row0, hsize_t nrows, void *buf, int write) {
    hid_t fspace = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(fspace);
    if (rank < 1 || rank > 32) { H5Sclose(fspace); return -1; }
    hsize_t dims[32], start[32], count[32];
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    for (int i = 0; i < rank; i++) { start[i] = 0; count[i] = dims[i]; }
    start[0] = row0;
    count[0] = nrows;
    herr_t st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(rank, count, NULL);
    hid_t type = memtype > 0 ? H5Tcopy(memtype) : H5Dget_type(ds);
    if (st >= 0 && nrows > 0)
        st = write ? H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, buf)
                   : H5Dread(ds, type, mspace, fspace, H5P_DEFAULT, buf);
    H5Tclose(type);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return st;
}

/* Raw bytes in the dataset's own type: no conversion, whatever the dtype. */
herr_t ans_read_rows(hid_t ds, hsize_t row0, hsize_t nrows, void *buf) {
    QUIET();
    return rows_io(ds, -1, row0, nrows, buf, 0);
}

herr_t ans_write_rows(hid_t ds, hsize_t row0, hsize_t nrows, const void *buf) {
    QUIET();
    return rows_io(ds, -1, row0, nrows, (void *)buf, 1);
}

herr_t ans_read_int64s(hid_t ds, hsize_t row0, hsize_t n, int64_t *out) {
    QUIET();
    return rows_io(ds, H5T_NATIVE_INT64, row0, n, out, 0);
}

herr_t ans_read_int64_points(hid_t ds, const hsize_t *rows, size_t n, int64_t *out) {
    QUIET();
    return ans_read_points(ds, H5T_NATIVE_INT64, rows, n, out);
}

/* Reads the given elements of a 1-D dataset, in the given order. */
herr_t ans_read_points(hid_t ds, hid_t memtype, const hsize_t *rows, size_t n, void *buf) {
    QUIET();
    hid_t fspace = H5Dget_space(ds);
    herr_t st = n ? H5Sselect_elements(fspace, H5S_SELECT_SET, n, rows) : H5Sselect_none(fspace);
    hsize_t mdims[1] = {n};
    hid_t mspace = H5Screate_simple(1, mdims, NULL);
    if (st >= 0 && n) st = H5Dread(ds, memtype, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return st;
}

static hid_t vlen_str_type(int cset) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, (H5T_cset_t)cset);
    return t;
}

/* rows NULL reads the whole 1-D dataset (n must be its length). */
char **ans_read_strings(hid_t ds, const hsize_t *rows, size_t n, int *cset) {
    hid_t ft = H5Dget_type(ds);
    *cset = (int)H5Tget_cset(ft);
    H5Tclose(ft);
    hid_t mem = vlen_str_type(*cset);
    char **out = calloc(n > 0 ? n : 1, sizeof(char *));
    herr_t st;
    if (rows) st = ans_read_points(ds, mem, rows, n, out);
    else st = n ? H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : 0;
    H5Tclose(mem);
    if (st < 0) { free(out); return NULL; }
    return out;
}

void ans_free_strings(char **s, size_t n) {
    QUIET();
    for (size_t i = 0; i < n; i++) H5free_memory(s[i]);
    free(s);
}

herr_t ans_write_strings(hid_t ds, char **s, size_t n, int cset) {
    QUIET();
    if (n == 0) return 0;
    hid_t mem = vlen_str_type(cset);
    herr_t st = H5Dwrite(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
    H5Tclose(mem);
    return st;
}

int ans_is_vlen_string(hid_t type) {
    QUIET();
    return H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0;
}

/* For a compound whose only variable-length parts are direct members that
 * are variable-length strings (numpy record arrays of object strings, as
 * h5py writes them): their byte offsets in each record, into out (at most
 * max), and their count. -1 when the type is not such a compound. */
int ans_compound_vlen_string_offsets(hid_t type, int64_t *out, int max) {
    QUIET();
    if (H5Tget_class(type) != H5T_COMPOUND) return -1;
    int nm = H5Tget_nmembers(type), n = 0;
    if (nm < 0) return -1;
    for (int i = 0; i < nm; i++) {
        hid_t mt = H5Tget_member_type(type, (unsigned)i);
        if (mt < 0) return -1;
        int vs = ans_is_vlen_string(mt);
        int other = !vs && (H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tdetect_class(mt, H5T_REFERENCE) > 0 ||
                            (H5Tdetect_class(mt, H5T_STRING) > 0 && H5Tget_class(mt) != H5T_STRING));
        H5Tclose(mt);
        if (other) return -1;
        if (vs) {
            if (n >= max) return -1;
            out[n++] = (int64_t)H5Tget_member_offset(type, (unsigned)i);
        }
    }
    return n;
}

int64_t ans_ds_offset(hid_t ds) {
    QUIET();
    haddr_t a = H5Dget_offset(ds);
    return a == HADDR_UNDEF ? -1 : (int64_t)a;
}

int ans_ds_layout(hid_t ds) {
    QUIET();
    hid_t dcpl = H5Dget_create_plist(ds);
    int l = (int)H5Pget_layout(dcpl);
    H5Pclose(dcpl);
    return l;
}

int ans_ds_nfilters(hid_t ds) {
    QUIET();
    hid_t dcpl = H5Dget_create_plist(ds);
    int n = H5Pget_nfilters(dcpl);
    H5Pclose(dcpl);
    return n;
}

int ans_child_count(hid_t grp) {
    QUIET();
    H5G_info_t info;
    if (H5Gget_info(grp, &info) < 0) return -1;
    return (int)info.nlinks;
}

/* Children by name order, as h5py lists them. is_group: 1 group, 0 dataset,
 * 2 anything else (committed datatypes, dangling links). */
int ans_child_name(hid_t grp, int idx, char *buf, size_t buflen, int *is_group) {
    QUIET();
    ssize_t len = H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx,
                                     buf, buflen, H5P_DEFAULT);
    if (len < 0 || (size_t)len >= buflen) return -1;
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    herr_t st = H5Oget_info_by_idx3(grp, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx, &oi,
                                    H5O_INFO_BASIC, H5P_DEFAULT);
#else
    H5O_info_t oi;
    herr_t st = H5Oget_info_by_idx2(grp, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)idx, &oi,
                                    H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    if (st < 0) { *is_group = 2; return (int)len; }
    *is_group = oi.type == H5O_TYPE_GROUP ? 1 : (oi.type == H5O_TYPE_DATASET ? 0 : 2);
    return (int)len;
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0) {
        char min[128] = "";
        H5Eget_msg(e->min_num, NULL, min, sizeof min);
        snprintf(buf, 512, "%s (%s)", e->desc ? e->desc : "", min);
    }
    return 0;
}

void ans_last_error(char *buf, size_t buflen) {
    QUIET();
    char tmp[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, tmp);
    snprintf(buf, buflen, "%s", tmp);
}

/* Chunk dims of a chunked dataset; returns its rank, or 0 when not chunked. */
int ans_ds_chunk(hid_t ds, hsize_t *dims, int max) {
    QUIET();
    hid_t dcpl = H5Dget_create_plist(ds);
    int r = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) r = H5Pget_chunk(dcpl, max, dims);
    H5Pclose(dcpl);
    return r < 0 ? 0 : r;
}

/* File address of the chunk at coord, or -1 when it was never written. */
int64_t ans_chunk_addr(hid_t ds, const hsize_t *coord, unsigned *filter_mask, hsize_t *size) {
    QUIET();
    haddr_t addr = HADDR_UNDEF;
    if (H5Dget_chunk_info_by_coord(ds, coord, filter_mask, &addr, size) < 0) return -2;
    return addr == HADDR_UNDEF ? -1 : (int64_t)addr;
}

void ans_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }


/* H5Ocopy leaves object-reference attributes pointing at source addresses;
 * re-point every one of them in the copied tree (same layout as the source). */
struct fix_ctx {
    hid_t src, dst;
    herr_t st;
    char prefix[4096];
    ans_touched *t; /* the headers rewritten, with their times before */
    size_t n, cap;
};
struct fix_obj { hid_t dobj; struct fix_ctx *c; int noted; };

/* Rewriting an attribute stamps the time of day into the header of an
 * object that records times (H5O_touch), and a copy's bytes would differ
 * from run to run: note the source's times (H5Ocopy keeps them, but the
 * copy's are not decoded yet) so that File.Close can put them back. */
static void note_times(struct fix_obj *fo, hid_t sobj) {
#if H5_VERSION_GE(1, 12, 0)
    (void)fo, (void)sobj; /* 1.12 tokens: no address to patch */
#else
    struct fix_ctx *c = fo->c;
    H5O_info_t oi, si;
    if (fo->noted || H5Oget_info2(fo->dobj, &oi, H5O_INFO_BASIC) < 0 ||
        H5Oget_info2(sobj, &si, H5O_INFO_TIME) < 0)
        return;
    fo->noted = 1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        ans_touched *t = realloc(c->t, cap * sizeof *t);
        if (!t) return;
        c->t = t, c->cap = cap;
    }
    ans_touched *t = &c->t[c->n++];
    t->addr = (int64_t)oi.addr;
    t->atime = (int64_t)si.atime, t->mtime = (int64_t)si.mtime;
    t->ctime = (int64_t)si.ctime, t->btime = (int64_t)si.btime;
#endif
}

static herr_t fix_one_attr(hid_t sobj, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    struct fix_obj *fo = op;
    hid_t *dobj = &fo->dobj;
    hid_t a = H5Aopen(sobj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    herr_t st = 0;
    if (H5Tget_class(type) == H5T_REFERENCE) {
        if (H5Tequal(type, H5T_STD_REF_OBJ) <= 0) st = -1;
        else {
            note_times(fo, sobj);
            H5Adelete(*dobj, name);
            st = copy_ref_attr(a, *dobj, name, space, fo->c->prefix, fo->c->dst);
        }
    }
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    return st;
}

static herr_t fix_visit(hid_t root, const char *name, const void *info, void *op) {
    (void)info;
    struct fix_ctx *c = op;
    hid_t s = H5Oopen(c->src, name, H5P_DEFAULT), d = H5Oopen(c->dst, name, H5P_DEFAULT);
    (void)root;
    herr_t st = -1;
    if (s >= 0 && d >= 0) {
        hsize_t idx = 0;
        struct fix_obj fo = {d, c, 0};
        st = H5Aiterate2(s, H5_INDEX_NAME, H5_ITER_INC, &idx, fix_one_attr, &fo);
    }
    if (s >= 0) H5Oclose(s);
    if (d >= 0) H5Oclose(d);
    if (st < 0) c->st = -1;
    return st < 0 ? -1 : 0;
}

#if H5_VERSION_GE(1, 12, 0)
static herr_t fix_visit_cb(hid_t o, const char *n, const H5O_info2_t *i, void *op) { return fix_visit(o, n, i, op); }
#define OVISIT(obj, cb, ctx) H5Ovisit3(obj, H5_INDEX_NAME, H5_ITER_INC, cb, ctx, H5O_INFO_BASIC)
#else
static herr_t fix_visit_cb(hid_t o, const char *n, const H5O_info_t *i, void *op) { return fix_visit(o, n, i, op); }
#define OVISIT(obj, cb, ctx) H5Ovisit2(obj, H5_INDEX_NAME, H5_ITER_INC, cb, ctx, H5O_INFO_BASIC)
#endif

/* *touched (malloc'd, *ntouched of them; the caller frees it) lists the
 * copied headers whose times libhdf5 changed, with the times to restore. */
herr_t ans_copy_object(hid_t src_loc, const char *src_name, hid_t dst_loc,
                       const char *dst_name, ans_touched **touched, size_t *ntouched) {
    QUIET();
    *touched = NULL, *ntouched = 0;
    if (H5Ocopy(src_loc, src_name, dst_loc, dst_name, H5P_DEFAULT, H5P_DEFAULT) < 0) return -1;
    hid_t s = H5Oopen(src_loc, src_name, H5P_DEFAULT), d = H5Oopen(dst_loc, dst_name, H5P_DEFAULT);
    struct fix_ctx c = {s, d, 0, {0}, NULL, 0, 0};
    if (s >= 0 && H5Iget_name(s, c.prefix, sizeof c.prefix) <= 0) c.prefix[0] = 0;
    herr_t st = (s < 0 || d < 0) ? -1 : OVISIT(s, fix_visit_cb, &c);
    if (s >= 0) H5Oclose(s);
    if (d >= 0) H5Oclose(d);
    *touched = c.t, *ntouched = c.n;
    return (st < 0 || c.st < 0) ? -1 : 0;
}

/* Byte sizes of file addresses and lengths (the superblock's). */
int ans_file_sizes(hid_t file, size_t *addr, size_t *len) {
    QUIET();
    hid_t fcpl = H5Fget_create_plist(file);
    if (fcpl < 0) return -1;
    herr_t st = H5Pget_sizes(fcpl, addr, len);
    H5Pclose(fcpl);
    return st < 0 ? -1 : 0;
}

/* Writes one already-filtered chunk (direct chunk write): compression runs
 * in Go, in parallel, outside libhdf5's global lock. */
herr_t ans_write_chunk(hid_t ds, const hsize_t *offset, uint32_t filter_mask, const void *buf, size_t size) {
    QUIET();
    return H5Dwrite_chunk(ds, H5P_DEFAULT, filter_mask, offset, size, buf);
}

/* LZF-compresses in into out (as the filter does); 0 when it does not fit. */
size_t ans_lzf_compress(const void *in, size_t n, void *out, size_t cap) {
    return lzf_compress(in, (unsigned)n, out, (unsigned)cap);
}
