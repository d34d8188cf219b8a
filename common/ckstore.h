/*
 * ckstore.h — checkpoint storage: where snapshot files and nothing else go.
 *
 * One small interface so that an object store can implement it later; today only
 * `file://` (a directory, usually a volume every worker and the coordinator mount at the
 * same path) exists. Storage paths are relative to the store's root, '/'-separated,
 * never absolute and never containing "..".
 *
 * Layout the runtime uses (docs/checkpoints.md):
 *   <job>/shared/s<subtask>-a<attempt>-<name>.sst   SST files, shared between checkpoints
 *   <job>/chk-<id>/a<attempt>-s<subtask>/<name>     a checkpoint's private files (MANIFEST...)
 *
 * Every file is written atomically (temp name, fsync, rename, fsync of the directory), so
 * a reader sees a whole file or none. Each file's zlib crc32 and size are computed while it
 * is written and checked whenever it is read back: a mismatch is WR_ECORRUPT naming the
 * path, expected and actual values.
 *
 * Threads: a wr_ckstore may be used from several threads at once.
 */
#ifndef WR_CKSTORE_H
#define WR_CKSTORE_H

#include "error.h"

#include <stdint.h>

typedef struct wr_ckstore wr_ckstore;

/* Opens the store at url ("file:///abs/dir"; the directory is created). Any other scheme:
 * WR_EUNSUPPORTED "checkpoint storage 'x': unsupported scheme (supported: file://)". */
wr_err wr_ckstore_open(const char *url, wr_ckstore **out, wr_errbuf *eb);
void wr_ckstore_free(wr_ckstore *s);
const char *wr_ckstore_url(const wr_ckstore *s);

/* Copies the local file to path (parents created), atomically; sets its size and crc32. */
wr_err wr_ckstore_put(wr_ckstore *s, const char *local, const char *path, uint64_t *size,
                      uint32_t *crc, wr_errbuf *eb);

/* Reads path and checks it has exactly `size` bytes with crc32 `crc`: WR_ECORRUPT if
 * not, WR_ENOTFOUND if the file is missing. With local non-NULL the content is also
 * written to that local file (removed again if the check fails). */
wr_err wr_ckstore_get(wr_ckstore *s, const char *path, const char *local, uint64_t size,
                      uint32_t crc, wr_errbuf *eb);

/* Deletes one file (missing is fine). */
wr_err wr_ckstore_delete(wr_ckstore *s, const char *path, wr_errbuf *eb);
/* Deletes a directory and everything under it (missing is fine). */
wr_err wr_ckstore_delete_dir(wr_ckstore *s, const char *dir, wr_errbuf *eb);

/* The crc32 of a local file and its size (to check a local copy). */
wr_err wr_file_crc32(const char *local, uint64_t *size, uint32_t *crc, wr_errbuf *eb);

#endif
