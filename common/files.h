/*
 * files.h — small file-system helpers: atomic whole-file writes, whole-file reads,
 * recursive mkdir and remove. Every error names the path and the system's reason.
 */
#ifndef WR_FILES_H
#define WR_FILES_H

#include "error.h"

#include <stddef.h>

/* Writes len bytes to path atomically: path.tmp-<pid>, fsync, rename over path, fsync of
 * the directory. A reader sees the old content or the new, never a part. Parent
 * directories must exist. */
wr_err wr_file_write_atomic(const char *path, const void *data, size_t len, wr_errbuf *eb);

/* Reads the whole file (at most max bytes: WR_ETOOBIG beyond). *out is malloc'd, with a
 * NUL after the last byte (not counted in *len). WR_ENOTFOUND if it does not exist. */
wr_err wr_file_read(const char *path, size_t max, void **out, size_t *len, wr_errbuf *eb);

/* mkdir -p (mode 0755). */
wr_err wr_mkdirs(const char *path, wr_errbuf *eb);

/* rm -rf: removes path and everything under it; a missing path is fine. */
wr_err wr_remove_tree(const char *path, wr_errbuf *eb);

/* fsync of a directory (after creating or renaming entries in it). */
wr_err wr_fsync_dir(const char *dir, wr_errbuf *eb);

#endif
