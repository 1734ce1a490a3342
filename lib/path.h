/*
 * Paths built from parts, refused rather than cut when they do not fit.
 */
#ifndef QEMUBOX_PATH_H
#define QEMUBOX_PATH_H

#include <stddef.h>

/* dir + "/" + name into out[0..len); -1 (ENAMETOOLONG) if it does not fit. */
int qb_path_join(char *out, size_t len, const char *dir, const char *name);

/* The directory of the running binary (/proc/self/exe) into out. 0 / -1. */
int qb_path_self_dir(char *out, size_t len);

#endif
