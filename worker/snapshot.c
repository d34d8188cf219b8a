/*
 * snapshot.c — keyed-state snapshots: local RocksDB checkpoints, incremental upload,
 * restore (contract in snapshot.h).
 *
 * The snapshotter remembers every SST file it knows to be in storage: a sorted array of
 * {RocksDB file name, storage path, size, crc32, newest checkpoint holding it}, filled
 * by uploads and by wr_snapshotter_seed. An upload copies an SST file only when its name
 * is not in the array; RocksDB never reuses a file number within one instance, so the
 * name identifies the content. When checkpoint N is confirmed, files no checkpoint >= N
 * holds are forgotten: an SST file that left the live set never comes back, so no later
 * checkpoint can reference it, and the array stays as small as the live set.
 *
 * The array (and the list of uploaded, unconfirmed ids) is protected by a mutex: take
 * runs on the subtask's thread while an upload of an earlier checkpoint runs on the
 * uploader thread; confirm and drop may come from either.
 *
 * Restore materialises a handle into "<dir>.tmp-restore-<pid>" next to the target and
 * renames it to the target only when every file was checked, so the target either does
 * not exist or holds a whole, verified checkpoint. From a local copy, SST files are
 * hard-linked (RocksDB never modifies an SST file in place, it only deletes them) and
 * the others (MANIFEST, CURRENT, OPTIONS, WAL) copied, since the restored instance may
 * rewrite them.
 */
#include "snapshot.h"

#include "fault.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define COPY_BUF (128u << 10)

typedef struct stored {
    char *name; /* RocksDB file name */
    char *path; /* storage path */
    uint64_t size;
    uint32_t crc;
    int64_t last_used; /* the newest checkpoint that holds it */
} stored;

struct wr_snapshotter {
    wr_ckstore *store;
    char *job_id;
    uint32_t attempt;
    int subtask;
    char *local_root;

    pthread_mutex_t mu; /* guards everything below */
    stored *files;      /* sorted by name */
    size_t n_files, cap_files;
    int64_t *uploaded; /* ids uploaded and not yet confirmed or dropped */
    size_t n_uploaded, cap_uploaded;
};

/* ---- helpers ---- */

static bool is_shared(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".sst") == 0;
}

/* A file name from a handle (peer input): one path component, not "." or "..". */
static bool good_name(const char *name)
{
    return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static wr_err path_join(char *out, size_t size, const char *a, const char *b, wr_errbuf *eb)
{
    if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size)
        return wr_fail(eb, WR_ETOOBIG, "'%s/%s': path too long", a, b);
    return WR_OK;
}

static void parent_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* Copies src to dst (created, fsynced), computing size and crc32 of what was copied. */
static wr_err copy_file(const char *src, const char *dst, uint64_t *size, uint32_t *crc,
                        wr_errbuf *eb)
{
    unsigned char *buf = malloc(COPY_BUF);
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    int in = -1, out = -1;
    wr_err err = WR_OK;

    if (!buf)
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory", src);
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        err = wr_fail(eb, errno == ENOENT ? WR_ENOTFOUND : WR_EIO, "%s: open: %s", src,
                      strerror(errno));
        goto out;
    }
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        err = wr_fail(eb, WR_EIO, "%s: create: %s", dst, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t n = read(in, buf, COPY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = wr_fail(eb, WR_EIO, "%s: read: %s", src, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        c = crc32(c, buf, (uInt)n);
        total += (uint64_t)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                err = wr_fail(eb, WR_EIO, "%s: write: %s", dst, strerror(errno));
                goto out;
            }
            off += w;
        }
    }
    if (fsync(out) != 0) {
        err = wr_fail(eb, WR_EIO, "%s: fsync: %s", dst, strerror(errno));
        goto out;
    }
    *size = total;
    *crc = (uint32_t)c;
out:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && !err)
        err = wr_fail(eb, WR_EIO, "%s: close: %s", dst, strerror(errno));
    free(buf);
    return err;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the regular files in dir, sorted; *names and each name malloc'd. */
static wr_err list_files(const char *dir, char ***names, size_t *n, wr_errbuf *eb)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    wr_err err = WR_OK;

    if (!d)
        return wr_fail(eb, errno == ENOENT ? WR_ENOTFOUND : WR_EIO, "%s: opendir: %s", dir,
                       strerror(errno));
    while ((errno = 0, de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((err = path_join(path, sizeof path, dir, de->d_name, eb)) != WR_OK)
            goto fail;
        if (stat(path, &st) != 0) {
            err = wr_fail(eb, WR_EIO, "%s: stat: %s", path, strerror(errno));
            goto fail;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if (!(v[cnt] = strdup(de->d_name)))
            goto oom;
        cnt++;
    }
    if (errno) {
        err = wr_fail(eb, WR_EIO, "%s: readdir: %s", dir, strerror(errno));
        goto fail;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return WR_OK;
oom:
    err = wr_fail(eb, WR_ENOMEM, "%s: out of memory listing files", dir);
fail:
    closedir(d);
    for (size_t i = 0; i < cnt; i++)
        free(v[i]);
    free(v);
    return err;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- the stored-file map (callers hold mu) ---- */

/* The index of name, or of where it would go (*found says which). */
static size_t map_find(const wr_snapshotter *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n_files;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->files[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Adds or updates name -> (path, size, crc); last_used becomes at least id. */
static wr_err map_put(wr_snapshotter *s, const char *name, const char *path, uint64_t size,
                      uint32_t crc, int64_t id, wr_errbuf *eb)
{
    bool found;
    size_t i = map_find(s, name, &found);

    if (found) {
        stored *f = &s->files[i];
        if (strcmp(f->path, path) != 0) {
            char *p = strdup(path);
            if (!p)
                return wr_fail(eb, WR_ENOMEM, "snapshot: out of memory");
            free(f->path);
            f->path = p;
        }
        f->size = size;
        f->crc = crc;
        if (id > f->last_used)
            f->last_used = id;
        return WR_OK;
    }
    if (s->n_files == s->cap_files) {
        size_t ncap = s->cap_files ? s->cap_files * 2 : 32;
        stored *nf = realloc(s->files, ncap * sizeof *nf);
        if (!nf)
            return wr_fail(eb, WR_ENOMEM, "snapshot: out of memory");
        s->files = nf;
        s->cap_files = ncap;
    }
    stored nf = {
        .name = strdup(name), .path = strdup(path), .size = size, .crc = crc, .last_used = id};
    if (!nf.name || !nf.path) {
        free(nf.name);
        free(nf.path);
        return wr_fail(eb, WR_ENOMEM, "snapshot: out of memory");
    }
    memmove(s->files + i + 1, s->files + i, (s->n_files - i) * sizeof *s->files);
    s->files[i] = nf;
    s->n_files++;
    return WR_OK;
}

/* Forgets every file that no checkpoint >= id holds. */
static void map_prune(wr_snapshotter *s, int64_t id)
{
    size_t j = 0;

    for (size_t i = 0; i < s->n_files; i++) {
        if (s->files[i].last_used < id) {
            free(s->files[i].name);
            free(s->files[i].path);
            continue;
        }
        s->files[j++] = s->files[i];
    }
    s->n_files = j;
}

/* ---- lifecycle ---- */

void wr_snap_handle_fini(wr_snap_handle *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nfiles; i++) {
        free(h->files[i].name);
        free(h->files[i].path);
    }
    free(h->files);
    memset(h, 0, sizeof *h);
}

wr_snapshotter *wr_snapshotter_new(wr_ckstore *store, const char *job_id, uint32_t attempt,
                                   int subtask, const char *local_root)
{
    wr_snapshotter *s = calloc(1, sizeof *s);
    wr_errbuf eb;

    if (!s)
        return NULL;
    s->store = store;
    s->attempt = attempt;
    s->subtask = subtask;
    s->job_id = strdup(job_id);
    s->local_root = strdup(local_root);
    if (!s->job_id || !s->local_root || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s->job_id);
        free(s->local_root);
        free(s);
        return NULL;
    }
    /* A failure shows again, with its reason, at the first take. */
    (void)wr_mkdirs(s->local_root, &eb);
    return s;
}

void wr_snapshotter_free(wr_snapshotter *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_files; i++) {
        free(s->files[i].name);
        free(s->files[i].path);
    }
    free(s->files);
    free(s->uploaded);
    pthread_mutex_destroy(&s->mu);
    free(s->job_id);
    free(s->local_root);
    free(s);
}

wr_err wr_snapshotter_seed(wr_snapshotter *s, const wr_snap_handle *restored, wr_errbuf *eb)
{
    wr_err err = WR_OK;

    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < restored->nfiles && !err; i++) {
        const wr_snap_file *f = &restored->files[i];
        if (!f->shared)
            continue;
        if (!good_name(f->name) || !f->path) {
            err = wr_fail(eb, WR_EMALFORMED, "checkpoint %lld: file %d: bad file name '%s'",
                          (long long)restored->checkpoint_id, i, f->name ? f->name : "(null)");
            break;
        }
        err = map_put(s, f->name, f->path, f->size, f->crc, restored->checkpoint_id, eb);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

/* ---- take / upload ---- */

static wr_err local_dir(const wr_snapshotter *s, int64_t id, char *out, size_t size, wr_errbuf *eb)
{
    if ((size_t)snprintf(out, size, "%s/%lld", s->local_root, (long long)id) >= size) {
        out[0] = 0; /* never a truncated path that names another directory */
        return wr_fail(eb, WR_ETOOBIG, "snapshot: local directory '%s' too long", s->local_root);
    }
    return WR_OK;
}

wr_err wr_snapshotter_take(wr_snapshotter *s, wr_state *st, int64_t id, wr_errbuf *eb)
{
    char dir[PATH_MAX];
    wr_err err;

    if ((err = local_dir(s, id, dir, sizeof dir, eb)) != WR_OK)
        return err;
    if ((err = wr_mkdirs(s->local_root, eb)) != WR_OK)
        goto fail;
    /* A leftover of an earlier process that used the same id never completed. */
    if ((err = wr_remove_tree(dir, eb)) != WR_OK)
        goto fail;
    if ((err = wr_state_checkpoint(st, dir, eb)) != WR_OK)
        goto fail;
    return WR_OK;
fail:
    wr_errbuf_prefix(eb, "checkpoint %lld: subtask %d: ", (long long)id, s->subtask);
    return err;
}

/* Records that the upload of id completed (for confirm). */
static wr_err note_uploaded(wr_snapshotter *s, int64_t id, wr_errbuf *eb)
{
    if (s->n_uploaded == s->cap_uploaded) {
        size_t ncap = s->cap_uploaded ? s->cap_uploaded * 2 : 8;
        int64_t *n = realloc(s->uploaded, ncap * sizeof *n);
        if (!n)
            return wr_fail(eb, WR_ENOMEM, "snapshot: out of memory");
        s->uploaded = n;
        s->cap_uploaded = ncap;
    }
    s->uploaded[s->n_uploaded++] = id;
    return WR_OK;
}

wr_err wr_snapshotter_upload(wr_snapshotter *s, int64_t id, wr_snap_handle *out, wr_errbuf *eb)
{
    char dir[PATH_MAX], local[PATH_MAX], path[PATH_MAX];
    char **names = NULL;
    size_t n = 0, copied = 0;
    wr_snap_handle h = {0};
    wr_err err;

    dir[0] = 0;
    h.checkpoint_id = id;
    if ((err = local_dir(s, id, dir, sizeof dir, eb)) != WR_OK)
        goto fail;
    if ((err = list_files(dir, &names, &n, eb)) != WR_OK)
        goto fail;
    if (n > INT_MAX || !(h.files = calloc(n ? n : 1, sizeof *h.files))) {
        err = wr_fail(eb, WR_ENOMEM, "out of memory for %zu files", n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        wr_snap_file *f = &h.files[h.nfiles];
        bool found = false;
        if ((err = path_join(local, sizeof local, dir, names[i], eb)) != WR_OK)
            goto fail;
        f->shared = is_shared(names[i]);
        if (!(f->name = strdup(names[i]))) {
            err = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto fail;
        }
        h.nfiles++;
        if (f->shared) {
            pthread_mutex_lock(&s->mu);
            size_t j = map_find(s, names[i], &found);
            if (found) {
                stored *sf = &s->files[j];
                f->path = strdup(sf->path);
                f->size = sf->size;
                f->crc = sf->crc;
                if (id > sf->last_used)
                    sf->last_used = id;
            }
            pthread_mutex_unlock(&s->mu);
            if (found) {
                struct stat stt;
                if (!f->path) {
                    err = wr_fail(eb, WR_ENOMEM, "out of memory");
                    goto fail;
                }
                if (stat(local, &stt) != 0) {
                    err = wr_fail(eb, WR_EIO, "%s: stat: %s", local, strerror(errno));
                    goto fail;
                }
                if ((uint64_t)stt.st_size != f->size) {
                    err = wr_fail(eb, WR_EIO, "%s: %lld bytes, but its stored copy '%s' has %llu",
                                  local, (long long)stt.st_size, f->path,
                                  (unsigned long long)f->size);
                    goto fail;
                }
                h.state_bytes += f->size;
                continue;
            }
            if ((size_t)snprintf(path, sizeof path, "%s/shared/s%d-a%u-%s", s->job_id, s->subtask,
                                 s->attempt, names[i]) >= sizeof path) {
                err = wr_fail(eb, WR_ETOOBIG, "storage path for '%s' too long", names[i]);
                goto fail;
            }
        } else if ((size_t)snprintf(path, sizeof path, "%s/chk-%lld/a%u-s%d/%s", s->job_id,
                                    (long long)id, s->attempt, s->subtask,
                                    names[i]) >= sizeof path) {
            err = wr_fail(eb, WR_ETOOBIG, "storage path for '%s' too long", names[i]);
            goto fail;
        }
        if ((err = wr_ckstore_put(s->store, local, path, &f->size, &f->crc, eb)) != WR_OK)
            goto fail;
        if (!(f->path = strdup(path))) {
            err = wr_fail(eb, WR_ENOMEM, "out of memory");
            goto fail;
        }
        h.state_bytes += f->size;
        h.uploaded_bytes += f->size;
        if (f->shared) {
            pthread_mutex_lock(&s->mu);
            err = map_put(s, f->name, f->path, f->size, f->crc, id, eb);
            pthread_mutex_unlock(&s->mu);
            if (err)
                goto fail;
        }
        if (++copied == 1 && i + 1 < n)
            wr_fault("upload");
    }
    pthread_mutex_lock(&s->mu);
    err = note_uploaded(s, id, eb);
    pthread_mutex_unlock(&s->mu);
    if (err)
        goto fail;
    free_names(names, n);
    *out = h;
    return WR_OK;
fail:
    wr_errbuf_prefix(eb, "checkpoint %lld: subtask %d: upload: ", (long long)id, s->subtask);
    free_names(names, n);
    wr_snap_handle_fini(&h);
    if (dir[0]) {
        wr_errbuf ignored;
        (void)wr_remove_tree(dir, &ignored); /* the error being returned matters more */
    }
    return err;
}

/* ---- confirm / drop ---- */

/* Parses a local copy's directory name (a checkpoint id). */
static bool parse_id(const char *name, int64_t *id)
{
    char *end;
    long long v;

    if (!name[0] || (name[0] != '-' && (name[0] < '0' || name[0] > '9')))
        return false;
    errno = 0;
    v = strtoll(name, &end, 10);
    if (errno || *end)
        return false;
    *id = v;
    return true;
}

void wr_snapshotter_confirm(wr_snapshotter *s, int64_t id)
{
    DIR *d;
    struct dirent *de;
    bool ours = false;
    size_t j = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_uploaded; i++) {
        if (s->uploaded[i] == id)
            ours = true;
        if (s->uploaded[i] > id)
            s->uploaded[j++] = s->uploaded[i];
    }
    s->n_uploaded = j;
    /* Only an id this snapshotter uploaded says which files are still live. */
    if (ours)
        map_prune(s, id);
    pthread_mutex_unlock(&s->mu);

    if (!(d = opendir(s->local_root)))
        return;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        int64_t cid;
        wr_errbuf eb;
        if (!parse_id(de->d_name, &cid) || cid >= id)
            continue;
        if (path_join(path, sizeof path, s->local_root, de->d_name, &eb) == WR_OK)
            (void)wr_remove_tree(path, &eb); /* a leftover is retried at the next confirm */
    }
    closedir(d);
}

void wr_snapshotter_drop(wr_snapshotter *s, int64_t id)
{
    char dir[PATH_MAX];
    wr_errbuf eb;
    size_t j = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_uploaded; i++) {
        if (s->uploaded[i] != id)
            s->uploaded[j++] = s->uploaded[i];
    }
    s->n_uploaded = j;
    pthread_mutex_unlock(&s->mu);
    if (local_dir(s, id, dir, sizeof dir, &eb) == WR_OK)
        (void)wr_remove_tree(dir, &eb);
}

/* ---- restore ---- */

/* Does every file of h in src have its size and crc? */
static bool local_checks_out(const wr_snap_handle *h, const char *src)
{
    for (int i = 0; i < h->nfiles; i++) {
        char p[PATH_MAX];
        uint64_t size;
        uint32_t crc;
        wr_errbuf eb;
        if (path_join(p, sizeof p, src, h->files[i].name, &eb) != WR_OK ||
            wr_file_crc32(p, &size, &crc, &eb) != WR_OK || size != h->files[i].size ||
            crc != h->files[i].crc)
            return false;
    }
    return true;
}

/* Fills tmp (which exists, empty) from the local copy src: SST files hard-linked, the
 * others copied and checked again. */
static wr_err restore_local(const wr_snap_handle *h, const char *src, const char *tmp,
                            wr_errbuf *eb)
{
    for (int i = 0; i < h->nfiles; i++) {
        const wr_snap_file *f = &h->files[i];
        char from[PATH_MAX], to[PATH_MAX];
        uint64_t size = 0;
        uint32_t crc = 0;
        wr_err err;
        if ((err = path_join(from, sizeof from, src, f->name, eb)) != WR_OK ||
            (err = path_join(to, sizeof to, tmp, f->name, eb)) != WR_OK)
            return err;
        if (f->shared && link(from, to) == 0)
            continue;
        /* not an SST file, or the link failed (another file system): copy */
        if ((err = copy_file(from, to, &size, &crc, eb)) != WR_OK)
            return err;
        if (size != f->size || crc != f->crc)
            return wr_fail(eb, WR_ECORRUPT,
                           "%s: checksum mismatch (expected crc32 0x%08x, size %llu; got "
                           "0x%08x, %llu)",
                           from, f->crc, (unsigned long long)f->size, crc,
                           (unsigned long long)size);
    }
    return WR_OK;
}

/* Fills tmp (which exists, empty) from storage; every file is checked on the way. */
static wr_err restore_storage(wr_ckstore *store, const wr_snap_handle *h, const char *tmp,
                              wr_errbuf *eb)
{
    for (int i = 0; i < h->nfiles; i++) {
        const wr_snap_file *f = &h->files[i];
        char to[PATH_MAX];
        wr_err err;
        if ((err = path_join(to, sizeof to, tmp, f->name, eb)) != WR_OK)
            return err;
        if ((err = wr_ckstore_get(store, f->path, to, f->size, f->crc, eb)) != WR_OK) {
            wr_errbuf_prefix(eb, "file '%s': ", f->name);
            return err;
        }
    }
    return WR_OK;
}

wr_err wr_snap_restore(wr_ckstore *store, const wr_snap_handle *h, const char *local_root,
                       const char *dir, bool *from_local, wr_errbuf *eb)
{
    char tmp[PATH_MAX], src[PATH_MAX], parent[PATH_MAX];
    long long id = (long long)h->checkpoint_id;
    struct stat st;
    bool local = false;
    wr_err err;

    if (!dir || !dir[0])
        return wr_fail(eb, WR_EINVAL, "restore of checkpoint %lld: no target directory", id);
    for (int i = 0; i < h->nfiles; i++) {
        if (!good_name(h->files[i].name) || !h->files[i].path)
            return wr_fail(eb, WR_EMALFORMED, "restore of checkpoint %lld: file %d: bad name '%s'",
                           id, i, h->files[i].name ? h->files[i].name : "(null)");
    }
    if (lstat(dir, &st) == 0)
        return wr_fail(eb, WR_EINVAL, "restore of checkpoint %lld: '%s' exists already", id, dir);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-restore-%ld", dir, (long)getpid()) >= sizeof tmp)
        return wr_fail(eb, WR_ETOOBIG, "restore of checkpoint %lld: '%s': path too long", id, dir);
    parent_of(dir, parent, sizeof parent);
    if ((err = wr_remove_tree(tmp, eb)) != WR_OK)
        goto fail;

    if (local_root && (size_t)snprintf(src, sizeof src, "%s/%lld", local_root, id) < sizeof src &&
        stat(src, &st) == 0 && S_ISDIR(st.st_mode) && local_checks_out(h, src)) {
        if (mkdir(tmp, 0755) != 0) {
            err = wr_fail(eb, WR_EIO, "%s: mkdir: %s", tmp, strerror(errno));
            goto fail;
        }
        local = restore_local(h, src, tmp, eb) == WR_OK;
        if (!local && (err = wr_remove_tree(tmp, eb)) != WR_OK)
            goto fail;
    }
    if (!local) { /* the storage copy is authoritative */
        if (mkdir(tmp, 0755) != 0) {
            err = wr_fail(eb, WR_EIO, "%s: mkdir: %s", tmp, strerror(errno));
            goto fail;
        }
        if ((err = restore_storage(store, h, tmp, eb)) != WR_OK)
            goto fail;
    }
    if ((err = wr_fsync_dir(tmp, eb)) != WR_OK)
        goto fail;
    if (rename(tmp, dir) != 0) {
        err = wr_fail(eb, WR_EIO, "%s: rename to '%s': %s", tmp, dir, strerror(errno));
        goto fail;
    }
    if ((err = wr_fsync_dir(parent, eb)) != WR_OK) {
        wr_errbuf ignored;
        (void)wr_remove_tree(dir, &ignored);
        goto out;
    }
    *from_local = local;
    return WR_OK;
fail : {
    wr_errbuf ignored;
    (void)wr_remove_tree(tmp, &ignored);
}
out:
    wr_errbuf_prefix(eb, "restore of checkpoint %lld: ", id);
    return err;
}
