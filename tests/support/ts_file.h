/* ts_file.h - small file helpers: read a whole file, remove a private directory. */
#ifndef TS_FILE_H
#define TS_FILE_H

#include <stddef.h>

/* The whole file, NUL-terminated, or NULL (errno set). *len (may be NULL)
 * gets its length. The caller frees it. */
char *ts_slurp(const char *path, size_t *len);
/* Read at most cap - 1 bytes of path into buf, NUL-terminated ("" when it
 * cannot be read). Returns the length, or -1. */
long ts_read_small(const char *path, char *buf, size_t cap);
/* rel resolved against the directory of this program (/proc/self/exe), in a
 * static buffer, or NULL. */
const char *ts_sibling_path(const char *rel);
/* Print the last `shown` bytes of the log at path to stderr, framed by
 * "---- NAME log (PATH) ----" lines: the tail of a long log is what matters. */
void ts_dump_log_tail(const char *name, const char *path, size_t shown);
/* Remove dir and the files directly in it. */
void ts_remove_dir(const char *dir);

#endif
