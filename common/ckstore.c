/*
 * ckstore.c — checkpoint storage on a file system (contract in ckstore.h).
 *
 * A store is its URL and the absolute root directory behind "file://". wr_ckstore_put
 * streams the local file into "<root>/<path>.tmp-<pid>-<n>" (n from a process-wide
 * counter, so concurrent puts of the same path from several threads never share a temp
 * file) while computing its crc32, fsyncs it, renames it over "<root>/<path>" and fsyncs
 * the directory. wr_ckstore_get streams the file back (optionally into a local file),
 * computing the crc32 on the way, and compares size and crc with what the caller expects.
 *
 * Nothing here keeps mutable state except the temp-name counter (atomic), so a store may
 * be used from several threads at once.
 */
#include "ckstore.h"

#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SCHEME "file://"
#define COPY_BUF (128u << 10)

struct wr_ckstore {
    char *url;
    char *root; /* absolute, no trailing '/' (except "/" itself) */
};

static atomic_ulong tmp_counter;

/* ---- helpers ---- */

static wr_err write_all(int fd, const char *path, const void *data, size_t len, wr_errbuf *eb)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wr_fail(eb, WR_EIO, "%s: write: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return WR_OK;
}

/* Reads up to len bytes (fewer only at the end of the file); *got = bytes read. */
static wr_err read_some(int fd, const char *path, void *buf, size_t len, size_t *got, wr_errbuf *eb)
{
    ssize_t n;

    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return wr_fail(eb, WR_EIO, "%s: read: %s", path, strerror(errno));
    *got = (size_t)n;
    return WR_OK;
}

/* A storage path is relative, non-empty, and has no ".." anywhere. */
static wr_err check_path(const wr_ckstore *s, const char *path, wr_errbuf *eb)
{
    if (!path || !path[0])
        return wr_fail(eb, WR_EINVAL, "checkpoint storage %s: empty storage path", s->url);
    if (path[0] == '/')
        return wr_fail(eb, WR_EINVAL, "checkpoint storage %s: '%s': storage paths must be relative",
                       s->url, path);
    if (strstr(path, ".."))
        return wr_fail(eb, WR_EINVAL,
                       "checkpoint storage %s: '%s': storage paths must not contain '..'", s->url,
                       path);
    return WR_OK;
}

/* full = root + "/" + path. */
static wr_err full_path(const wr_ckstore *s, const char *path, char *full, size_t size,
                        wr_errbuf *eb)
{
    wr_err err;

    if ((err = check_path(s, path, eb)) != WR_OK)
        return err;
    if ((size_t)snprintf(full, size, "%s/%s", strcmp(s->root, "/") ? s->root : "", path) >= size)
        return wr_fail(eb, WR_ETOOBIG, "checkpoint storage %s: '%s': path too long", s->url, path);
    return WR_OK;
}

/* The directory part of a path that has a '/' (the root at least). */
static void dir_of(const char *full, char *dir, size_t size)
{
    const char *slash = strrchr(full, '/');
    int n = slash ? (int)(slash - full) : 0;

    snprintf(dir, size, "%.*s", n ? n : 1, slash ? full : ".");
}

/* ---- open / free ---- */

wr_err wr_ckstore_open(const char *url, wr_ckstore **out, wr_errbuf *eb)
{
    wr_ckstore *s;
    const char *p;
    size_t n;
    wr_err err;

    if (!url || strncmp(url, SCHEME, strlen(SCHEME)) != 0)
        return wr_fail(eb, WR_EUNSUPPORTED,
                       "checkpoint storage '%s': unsupported scheme (supported: file://)",
                       url ? url : "(null)");
    p = url + strlen(SCHEME);
    if (p[0] != '/')
        return wr_fail(eb, WR_EINVAL,
                       "checkpoint storage '%s': the directory must be absolute (file:///dir)",
                       url);
    n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    if (n >= PATH_MAX)
        return wr_fail(eb, WR_ETOOBIG, "checkpoint storage '%s': path too long", url);
    if (!(s = calloc(1, sizeof *s)) || !(s->url = strdup(url)) || !(s->root = strndup(p, n))) {
        wr_ckstore_free(s);
        return wr_fail(eb, WR_ENOMEM, "checkpoint storage '%s': out of memory", url);
    }
    if ((err = wr_mkdirs(s->root, eb)) != WR_OK) {
        wr_errbuf_prefix(eb, "checkpoint storage '%s': ", url);
        wr_ckstore_free(s);
        return err;
    }
    *out = s;
    return WR_OK;
}

void wr_ckstore_free(wr_ckstore *s)
{
    if (!s)
        return;
    free(s->url);
    free(s->root);
    free(s);
}

const char *wr_ckstore_url(const wr_ckstore *s)
{
    return s->url;
}

/* ---- put / get ---- */

wr_err wr_ckstore_put(wr_ckstore *s, const char *local, const char *path, uint64_t *size,
                      uint32_t *crc, wr_errbuf *eb)
{
    char full[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    unsigned char *buf = NULL;
    uint64_t total = 0;
    uLong c = crc32(0L, Z_NULL, 0);
    int in = -1, outfd = -1;
    bool tmp_made = false;
    wr_err err;

    if ((err = full_path(s, path, full, sizeof full, eb)) != WR_OK)
        return err;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%lu", full, (long)getpid(),
                         atomic_fetch_add(&tmp_counter, 1)) >= sizeof tmp)
        return wr_fail(eb, WR_ETOOBIG, "checkpoint storage %s: '%s': path too long", s->url, path);
    dir_of(full, dir, sizeof dir);
    if ((err = wr_mkdirs(dir, eb)) != WR_OK)
        goto out;
    if (!(buf = malloc(COPY_BUF))) {
        err = wr_fail(eb, WR_ENOMEM, "checkpoint storage %s: '%s': out of memory", s->url, path);
        goto out;
    }
    if ((in = open(local, O_RDONLY | O_CLOEXEC)) < 0) {
        err = wr_fail(eb, errno == ENOENT ? WR_ENOTFOUND : WR_EIO, "%s: open: %s", local,
                      strerror(errno));
        goto out;
    }
    if ((outfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        err = wr_fail(eb, WR_EIO, "%s: create: %s", tmp, strerror(errno));
        goto out;
    }
    tmp_made = true;
    for (;;) {
        size_t got;
        if ((err = read_some(in, local, buf, COPY_BUF, &got, eb)) != WR_OK)
            goto out;
        if (got == 0)
            break;
        c = crc32(c, buf, (uInt)got);
        total += got;
        if ((err = write_all(outfd, tmp, buf, got, eb)) != WR_OK)
            goto out;
    }
    if (fsync(outfd) != 0) {
        err = wr_fail(eb, WR_EIO, "%s: fsync: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(outfd) != 0) {
        outfd = -1;
        err = wr_fail(eb, WR_EIO, "%s: close: %s", tmp, strerror(errno));
        goto out;
    }
    outfd = -1;
    if (rename(tmp, full) != 0) {
        err = wr_fail(eb, WR_EIO, "%s: rename: %s", full, strerror(errno));
        goto out;
    }
    tmp_made = false;
    if ((err = wr_fsync_dir(dir, eb)) != WR_OK)
        goto out;
    *size = total;
    *crc = (uint32_t)c;
out:
    if (in >= 0)
        close(in);
    if (outfd >= 0)
        close(outfd);
    if (tmp_made)
        unlink(tmp);
    free(buf);
    return err;
}

wr_err wr_ckstore_get(wr_ckstore *s, const char *path, const char *local, uint64_t size,
                      uint32_t crc, wr_errbuf *eb)
{
    char full[PATH_MAX];
    unsigned char *buf = NULL;
    uint64_t total = 0;
    uLong c = crc32(0L, Z_NULL, 0);
    int in = -1, outfd = -1;
    bool local_made = false;
    wr_err err;

    if ((err = full_path(s, path, full, sizeof full, eb)) != WR_OK)
        return err;
    if ((in = open(full, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return wr_fail(eb, WR_ENOTFOUND, "checkpoint storage %s: '%s': no such file", s->url,
                           path);
        return wr_fail(eb, WR_EIO, "checkpoint storage %s: '%s': open: %s", s->url, path,
                       strerror(errno));
    }
    if (!(buf = malloc(COPY_BUF))) {
        err = wr_fail(eb, WR_ENOMEM, "checkpoint storage %s: '%s': out of memory", s->url, path);
        goto out;
    }
    if (local) {
        if ((outfd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            err = wr_fail(eb, WR_EIO, "%s: create: %s", local, strerror(errno));
            goto out;
        }
        local_made = true;
    }
    for (;;) {
        size_t got;
        if ((err = read_some(in, full, buf, COPY_BUF, &got, eb)) != WR_OK)
            goto out;
        if (got == 0)
            break;
        c = crc32(c, buf, (uInt)got);
        total += got;
        if (outfd >= 0 && (err = write_all(outfd, local, buf, got, eb)) != WR_OK)
            goto out;
    }
    if (total != size || (uint32_t)c != crc) {
        err = wr_fail(eb, WR_ECORRUPT,
                      "checkpoint storage %s: '%s': checksum mismatch (expected crc32 0x%08x, size "
                      "%llu; got 0x%08x, %llu)",
                      s->url, path, crc, (unsigned long long)size, (uint32_t)c,
                      (unsigned long long)total);
        goto out;
    }
    if (outfd >= 0) {
        if (fsync(outfd) != 0) {
            err = wr_fail(eb, WR_EIO, "%s: fsync: %s", local, strerror(errno));
            goto out;
        }
        if (close(outfd) != 0) {
            outfd = -1;
            err = wr_fail(eb, WR_EIO, "%s: close: %s", local, strerror(errno));
            goto out;
        }
        outfd = -1;
    }
    local_made = false;
out:
    close(in);
    if (outfd >= 0)
        close(outfd);
    if (local_made)
        unlink(local);
    free(buf);
    return err;
}

/* ---- delete ---- */

wr_err wr_ckstore_delete(wr_ckstore *s, const char *path, wr_errbuf *eb)
{
    char full[PATH_MAX], dir[PATH_MAX];
    wr_err err;

    if ((err = full_path(s, path, full, sizeof full, eb)) != WR_OK)
        return err;
    if (unlink(full) != 0) {
        if (errno == ENOENT)
            return WR_OK;
        return wr_fail(eb, WR_EIO, "checkpoint storage %s: '%s': unlink: %s", s->url, path,
                       strerror(errno));
    }
    dir_of(full, dir, sizeof dir);
    return wr_fsync_dir(dir, eb);
}

wr_err wr_ckstore_delete_dir(wr_ckstore *s, const char *dir, wr_errbuf *eb)
{
    char full[PATH_MAX];
    wr_err err;

    if ((err = full_path(s, dir, full, sizeof full, eb)) != WR_OK)
        return err;
    if ((err = wr_remove_tree(full, eb)) != WR_OK)
        wr_errbuf_prefix(eb, "checkpoint storage %s: ", s->url);
    return err;
}

/* ---- local files ---- */

wr_err wr_file_crc32(const char *local, uint64_t *size, uint32_t *crc, wr_errbuf *eb)
{
    unsigned char *buf;
    uint64_t total = 0;
    uLong c = crc32(0L, Z_NULL, 0);
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    wr_err err = WR_OK;

    if (fd < 0) {
        if (errno == ENOENT)
            return wr_fail(eb, WR_ENOTFOUND, "%s: no such file", local);
        return wr_fail(eb, WR_EIO, "%s: open: %s", local, strerror(errno));
    }
    if (!(buf = malloc(COPY_BUF))) {
        close(fd);
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory", local);
    }
    for (;;) {
        size_t got;
        if ((err = read_some(fd, local, buf, COPY_BUF, &got, eb)) != WR_OK)
            break;
        if (got == 0)
            break;
        c = crc32(c, buf, (uInt)got);
        total += got;
    }
    close(fd);
    free(buf);
    if (err)
        return err;
    *size = total;
    *crc = (uint32_t)c;
    return WR_OK;
}
