// Thin C helpers for the libhdf5 calls gonum.org/v1/hdf5 lacks, and for
// loops (attribute copy, string reads) that would cost a cgo call per item.
#ifndef ANNSLICER_H5_HELPERS_H
#define ANNSLICER_H5_HELPERS_H

#include <hdf5.h>
#include <stdint.h>

#define ANS_LZF_FILTER 32000

int ans_init(void);
hid_t ans_create_file(const char *path, int v18);
int64_t ans_object_addr(hid_t loc, const char *name);
hid_t ans_create_group(hid_t loc, const char *name);
hid_t ans_create_dataset(hid_t loc, const char *name, hid_t type, int rank,
                         const hsize_t *dims, int contiguous_early,
                         const hsize_t *chunk, int filter, int level);
typedef struct { int64_t addr, atime, mtime, ctime, btime; } ans_touched;
herr_t ans_copy_object(hid_t src_loc, const char *src_name, hid_t dst_loc,
                       const char *dst_name, ans_touched **touched, size_t *ntouched);
herr_t ans_copy_attrs(hid_t src, hid_t dst, const char *skip1,
                      const char *skip2);
int ans_attr_string(hid_t obj, const char *name, char *buf, size_t buflen);
int ans_attr_int64s(hid_t obj, const char *name, int64_t *out, int max);
herr_t ans_write_attr_int64s(hid_t obj, const char *name, hid_t like_type,
                             const int64_t *vals, int n);
herr_t ans_read_rows(hid_t ds, hsize_t row0, hsize_t nrows, void *buf);
herr_t ans_write_rows(hid_t ds, hsize_t row0, hsize_t nrows, const void *buf);
herr_t ans_read_int64s(hid_t ds, hsize_t row0, hsize_t n, int64_t *out);
herr_t ans_read_int64_points(hid_t ds, const hsize_t *rows, size_t n, int64_t *out);
herr_t ans_read_points(hid_t ds, hid_t memtype, const hsize_t *rows, size_t n,
                       void *buf);
char **ans_read_strings(hid_t ds, const hsize_t *rows, size_t n, int *cset);
void ans_free_strings(char **s, size_t n);
herr_t ans_write_strings(hid_t ds, char **s, size_t n, int cset);
int ans_is_vlen_string(hid_t type);
int ans_compound_vlen_string_offsets(hid_t type, int64_t *out, int max);
int ans_needs_conversion_walk(hid_t type);
int64_t ans_ds_offset(hid_t ds);
int ans_ds_layout(hid_t ds);
int ans_ds_nfilters(hid_t ds);
int ans_child_count(hid_t grp);
int ans_child_name(hid_t grp, int idx, char *buf, size_t buflen, int *is_group);
void ans_last_error(char *buf, size_t buflen);


int ans_ds_chunk(hid_t ds, hsize_t *dims, int max);
int64_t ans_chunk_addr(hid_t ds, const hsize_t *coord, unsigned *filter_mask, hsize_t *size);
void ans_quiet(void);

int ans_file_sizes(hid_t file, size_t *addr, size_t *len);

herr_t ans_write_chunk(hid_t ds, const hsize_t *offset, uint32_t filter_mask, const void *buf, size_t size);
size_t ans_lzf_compress(const void *in, size_t n, void *out, size_t cap);
#endif
