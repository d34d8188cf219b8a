/*
 * files.c — see files.h.
 */
#ifndef _GNU_SOURCE /* meson passes it too */
#define _GNU_SOURCE
#endif
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

wr_err wr_fsync_dir(const char *dir, wr_errbuf *eb)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return wr_fail(eb, WR_EIO, "%s: open: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        int err = errno;
        close(fd);
        return wr_fail(eb, WR_EIO, "%s: fsync: %s", dir, strerror(err));
    }
    close(fd);
    return WR_OK;
}

wr_err wr_file_write_atomic(const char *path, const void *data, size_t len, wr_errbuf *eb)
{
    char tmp[4096], dir[4096];
    const char *slash;
    wr_err e;
    int fd;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp)
        return wr_fail(eb, WR_ETOOBIG, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wr_fail(eb, WR_EIO, "%s: create: %s", tmp, strerror(errno));
    e = write_all(fd, tmp, data, len, eb);
    if (!e && fsync(fd) != 0)
        e = wr_fail(eb, WR_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !e)
        e = wr_fail(eb, WR_EIO, "%s: close: %s", tmp, strerror(errno));
    if (!e && rename(tmp, path) != 0)
        e = wr_fail(eb, WR_EIO, "%s: rename: %s", path, strerror(errno));
    if (e) {
        unlink(tmp);
        return e;
    }
    slash = strrchr(path, '/');
    if (!slash)
        return wr_fsync_dir(".", eb);
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
    return wr_fsync_dir(dir, eb);
}

wr_err wr_file_read(const char *path, size_t max, void **out, size_t *len, wr_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t got = 0;

    if (fd < 0) {
        if (errno == ENOENT)
            return wr_fail(eb, WR_ENOTFOUND, "%s: no such file", path);
        return wr_fail(eb, WR_EIO, "%s: open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return wr_fail(eb, WR_EIO, "%s: stat: %s", path, strerror(err));
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return wr_fail(eb, WR_ETOOBIG, "%s: %lld bytes, more than %zu", path, (long long)st.st_size,
                       max);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory", path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return wr_fail(eb, WR_EIO, "%s: read: %s", path, n < 0 ? strerror(err) : "short read");
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return WR_OK;
}

wr_err wr_mkdirs(const char *path, wr_errbuf *eb)
{
    char p[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof p)
        return wr_fail(eb, WR_EINVAL, "'%s': bad directory path", path);
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return wr_fail(eb, WR_EIO, "%s: mkdir: %s", p, strerror(errno));
        p[i] = c;
    }
    return WR_OK;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) != 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
}

wr_err wr_remove_tree(const char *path, wr_errbuf *eb)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? WR_OK : wr_fail(eb, WR_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return wr_fail(eb, WR_EIO, "%s: unlink: %s", path, strerror(errno));
        return WR_OK;
    }
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return wr_fail(eb, WR_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return WR_OK;
}
