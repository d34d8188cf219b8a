/*
 * test-ckstore.c — file:// checkpoint storage: put/get round trips whose size and crc32
 * equal an independent zlib computation, corruption (a flipped byte, a truncated file)
 * reported as WR_ECORRUPT naming the path, missing files, refused paths and schemes,
 * deletes, and concurrent puts from several threads. Every case works in a fresh mkdtemp
 * directory (under $TMPDIR or /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckstore.h"
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers ---- */

typedef struct fx {
    char root[256];  /* mkdtemp directory */
    char store[300]; /* the storage directory inside it */
    char url[320];
    wr_ckstore *s;
} fx;

static void check(wr_err e, const wr_errbuf *eb)
{
    if (e != WR_OK)
        fail_msg("%s: %s", wr_strerror(e), eb->msg);
}

static fx *fx_open(void)
{
    fx *f = calloc(1, sizeof *f);
    const char *t = getenv("TMPDIR");
    wr_errbuf eb;

    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "%s/weir-test-ckstore-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->store, sizeof f->store, "%s/storage", f->root);
    snprintf(f->url, sizeof f->url, "file://%s", f->store);
    check(wr_ckstore_open(f->url, &f->s, &eb), &eb);
    assert_string_equal(wr_ckstore_url(f->s), f->url);
    return f;
}

static void fx_close(fx *f)
{
    wr_errbuf eb;
    wr_ckstore_free(f->s);
    check(wr_remove_tree(f->root, &eb), &eb);
    assert_int_equal(access(f->root, F_OK), -1);
    free(f);
}

/* Deterministic bytes (xorshift), so the content is not trivially compressible. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void write_local(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len)
        assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static unsigned char *read_local(const char *path, size_t *len)
{
    void *p;
    wr_errbuf eb;
    check(wr_file_read(path, 1 << 26, &p, len, &eb), &eb);
    return p;
}

/* Entries in dir whose name contains ".tmp-". */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

/* ---- cases ---- */

static void put_then_get_round_trips_with_the_size_and_crc32_of_the_content(void **state)
{
    fx *f = fx_open();
    size_t len = 300001, glen; /* more than two copy buffers, not a multiple of one */
    unsigned char *data = malloc(len), *back;
    char local[400], out[400], dir[400];
    uint64_t size = 0, lsize = 0;
    uint32_t crc = 0, lcrc = 0, ref;
    wr_errbuf eb;

    assert_non_null(data);
    fill(data, len, 1);
    ref = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len);
    snprintf(local, sizeof local, "%s/in.sst", f->root);
    snprintf(out, sizeof out, "%s/out.sst", f->root);
    write_local(local, data, len);

    check(wr_ckstore_put(f->s, local, "job/shared/s0-a1-000012.sst", &size, &crc, &eb), &eb);
    assert_int_equal(size, len);
    assert_int_equal(crc, ref);
    check(wr_file_crc32(local, &lsize, &lcrc, &eb), &eb);
    assert_int_equal(lsize, len);
    assert_int_equal(lcrc, ref);

    check(wr_ckstore_get(f->s, "job/shared/s0-a1-000012.sst", out, size, crc, &eb), &eb);
    back = read_local(out, &glen);
    assert_int_equal(glen, len);
    assert_memory_equal(back, data, len);
    free(back);
    /* without a local file it only checks */
    check(wr_ckstore_get(f->s, "job/shared/s0-a1-000012.sst", NULL, size, crc, &eb), &eb);

    /* an empty file too */
    write_local(local, "", 0);
    check(wr_ckstore_put(f->s, local, "job/chk-1/a1-s0/000003.log", &size, &crc, &eb), &eb);
    assert_int_equal(size, 0);
    assert_int_equal(crc, 0);
    check(wr_ckstore_get(f->s, "job/chk-1/a1-s0/000003.log", NULL, 0, 0, &eb), &eb);

    snprintf(dir, sizeof dir, "%s/job/shared", f->store);
    assert_int_equal(count_temp_files(dir), 0);
    free(data);
    fx_close(f);
}

static void a_flipped_byte_or_a_truncated_file_is_corrupt_and_the_error_names_the_path(void **state)
{
    fx *f = fx_open();
    const char *path = "job/shared/s0-a1-000012.sst";
    size_t len = 5000;
    unsigned char *data = malloc(len);
    char local[400], out[400], stored[400];
    uint64_t size;
    uint32_t crc;
    wr_errbuf eb;

    assert_non_null(data);
    fill(data, len, 2);
    snprintf(local, sizeof local, "%s/in.sst", f->root);
    snprintf(out, sizeof out, "%s/out.sst", f->root);
    snprintf(stored, sizeof stored, "%s/%s", f->store, path);
    write_local(local, data, len);
    check(wr_ckstore_put(f->s, local, path, &size, &crc, &eb), &eb);

    flip_byte(stored, 1234);
    assert_int_equal(wr_ckstore_get(f->s, path, out, size, crc, &eb), WR_ECORRUPT);
    assert_non_null(strstr(eb.msg, path));
    assert_non_null(strstr(eb.msg, f->url));
    assert_non_null(strstr(eb.msg, "checksum mismatch"));
    assert_int_equal(access(out, F_OK), -1); /* the local copy was removed */

    flip_byte(stored, 1234); /* back to the original */
    check(wr_ckstore_get(f->s, path, out, size, crc, &eb), &eb);
    assert_int_equal(unlink(out), 0);

    assert_int_equal(truncate(stored, (off_t)len - 1), 0);
    assert_int_equal(wr_ckstore_get(f->s, path, out, size, crc, &eb), WR_ECORRUPT);
    assert_non_null(strstr(eb.msg, path));
    assert_non_null(strstr(eb.msg, "4999"));
    assert_int_equal(access(out, F_OK), -1);

    /* a wrong expectation is a mismatch as well */
    assert_int_equal(wr_ckstore_get(f->s, path, NULL, len - 1, crc ^ 1, &eb), WR_ECORRUPT);
    free(data);
    fx_close(f);
}

static void a_missing_file_is_not_found(void **state)
{
    fx *f = fx_open();
    char out[400];
    wr_errbuf eb;

    snprintf(out, sizeof out, "%s/out", f->root);
    assert_int_equal(wr_ckstore_get(f->s, "job/shared/nope.sst", out, 1, 2, &eb), WR_ENOTFOUND);
    assert_non_null(strstr(eb.msg, "job/shared/nope.sst"));
    assert_int_equal(access(out, F_OK), -1);
    fx_close(f);
}

static void absolute_paths_and_paths_with_dot_dot_are_refused(void **state)
{
    static const char *bad[] = {"../escape", "job/../../escape", "/etc/passwd", "job/..", ""};
    fx *f = fx_open();
    char local[400], outside[400];
    uint64_t size = 7;
    uint32_t crc = 9;
    wr_errbuf eb;

    snprintf(local, sizeof local, "%s/in", f->root);
    snprintf(outside, sizeof outside, "%s/escape", f->root);
    write_local(local, "abc", 3);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(wr_ckstore_put(f->s, local, bad[i], &size, &crc, &eb), WR_EINVAL);
        assert_non_null(strstr(eb.msg, bad[i]));
        assert_int_equal(wr_ckstore_get(f->s, bad[i], NULL, 3, 0, &eb), WR_EINVAL);
        assert_int_equal(wr_ckstore_delete(f->s, bad[i], &eb), WR_EINVAL);
        assert_int_equal(wr_ckstore_delete_dir(f->s, bad[i], &eb), WR_EINVAL);
    }
    assert_int_equal(size, 7); /* out-parameters untouched */
    assert_int_equal(crc, 9);
    assert_int_equal(access(outside, F_OK), -1);
    assert_int_equal(access(local, F_OK), 0);
    fx_close(f);
}

static void an_unsupported_scheme_is_refused_naming_it(void **state)
{
    wr_ckstore *s = NULL;
    wr_errbuf eb;

    assert_int_equal(wr_ckstore_open("s3://x", &s, &eb), WR_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(eb.msg, "s3://x"));
    assert_non_null(strstr(eb.msg, "file://"));
    assert_int_equal(wr_ckstore_open("/plain/dir", &s, &eb), WR_EUNSUPPORTED);
    assert_int_equal(wr_ckstore_open("file://relative/dir", &s, &eb), WR_EINVAL);
    assert_non_null(strstr(eb.msg, "file://relative/dir"));
    assert_null(s);
}

static void delete_removes_a_file_and_delete_dir_a_whole_directory(void **state)
{
    fx *f = fx_open();
    char local[400], dir[400];
    uint64_t size;
    uint32_t crc, crc2;
    wr_errbuf eb;

    snprintf(local, sizeof local, "%s/in", f->root);
    write_local(local, "hello", 5);
    check(wr_ckstore_put(f->s, local, "job/chk-3/a1-s0/MANIFEST-000005", &size, &crc, &eb), &eb);
    check(wr_ckstore_put(f->s, local, "job/chk-3/a1-s1/CURRENT", &size, &crc2, &eb), &eb);
    check(wr_ckstore_put(f->s, local, "job/chk-4/a1-s0/CURRENT", &size, &crc2, &eb), &eb);

    check(wr_ckstore_delete(f->s, "job/chk-3/a1-s0/MANIFEST-000005", &eb), &eb);
    assert_int_equal(wr_ckstore_get(f->s, "job/chk-3/a1-s0/MANIFEST-000005", NULL, 5, crc, &eb),
                     WR_ENOTFOUND);
    check(wr_ckstore_delete(f->s, "job/chk-3/a1-s0/MANIFEST-000005", &eb), &eb); /* missing */
    check(wr_ckstore_get(f->s, "job/chk-3/a1-s1/CURRENT", NULL, 5, crc2, &eb), &eb);

    check(wr_ckstore_delete_dir(f->s, "job/chk-3", &eb), &eb);
    snprintf(dir, sizeof dir, "%s/job/chk-3", f->store);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(wr_ckstore_get(f->s, "job/chk-3/a1-s1/CURRENT", NULL, 5, crc2, &eb),
                     WR_ENOTFOUND);
    check(wr_ckstore_delete_dir(f->s, "job/chk-3", &eb), &eb); /* missing */
    check(wr_ckstore_get(f->s, "job/chk-4/a1-s0/CURRENT", NULL, 5, crc2, &eb), &eb);
    fx_close(f);
}

/* ---- concurrency ---- */

#define THREADS 4
#define FILES_PER_THREAD 16

typedef struct worker_arg {
    fx *f;
    int id;
    uint32_t crc[FILES_PER_THREAD];
    uint64_t size[FILES_PER_THREAD];
    uint32_t same_crc;
    int failures;
    wr_errbuf eb;
} worker_arg;

static void *put_worker(void *p)
{
    worker_arg *a = p;
    unsigned char buf[20000];
    char local[400], path[64];
    uint64_t size;

    snprintf(local, sizeof local, "%s/local-%d", a->f->root, a->id);
    for (int i = 0; i < FILES_PER_THREAD; i++) {
        size_t len = 1000 + (size_t)(a->id * 977 + i * 131) % 19000;
        FILE *fp;
        fill(buf, len, (uint64_t)(a->id * 1000 + i));
        if (!(fp = fopen(local, "wb")) || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
            a->failures++;
            continue;
        }
        snprintf(path, sizeof path, "job/shared/s%d-a1-%06d.sst", a->id, i);
        if (wr_ckstore_put(a->f->s, local, path, &a->size[i], &a->crc[i], &a->eb) != WR_OK)
            a->failures++;
        /* every thread also writes the same path with the same content */
        fill(buf, 4096, 42);
        if (!(fp = fopen(local, "wb")) || fwrite(buf, 1, 4096, fp) != 4096 || fclose(fp) != 0) {
            a->failures++;
            continue;
        }
        if (wr_ckstore_put(a->f->s, local, "job/shared/same.sst", &size, &a->same_crc, &a->eb) !=
            WR_OK)
            a->failures++;
    }
    return NULL;
}

static void puts_from_four_threads_at_once_all_land_whole(void **state)
{
    fx *f = fx_open();
    pthread_t th[THREADS];
    worker_arg *args = calloc(THREADS, sizeof *args);
    unsigned char ref[20000];
    uint32_t same_crc;
    char dir[400];
    wr_errbuf eb;

    assert_non_null(args);
    for (int t = 0; t < THREADS; t++) {
        args[t].f = f;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, put_worker, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    fill(ref, 4096, 42);
    same_crc = (uint32_t)crc32(0L, ref, 4096);
    for (int t = 0; t < THREADS; t++) {
        if (args[t].failures)
            fail_msg("thread %d: %d failures, last: %s", t, args[t].failures, args[t].eb.msg);
        assert_int_equal(args[t].same_crc, same_crc);
        for (int i = 0; i < FILES_PER_THREAD; i++) {
            char path[64];
            size_t len = 1000 + (size_t)(t * 977 + i * 131) % 19000;
            fill(ref, len, (uint64_t)(t * 1000 + i));
            assert_int_equal(args[t].size[i], len);
            assert_int_equal(args[t].crc[i], (uint32_t)crc32(0L, ref, (uInt)len));
            snprintf(path, sizeof path, "job/shared/s%d-a1-%06d.sst", t, i);
            check(wr_ckstore_get(f->s, path, NULL, args[t].size[i], args[t].crc[i], &eb), &eb);
        }
    }
    check(wr_ckstore_get(f->s, "job/shared/same.sst", NULL, 4096, args[0].same_crc, &eb), &eb);
    snprintf(dir, sizeof dir, "%s/job/shared", f->store);
    assert_int_equal(count_temp_files(dir), 0);
    free(args);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_then_get_round_trips_with_the_size_and_crc32_of_the_content),
        cmocka_unit_test(
            a_flipped_byte_or_a_truncated_file_is_corrupt_and_the_error_names_the_path),
        cmocka_unit_test(a_missing_file_is_not_found),
        cmocka_unit_test(absolute_paths_and_paths_with_dot_dot_are_refused),
        cmocka_unit_test(an_unsupported_scheme_is_refused_naming_it),
        cmocka_unit_test(delete_removes_a_file_and_delete_dir_a_whole_directory),
        cmocka_unit_test(puts_from_four_threads_at_once_all_land_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
