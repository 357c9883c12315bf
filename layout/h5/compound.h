// Compound (record array) datasets member by member: describing a
// compound's members, reading one member of every element, creating a
// compound dataset and writing records whose string members are
// variable-length (as h5py writes numpy record arrays of str).
#ifndef ANNSLICER_H5_COMPOUND_H
#define ANNSLICER_H5_COMPOUND_H

#include <hdf5.h>
#include <stdint.h>
#include "values.h"

int ans_ds_compound_nmembers(hid_t ds);
int ans_ds_compound_member(hid_t ds, int i, char *name, size_t namelen, int64_t *offset, ans_type_info *info);
herr_t ans_read_member(hid_t ds, int i, void *buf);
char **ans_read_member_strings(hid_t ds, int i, size_t *n);
hid_t ans_create_compound_dataset(hid_t loc, const char *name, int size, int nmembers, char **names,
                                  const int64_t *offsets, const ans_type_info *types, int rank,
                                  const hsize_t *dims, int contiguous_early, const hsize_t *chunk, int filter,
                                  int level);
herr_t ans_write_compound(hid_t ds, const void *buf, size_t nelem, size_t elemsize, int nv,
                          const int64_t *voffs, const char *blob, const int64_t *soffs);

#endif
