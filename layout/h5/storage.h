// Storage facts of a dataset (allocated bytes, chunks, filters): what a
// source's declared sizes are checked against before anything is sized by
// them, and what raw-descriptor checks of variable-length data read.
#ifndef ANNSLICER_H5_STORAGE_H
#define ANNSLICER_H5_STORAGE_H

#include <hdf5.h>
#include <stdint.h>

int64_t ans_ds_storage_size(hid_t ds);
int64_t ans_ds_num_chunks(hid_t ds);
int ans_ds_chunk_info(hid_t ds, int64_t idx, hsize_t *offset, unsigned *mask, int64_t *addr, int64_t *size);
int ans_ds_filter(hid_t ds, int idx, unsigned *id, unsigned *cd, size_t *ncd);
int ans_vlen_disk_size(hid_t file);
size_t ans_lzf_decompress(const void *in, size_t n, void *out, size_t cap);
int64_t ans_userblock(hid_t file);
int ans_ds_type_odd(hid_t ds);
int64_t ans_obj_addr(hid_t obj);
int ans_obj_attr_info(hid_t obj, int *nvar, int *nnested);
int64_t ans_ds_vlen_base_size(hid_t ds);
int64_t ans_link_addr(hid_t grp, int idx);

#endif
