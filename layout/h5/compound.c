#include "compound.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

int ans_ds_compound_nmembers(hid_t ds) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    int n = H5Tget_class(t) == H5T_COMPOUND ? H5Tget_nmembers(t) : -1;
    H5Tclose(t);
    return n;
}

/* Member i: its name (NUL-terminated, truncated to namelen), offset and
 * type. -1 on error or a name too long. */
int ans_ds_compound_member(hid_t ds, int i, char *name, size_t namelen, int64_t *offset, ans_type_info *info) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    int st = -1;
    char *n = H5Tget_member_name(t, (unsigned)i);
    hid_t mt = H5Tget_member_type(t, (unsigned)i);
    if (n && mt >= 0 && strlen(n) < namelen) {
        strcpy(name, n);
        *offset = (int64_t)H5Tget_member_offset(t, (unsigned)i);
        ans_type_info_of(mt, info);
        st = 0;
    }
    if (n) H5free_memory(n);
    if (mt >= 0) H5Tclose(mt);
    H5Tclose(t);
    return st;
}

/* A memory compound holding only member i of the dataset's type, at
 * offset 0, as type mem (owned by the caller); HDF5 matches members by
 * name, so a read fills just that member. */
static hid_t one_member(hid_t ds, int i, hid_t mem) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    char *n = H5Tget_member_name(t, (unsigned)i);
    H5Tclose(t);
    if (!n) return -1;
    hid_t c = H5Tcreate(H5T_COMPOUND, H5Tget_size(mem));
    if (c >= 0 && H5Tinsert(c, n, 0, mem) < 0) {
        H5Tclose(c);
        c = -1;
    }
    H5free_memory(n);
    return c;
}

/* Member i of every element, in its own (file) type, packed. */
herr_t ans_read_member(hid_t ds, int i, void *buf) {
    ans_quiet();
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    hid_t mt = H5Tget_member_type(t, (unsigned)i);
    H5Tclose(t);
    if (mt < 0) return -1;
    hid_t c = one_member(ds, i, mt);
    H5Tclose(mt);
    if (c < 0) return -1;
    herr_t st = H5Dread(ds, c, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Tclose(c);
    return st;
}

/* Member i (a variable-length string) of every element; free with
 * ans_free_strings. */
char **ans_read_member_strings(hid_t ds, int i, size_t *n) {
    ans_quiet();
    hid_t s = H5Dget_space(ds);
    hssize_t cnt = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    if (cnt < 0) return NULL;
    hid_t t = H5Dget_type(ds);
    hid_t ft = t < 0 ? -1 : H5Tget_member_type(t, (unsigned)i);
    if (t >= 0) H5Tclose(t);
    if (ft < 0) return NULL;
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(ft));
    H5Tclose(ft);
    hid_t c = one_member(ds, i, mem);
    H5Tclose(mem);
    if (c < 0) return NULL;
    char **out = calloc((size_t)cnt + 1, sizeof(char *));
    herr_t st = cnt ? H5Dread(ds, c, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : 0;
    H5Tclose(c);
    if (st < 0) {
        free(out);
        return NULL;
    }
    *n = (size_t)cnt;
    return out;
}

hid_t ans_create_compound_dataset(hid_t loc, const char *name, int size, int nmembers, char **names,
                                  const int64_t *offsets, const ans_type_info *types, int rank,
                                  const hsize_t *dims, int contiguous_early, const hsize_t *chunk, int filter,
                                  int level) {
    ans_quiet();
    hid_t c = H5Tcreate(H5T_COMPOUND, (size_t)size);
    if (c < 0) return -1;
    for (int i = 0; i < nmembers; i++) {
        const ans_type_info *m = &types[i];
        hid_t mt = ans_make_type_info(m);
        herr_t st = mt < 0 ? -1 : H5Tinsert(c, names[i], (size_t)offsets[i], mt);
        if (mt >= 0) H5Tclose(mt);
        if (st < 0) {
            H5Tclose(c);
            return -1;
        }
    }
    hid_t id = ans_create_dataset(loc, name, c, rank, dims, contiguous_early, chunk, filter, level);
    H5Tclose(c);
    return id;
}

/* Writes nelem records laid out as the dataset's type: buf holds every
 * fixed-size member; the nv variable-length string members, at byte
 * offsets voffs of each record, are the NUL-terminated strings at
 * blob + soffs[e*nv + k]. */
herr_t ans_write_compound(hid_t ds, const void *buf, size_t nelem, size_t elemsize, int nv,
                          const int64_t *voffs, const char *blob, const int64_t *soffs) {
    ans_quiet();
    if (nelem == 0) return 0;
    char *mem = malloc(nelem * elemsize);
    if (!mem) return -1;
    memcpy(mem, buf, nelem * elemsize);
    for (size_t e = 0; e < nelem; e++) {
        for (int k = 0; k < nv; k++) {
            const char *p = blob + soffs[e * (size_t)nv + (size_t)k];
            memcpy(mem + e * elemsize + (size_t)voffs[k], &p, sizeof p);
        }
    }
    hid_t t = H5Dget_type(ds);
    herr_t st = t < 0 ? -1 : H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, mem);
    if (t >= 0) H5Tclose(t);
    free(mem);
    return st;
}
