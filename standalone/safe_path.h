/*
 * safe_path: whether a folder is safe to chroot into.  The folder itself
 * and every folder above it must belong to root and be writable by nobody
 * else: whoever may write a parent can rename the folder away and put one
 * of their own in its place, so checking the last component alone (as
 * xd_chroot_ready once did) proves nothing.  A parent with the sticky bit
 * (/tmp) may be world-writable: there only an entry's owner (root, checked
 * on the next component) may rename or remove it.
 */
#ifndef XD_SAFE_PATH_H
#define XD_SAFE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* false with why (NUL-terminated, cut to why_size) naming the offending
 * component and what is wrong with it. */
bool xd_safe_dir_path(const char *path, char *why, size_t why_size);

#endif
