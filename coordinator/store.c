/*
 * store.c — the coordinator's data directory (store.h): one directory per job under
 * <dir>/jobs, holding job.pb and one chk-<id>.pb per retained completed checkpoint, each
 * a packed protobuf written with wr_file_write_atomic.
 *
 * Deleting a job first renames its directory to jobs/.del-<job> (one atomic rename,
 * followed by an fsync of jobs/), then removes that tree: a coordinator killed half-way
 * through finds either the whole job or a .del- leftover, which loading removes. Loading
 * reads every file through a size-bounded read and unpack, and skips (logging path and
 * reason) whatever cannot be read, decoded, or does not belong where it lies (a job.pb
 * naming another job, a chk file naming another checkpoint). Temporary files of an
 * interrupted atomic write (`*.tmp-<pid>`) are ignored.
 *
 * Threads: none; the coordinator's loop thread calls it.
 */
#include "store.h"

#include "files.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_PATH_MAX 4096
#define STORE_JOB_ID_MAX 128            /* longest job id (a directory name) */
#define STORE_JOB_MAX_BYTES (16u << 20) /* largest job.pb read back */
#define STORE_CHK_MAX_BYTES (64u << 20) /* largest chk-<id>.pb read back */
#define STORE_TRASH_PREFIX ".del-"

struct wr_cstore {
    char *dir;
    char *jobs; /* <dir>/jobs */
};

/* ---------------------------------------------------------------- names and paths */

/* A job id becomes a directory name: 1..STORE_JOB_ID_MAX of [A-Za-z0-9_-]. */
static bool valid_job_id(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n > 0 && n <= STORE_JOB_ID_MAX;
}

static wr_err check_job_id(const char *id, wr_errbuf *eb)
{
    if (valid_job_id(id))
        return WR_OK;
    return wr_fail(eb, WR_EINVAL,
                   "job id '%.*s': must be 1 to %d of the characters A-Z a-z 0-9 _ -", 200,
                   id ? id : "(null)", STORE_JOB_ID_MAX);
}

/* Formats a path into buf (STORE_PATH_MAX bytes); WR_ETOOBIG if it does not fit. */
static wr_err path_fmt(char *buf, wr_errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static wr_err path_fmt(char *buf, wr_errbuf *eb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, STORE_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= STORE_PATH_MAX)
        return wr_fail(eb, WR_ETOOBIG, "%.200s...: path longer than %d bytes", buf,
                       STORE_PATH_MAX - 1);
    return WR_OK;
}

/* Parses "chk-<decimal id>.pb" (nothing after it: temporary files do not match). */
static bool parse_chk_name(const char *name, uint64_t *id)
{
    const char *p = name + 4;
    uint64_t v = 0;

    if (strncmp(name, "chk-", 4) != 0 || *p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (strcmp(p, ".pb") != 0)
        return false;
    *id = v;
    return true;
}

static bool is_temp_name(const char *name)
{
    return strstr(name, ".tmp-") != NULL;
}

/* ---------------------------------------------------------------- open and free */

wr_err wr_cstore_open(const char *dir, wr_cstore **out, wr_errbuf *eb)
{
    wr_cstore *s;
    wr_err e;

    if (!dir || !*dir)
        return wr_fail(eb, WR_EINVAL, "data directory: empty path");
    s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir)) || asprintf(&s->jobs, "%s/jobs", dir) < 0) {
        if (s)
            free(s->dir);
        free(s);
        return wr_fail(eb, WR_ENOMEM, "data directory %s: out of memory", dir);
    }
    e = wr_mkdirs(s->jobs, eb);
    if (e != WR_OK) {
        wr_errbuf_prefix(eb, "data directory %s: ", dir);
        wr_cstore_free(s);
        return e;
    }
    *out = s;
    return WR_OK;
}

void wr_cstore_free(wr_cstore *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s->jobs);
    free(s);
}

const char *wr_cstore_dir(const wr_cstore *s)
{
    return s->dir;
}

/* ---------------------------------------------------------------- writing */

/* Creates <jobs>/<job> if missing, and makes its entry in jobs/ durable. */
static wr_err ensure_job_dir(wr_cstore *s, const char *job_dir, wr_errbuf *eb)
{
    struct stat st;
    wr_err e;

    if (stat(job_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return wr_fail(eb, WR_EIO, "%s: exists and is not a directory", job_dir);
        return WR_OK;
    }
    if (errno != ENOENT)
        return wr_fail(eb, WR_EIO, "%s: stat: %s", job_dir, strerror(errno));
    e = wr_mkdirs(job_dir, eb);
    if (e == WR_OK)
        e = wr_fsync_dir(s->jobs, eb);
    return e;
}

wr_err wr_cstore_save_job(wr_cstore *s, const Weir__JobRecord *r, wr_errbuf *eb)
{
    char dir[STORE_PATH_MAX], path[STORE_PATH_MAX];
    uint8_t *buf;
    size_t len;
    wr_err e;

    e = check_job_id(r->id, eb);
    if (e == WR_OK)
        e = path_fmt(dir, eb, "%s/%s", s->jobs, r->id);
    if (e == WR_OK)
        e = path_fmt(path, eb, "%s/job.pb", dir);
    if (e == WR_OK)
        e = ensure_job_dir(s, dir, eb);
    if (e != WR_OK)
        return e;
    len = weir__job_record__get_packed_size(r);
    buf = malloc(len + 1);
    if (!buf)
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory packing %zu bytes", path, len);
    weir__job_record__pack(r, buf);
    e = wr_file_write_atomic(path, buf, len, eb);
    free(buf);
    return e;
}

wr_err wr_cstore_delete_job(wr_cstore *s, const char *job_id, wr_errbuf *eb)
{
    char dir[STORE_PATH_MAX], trash[STORE_PATH_MAX];
    struct stat st;
    wr_err e;

    e = check_job_id(job_id, eb);
    if (e == WR_OK)
        e = path_fmt(dir, eb, "%s/%s", s->jobs, job_id);
    if (e == WR_OK)
        e = path_fmt(trash, eb, "%s/" STORE_TRASH_PREFIX "%s", s->jobs, job_id);
    if (e != WR_OK)
        return e;
    if (lstat(dir, &st) != 0) {
        if (errno == ENOENT)
            return WR_OK;
        return wr_fail(eb, WR_EIO, "%s: stat: %s", dir, strerror(errno));
    }
    /* a leftover of an earlier interrupted delete of the same id would block the rename */
    e = wr_remove_tree(trash, eb);
    if (e != WR_OK)
        return e;
    if (rename(dir, trash) != 0)
        return wr_fail(eb, WR_EIO, "%s: rename to %s: %s", dir, trash, strerror(errno));
    e = wr_fsync_dir(s->jobs, eb);
    if (e != WR_OK)
        return e;
    return wr_remove_tree(trash, eb);
}

wr_err wr_cstore_save_checkpoint(wr_cstore *s, const Weir__CheckpointMeta *m, wr_errbuf *eb)
{
    char dir[STORE_PATH_MAX], path[STORE_PATH_MAX];
    struct stat st;
    uint8_t *buf;
    size_t len;
    wr_err e;

    e = check_job_id(m->job_id, eb);
    if (e != WR_OK)
        return e;
    if (m->checkpoint_id == 0)
        return wr_fail(eb, WR_EINVAL, "job %s: checkpoint id 0 (ids start at 1)", m->job_id);
    e = path_fmt(dir, eb, "%s/%s", s->jobs, m->job_id);
    if (e == WR_OK)
        e = path_fmt(path, eb, "%s/chk-%" PRIu64 ".pb", dir, m->checkpoint_id);
    if (e != WR_OK)
        return e;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return wr_fail(eb, WR_ENOTFOUND,
                       "checkpoint %" PRIu64 " of job %s: %s: no such job directory (the job "
                       "is not saved, or was deleted)",
                       m->checkpoint_id, m->job_id, dir);
    len = weir__checkpoint_meta__get_packed_size(m);
    buf = malloc(len + 1);
    if (!buf)
        return wr_fail(eb, WR_ENOMEM, "%s: out of memory packing %zu bytes", path, len);
    weir__checkpoint_meta__pack(m, buf);
    e = wr_file_write_atomic(path, buf, len, eb);
    free(buf);
    return e;
}

wr_err wr_cstore_delete_checkpoint(wr_cstore *s, const char *job_id, uint64_t id, wr_errbuf *eb)
{
    char dir[STORE_PATH_MAX], path[STORE_PATH_MAX];
    wr_err e;

    e = check_job_id(job_id, eb);
    if (e == WR_OK)
        e = path_fmt(dir, eb, "%s/%s", s->jobs, job_id);
    if (e == WR_OK)
        e = path_fmt(path, eb, "%s/chk-%" PRIu64 ".pb", dir, id);
    if (e != WR_OK)
        return e;
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return WR_OK;
        return wr_fail(eb, WR_EIO, "%s: unlink: %s", path, strerror(errno));
    }
    return wr_fsync_dir(dir, eb);
}

/* ---------------------------------------------------------------- loading */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The names in a directory, sorted (strcmp). *names and every name are malloc'd. */
static wr_err list_dir(const char *path, char ***names, size_t *n, wr_errbuf *eb)
{
    DIR *d = opendir(path);
    char **v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *de;
    wr_err e = WR_OK;

    if (!d)
        return wr_fail(eb, errno == ENOENT ? WR_ENOTFOUND : WR_EIO, "%s: opendir: %s", path,
                       strerror(errno));
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno)
                e = wr_fail(eb, WR_EIO, "%s: readdir: %s", path, strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **g = realloc(v, ncap * sizeof *v);
            if (!g) {
                e = wr_fail(eb, WR_ENOMEM, "%s: out of memory listing it", path);
                break;
            }
            v = g;
            cap = ncap;
        }
        v[len] = strdup(de->d_name);
        if (!v[len]) {
            e = wr_fail(eb, WR_ENOMEM, "%s: out of memory listing it", path);
            break;
        }
        len++;
    }
    closedir(d);
    if (e != WR_OK) {
        free_names(v, len);
        return e;
    }
    if (len > 1)
        qsort(v, len, sizeof *v, cmp_name);
    *names = v;
    *n = len;
    return WR_OK;
}

/* Reads path (at most max bytes). WR_OK with *data NULL when it cannot be read (logged,
 * `what` saying what is skipped); WR_ENOMEM is returned. */
static wr_err read_or_skip(const char *path, size_t max, const char *what, void **data, size_t *len,
                           wr_errbuf *eb)
{
    wr_errbuf reb;
    wr_err e;

    *data = NULL;
    e = wr_file_read(path, max, data, len, &reb);
    if (e == WR_ENOMEM)
        return wr_fail(eb, e, "%s", reb.msg);
    if (e != WR_OK)
        wr_log(WR_LOG_WARN, "store", "skipping %s: %s", what, reb.msg);
    return WR_OK;
}

/* The job record in <dir>/job.pb, or NULL (logged) if it is unusable. */
static wr_err load_job_record(const char *dir, const char *job_id, Weir__JobRecord **out,
                              wr_errbuf *eb)
{
    char path[STORE_PATH_MAX], what[STORE_JOB_ID_MAX + 16];
    Weir__JobRecord *r;
    wr_errbuf leb;
    void *data;
    size_t len;
    wr_err e;

    *out = NULL;
    snprintf(what, sizeof what, "job %s", job_id);
    if (path_fmt(path, &leb, "%s/job.pb", dir) != WR_OK) {
        wr_log(WR_LOG_WARN, "store", "skipping %s: %s", what, leb.msg);
        return WR_OK;
    }
    e = read_or_skip(path, STORE_JOB_MAX_BYTES, what, &data, &len, eb);
    if (e != WR_OK || !data)
        return e;
    r = weir__job_record__unpack(NULL, len, data);
    free(data);
    if (!r) {
        wr_log(WR_LOG_WARN, "store", "skipping %s: %s: not a valid weir.JobRecord (%zu bytes)",
               what, path, len);
        return WR_OK;
    }
    if (!r->id || strcmp(r->id, job_id) != 0) {
        wr_log(WR_LOG_WARN, "store", "skipping %s: %s: holds job '%.200s', not '%s'", what, path,
               r->id ? r->id : "", job_id);
        weir__job_record__free_unpacked(r, NULL);
        return WR_OK;
    }
    *out = r;
    return WR_OK;
}

/* The checkpoint metadata in <dir>/<name> (chk-<id>.pb), or NULL (logged). */
static wr_err load_checkpoint(const char *dir, const char *job_id, const char *name, uint64_t id,
                              Weir__CheckpointMeta **out, wr_errbuf *eb)
{
    char path[STORE_PATH_MAX], what[STORE_JOB_ID_MAX + 64];
    Weir__CheckpointMeta *m;
    wr_errbuf leb;
    void *data;
    size_t len;
    wr_err e;

    *out = NULL;
    snprintf(what, sizeof what, "checkpoint %" PRIu64 " of job %s", id, job_id);
    if (path_fmt(path, &leb, "%s/%s", dir, name) != WR_OK) {
        wr_log(WR_LOG_WARN, "store", "skipping %s: %s", what, leb.msg);
        return WR_OK;
    }
    e = read_or_skip(path, STORE_CHK_MAX_BYTES, what, &data, &len, eb);
    if (e != WR_OK || !data)
        return e;
    m = weir__checkpoint_meta__unpack(NULL, len, data);
    free(data);
    if (!m) {
        wr_log(WR_LOG_WARN, "store",
               "skipping %s: %s: not a valid weir.CheckpointMeta (%zu bytes; truncated?)", what,
               path, len);
        return WR_OK;
    }
    if (!m->job_id || strcmp(m->job_id, job_id) != 0 || m->checkpoint_id != id) {
        wr_log(WR_LOG_WARN, "store",
               "skipping %s: %s: holds checkpoint %" PRIu64 " of job '%.200s'", what, path,
               m->checkpoint_id, m->job_id ? m->job_id : "");
        weir__checkpoint_meta__free_unpacked(m, NULL);
        return WR_OK;
    }
    *out = m;
    return WR_OK;
}

static int cmp_checkpoint(const void *a, const void *b)
{
    const Weir__CheckpointMeta *x = *(Weir__CheckpointMeta *const *)a;
    const Weir__CheckpointMeta *y = *(Weir__CheckpointMeta *const *)b;

    return x->checkpoint_id < y->checkpoint_id ? -1 : x->checkpoint_id > y->checkpoint_id;
}

static void job_fini(wr_cstore_job *j)
{
    for (size_t i = 0; i < j->ncheckpoints; i++)
        weir__checkpoint_meta__free_unpacked(j->checkpoints[i], NULL);
    free(j->checkpoints);
    if (j->job)
        weir__job_record__free_unpacked(j->job, NULL);
    memset(j, 0, sizeof *j);
}

/* Loads the job in directory <jobs>/<job_id> into *out; out->job NULL when it is skipped
 * (logged). Only WR_ENOMEM fails. */
static wr_err load_job(wr_cstore *s, const char *job_id, wr_cstore_job *out, wr_errbuf *eb)
{
    char dir[STORE_PATH_MAX];
    wr_cstore_job j = {0};
    char **names = NULL;
    size_t nnames = 0;
    wr_errbuf leb;
    wr_err e;

    memset(out, 0, sizeof *out);
    if (path_fmt(dir, &leb, "%s/%s", s->jobs, job_id) != WR_OK) {
        wr_log(WR_LOG_WARN, "store", "skipping job %s: %s", job_id, leb.msg);
        return WR_OK;
    }
    e = load_job_record(dir, job_id, &j.job, eb);
    if (e != WR_OK || !j.job)
        return e;
    e = list_dir(dir, &names, &nnames, &leb);
    if (e == WR_ENOMEM) {
        job_fini(&j);
        return wr_fail(eb, e, "%s", leb.msg);
    }
    if (e != WR_OK) {
        wr_log(WR_LOG_WARN, "store", "job %s: its checkpoints are skipped: %s", job_id, leb.msg);
        *out = j;
        return WR_OK;
    }
    j.checkpoints = calloc(nnames + 1, sizeof *j.checkpoints);
    if (!j.checkpoints) {
        e = wr_fail(eb, WR_ENOMEM, "%s: out of memory loading its checkpoints", dir);
        goto fail;
    }
    for (size_t i = 0; i < nnames; i++) {
        Weir__CheckpointMeta *m;
        uint64_t id;

        if (!strcmp(names[i], "job.pb") || is_temp_name(names[i]))
            continue;
        if (!parse_chk_name(names[i], &id)) {
            wr_log(WR_LOG_DEBUG, "store", "%s/%s: not a store file, ignored", dir, names[i]);
            continue;
        }
        e = load_checkpoint(dir, job_id, names[i], id, &m, eb);
        if (e != WR_OK)
            goto fail;
        if (m)
            j.checkpoints[j.ncheckpoints++] = m;
    }
    free_names(names, nnames);
    if (j.ncheckpoints > 1)
        qsort(j.checkpoints, j.ncheckpoints, sizeof *j.checkpoints, cmp_checkpoint);
    *out = j;
    return WR_OK;

fail:
    free_names(names, nnames);
    job_fini(&j);
    return e;
}

wr_err wr_cstore_load(wr_cstore *s, wr_cstore_job **jobs, size_t *njobs, wr_errbuf *eb)
{
    wr_cstore_job *v = NULL;
    char **names = NULL;
    size_t nnames = 0, n = 0;
    wr_err e;

    e = list_dir(s->jobs, &names, &nnames, eb);
    if (e != WR_OK)
        return e;
    v = calloc(nnames + 1, sizeof *v);
    if (!v) {
        e = wr_fail(eb, WR_ENOMEM, "%s: out of memory loading the jobs", s->jobs);
        goto out;
    }
    for (size_t i = 0; i < nnames; i++) {
        char path[STORE_PATH_MAX];
        wr_errbuf leb;
        struct stat st;

        if (path_fmt(path, &leb, "%s/%s", s->jobs, names[i]) != WR_OK) {
            wr_log(WR_LOG_WARN, "store", "skipping %s", leb.msg);
            continue;
        }
        if (!strncmp(names[i], STORE_TRASH_PREFIX, strlen(STORE_TRASH_PREFIX))) {
            /* a delete_job interrupted after its rename: finish it */
            if (wr_remove_tree(path, &leb) != WR_OK)
                wr_log(WR_LOG_WARN, "store", "cannot finish deleting a job: %s", leb.msg);
            else
                wr_log(WR_LOG_INFO, "store", "%s: removed (an interrupted job delete)", path);
            continue;
        }
        if (!valid_job_id(names[i])) {
            wr_log(WR_LOG_WARN, "store", "skipping %s: not a job directory (bad job id)", path);
            continue;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            wr_log(WR_LOG_WARN, "store", "skipping %s: not a directory", path);
            continue;
        }
        e = load_job(s, names[i], &v[n], eb);
        if (e != WR_OK)
            goto out;
        if (v[n].job)
            n++;
    }
out:
    free_names(names, nnames);
    if (e != WR_OK) {
        wr_cstore_loaded_free(v, n);
        return e;
    }
    *jobs = v;
    *njobs = n;
    return WR_OK;
}

void wr_cstore_loaded_free(wr_cstore_job *jobs, size_t njobs)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < njobs; i++)
        job_fini(&jobs[i]);
    free(jobs);
}
