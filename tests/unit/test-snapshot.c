/*
 * test-snapshot.c — keyed-state snapshots with a real state store: a RocksDB checkpoint
 * holds what was only in the memtable or the cache; take + upload + restore gives back
 * exactly what an in-test reference model says the store held; a second checkpoint
 * uploads only the changed SST files and references the others; a seeded snapshotter of
 * a new attempt uploads nothing unchanged; restore prefers a local copy that checks out
 * and otherwise uses storage; a corrupted or missing stored file fails the restore
 * (naming checkpoint and file) and leaves no directory behind; confirm and drop manage
 * local copies; take and upload run on two threads at once; and window operators
 * restored from a checkpoint emit exactly what the original operators emit.
 *
 * Every case works in a fresh mkdtemp directory (under $TMPDIR or /tmp) and removes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "files.h"
#include "snapshot.h"
#include "window.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KG_LAST 7
#define N_KEYS 20000
#define VAL_MAX 160
#define JOB "job"

/* ---- fixture: a temp directory with storage, local copies and a store ---- */

typedef struct fx {
    char root[256];
    char url[300];   /* file://<root>/storage */
    char local[300]; /* <root>/local */
    wr_ckstore *store;
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
    snprintf(f->root, sizeof f->root, "%s/weir-test-snapshot-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->url, sizeof f->url, "file://%s/storage", f->root);
    snprintf(f->local, sizeof f->local, "%s/local", f->root);
    check(wr_ckstore_open(f->url, &f->store, &eb), &eb);
    return f;
}

static void fx_close(fx *f)
{
    wr_errbuf eb;
    wr_ckstore_free(f->store);
    check(wr_remove_tree(f->root, &eb), &eb);
    assert_int_equal(access(f->root, F_OK), -1);
    free(f);
}

/* <root>/<name> */
static const char *at(const fx *f, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", f->root, name);
    return buf;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static wr_state *open_store(const char *dir, const char *cf, int kg_last, size_t cache)
{
    wr_state_options o = {0};
    wr_state *st = NULL;
    wr_errbuf eb;

    o.dir = dir;
    o.column_family = cf;
    o.cache_bytes = cache;
    o.kg_first = 0;
    o.kg_last = kg_last;
    check(wr_state_open(&o, &st, &eb), &eb);
    return st;
}

/* Regular files in dir whose name ends with suffix ("" counts every file). */
static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    size_t sl = strlen(suffix);

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < sl)
            continue;
        n += strcmp(de->d_name + l - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

/* Entries of dir whose name contains part. */
static int count_containing(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *de;
    wr_errbuf eb;

    assert_non_null(d);
    check(wr_mkdirs(to, &eb), &eb);
    while ((de = readdir(d)) != NULL) {
        char src[600], dst[600];
        void *data;
        size_t len;
        if (de->d_name[0] == '.')
            continue;
        snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
        check(wr_file_read(src, 1 << 28, &data, &len, &eb), &eb);
        check(wr_file_write_atomic(dst, data, len, &eb), &eb);
        free(data);
    }
    closedir(d);
}

/* Rewrites path (a new inode, so hard links elsewhere keep the old content) with one
 * byte flipped. */
static void corrupt_copy(const char *path, size_t at_byte)
{
    void *data;
    size_t len;
    wr_errbuf eb;

    check(wr_file_read(path, 1 << 28, &data, &len, &eb), &eb);
    assert_true(at_byte < len);
    ((unsigned char *)data)[at_byte] ^= 0x20;
    assert_int_equal(unlink(path), 0);
    check(wr_file_write_atomic(path, data, len, &eb), &eb);
    free(data);
}

/* ---- the reference model: what the test wrote ---- */

typedef struct ref {
    unsigned char val[N_KEYS][VAL_MAX];
    uint16_t vlen[N_KEYS];
    bool live[N_KEYS];
} ref;

static int key_kg(int i)
{
    return i % (KG_LAST + 1);
}

static int64_t key_ns(int i)
{
    return i % 3 == 0 ? WR_STATE_NS_GLOBAL : (int64_t)(i % 5) * 1000 - 2000;
}

static size_t key_of(int i, char *k)
{
    return (size_t)sprintf(k, "key-%06d", i);
}

/* Random-looking bytes (xorshift), so RocksDB's compression cannot shrink them. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void ref_value(ref *r, int i, uint64_t version)
{
    r->vlen[i] = (uint16_t)(40 + ((uint64_t)i * 37 + version * 11) % (VAL_MAX - 40));
    fill(r->val[i], r->vlen[i], (uint64_t)i * 1000003 + version);
    r->live[i] = true;
}

static void put(wr_state *st, ref *r, int i, uint64_t version)
{
    char k[16];
    size_t kl = key_of(i, k);
    wr_state_entry *e;
    wr_errbuf eb;

    ref_value(r, i, version);
    check(wr_state_lookup(st, key_kg(i), key_ns(i), k, kl, true, &e, &eb), &eb);
    check(wr_state_set(st, e, r->val[i], r->vlen[i], &eb), &eb);
}

static void del(wr_state *st, ref *r, int i)
{
    char k[16];
    size_t kl = key_of(i, k);
    wr_state_entry *e;
    wr_errbuf eb;

    check(wr_state_lookup(st, key_kg(i), key_ns(i), k, kl, false, &e, &eb), &eb);
    assert_non_null(e);
    wr_state_remove(st, e);
    r->live[i] = false;
}

typedef struct ns_list {
    int64_t ns[64];
    int n;
} ns_list;

static void collect_ns(void *arg, int64_t ns)
{
    ns_list *l = arg;
    assert_true(l->n < 64);
    l->ns[l->n++] = ns;
}

/* The store holds exactly the live entries of r: every namespace is iterated (each entry
 * must be live with its key group, namespace and value; none twice; as many as r has),
 * then a sample of keys is looked up. */
static void verify(wr_state *st, const ref *r)
{
    bool *seen = calloc(N_KEYS, sizeof *seen);
    ns_list l = {.n = 0};
    size_t n = 0, live = 0;
    wr_errbuf eb;

    assert_non_null(seen);
    wr_state_each_ns(st, collect_ns, &l);
    for (int j = 0; j < l.n; j++) {
        wr_state_iter *it;
        int kg;
        const void *k, *v;
        size_t kl, vl;
        wr_err err = WR_OK;
        check(wr_state_iter_new(st, l.ns[j], false, &it, &eb), &eb);
        while (wr_state_iter_next(it, &kg, &k, &kl, &v, &vl, &err, &eb)) {
            char key[16];
            int i;
            assert_int_equal(kl, 10);
            memcpy(key, k, kl);
            key[kl] = 0;
            assert_int_equal(sscanf(key, "key-%6d", &i), 1);
            assert_true(i >= 0 && i < N_KEYS);
            if (!r->live[i] || seen[i])
                fail_msg("entry %s: %s", key, seen[i] ? "seen twice" : "should not exist");
            seen[i] = true;
            assert_int_equal(kg, key_kg(i));
            assert_int_equal(l.ns[j], key_ns(i));
            assert_int_equal(vl, r->vlen[i]);
            assert_memory_equal(v, r->val[i], vl);
            n++;
        }
        check(err, &eb);
        wr_state_iter_free(it);
    }
    for (int i = 0; i < N_KEYS; i++)
        live += r->live[i];
    assert_int_equal(n, live);
    /* point lookups (cache misses read RocksDB): a sample and every deleted key */
    for (int i = 0; i < N_KEYS; i++) {
        char k[16];
        size_t kl = key_of(i, k), vl;
        wr_state_entry *e;
        const void *v;
        if (i % 7 != 0 && r->live[i])
            continue;
        check(wr_state_lookup(st, key_kg(i), key_ns(i), k, kl, false, &e, &eb), &eb);
        if (!r->live[i]) {
            assert_null(e);
            continue;
        }
        assert_non_null(e);
        v = wr_state_value(e, &vl);
        assert_int_equal(vl, r->vlen[i]);
        assert_memory_equal(v, r->val[i], vl);
    }
    free(seen);
}

/* Opens dir and checks it against r. */
static void verify_dir(const char *dir, const ref *r)
{
    wr_state *st = open_store(dir, "state", KG_LAST, 1 << 20);
    verify(st, r);
    wr_state_close(st);
}

/* ---- a store with two checkpoints ---- */

typedef struct built {
    fx *f;
    char db[300];
    wr_state *st;
    wr_snapshotter *sn;
    ref *r1, *r2; /* the state at checkpoint 1 and 2 */
    wr_snap_handle h1, h2;
    int changed; /* keys changed between 1 and 2 */
} built;

static void take_upload(wr_snapshotter *sn, wr_state *st, int64_t id, wr_snap_handle *h)
{
    wr_errbuf eb;
    check(wr_snapshotter_take(sn, st, id, &eb), &eb);
    check(wr_snapshotter_upload(sn, id, h, &eb), &eb);
    assert_int_equal(h->checkpoint_id, id);
}

/* Changes 1 % of the keys of the store (and of r): three in four get a new value of
 * `version`, the fourth is deleted. Returns how many. */
static int change_some(wr_state *st, ref *r, uint64_t version, int offset)
{
    int n = N_KEYS / 100;
    for (int j = 0; j < n; j++) {
        int i = (j * 97 + offset) % N_KEYS;
        if (j % 4 == 3 && r->live[i])
            del(st, r, i);
        else
            put(st, r, i, version);
    }
    return n;
}

static void build(built *b)
{
    memset(b, 0, sizeof *b);
    b->f = fx_open();
    at(b->f, "db", b->db, sizeof b->db);
    b->r1 = calloc(1, sizeof *b->r1);
    b->r2 = calloc(1, sizeof *b->r2);
    assert_non_null(b->r1);
    assert_non_null(b->r2);
    /* a 256 KiB cache: most entries are evicted into RocksDB's memtable, the rest stay
     * dirty in the cache until the checkpoint */
    b->st = open_store(b->db, "state", KG_LAST, 256 << 10);
    for (int i = 0; i < N_KEYS; i++)
        put(b->st, b->r1, i, 1);
    b->sn = wr_snapshotter_new(b->f->store, JOB, 1, 0, b->f->local);
    assert_non_null(b->sn);
    take_upload(b->sn, b->st, 1, &b->h1);
    memcpy(b->r2, b->r1, sizeof *b->r1);
    b->changed = change_some(b->st, b->r2, 2, 13);
    take_upload(b->sn, b->st, 2, &b->h2);
}

static void unbuild(built *b)
{
    wr_snap_handle_fini(&b->h1);
    wr_snap_handle_fini(&b->h2);
    wr_snapshotter_free(b->sn);
    wr_state_close(b->st);
    free(b->r1);
    free(b->r2);
    fx_close(b->f);
}

static const wr_snap_file *find_file(const wr_snap_handle *h, const char *name)
{
    for (int i = 0; i < h->nfiles; i++) {
        if (strcmp(h->files[i].name, name) == 0)
            return &h->files[i];
    }
    return NULL;
}

static void restore(const built *b, const wr_snap_handle *h, const char *local_root,
                    const char *name, bool want_local, char *dir, size_t size)
{
    bool from_local = !want_local;
    wr_errbuf eb;

    at(b->f, name, dir, size);
    check(wr_snap_restore(b->f->store, h, local_root, dir, &from_local, &eb), &eb);
    assert_int_equal(from_local, want_local);
}

/* ---- cases ---- */

static void a_state_checkpoint_holds_entries_only_in_the_memtable_or_the_cache(void **state)
{
    fx *f = fx_open();
    ref *r = calloc(1, sizeof *r);
    char db[300], cp[300], copy[300];
    wr_state *st, *st2;
    wr_state_stats ss;
    wr_errbuf eb;

    assert_non_null(r);
    at(f, "db", db, sizeof db);
    at(f, "cp", cp, sizeof cp);
    at(f, "copy", copy, sizeof copy);
    st = open_store(db, "state", KG_LAST, 64 << 10);
    for (int i = 0; i < 4000; i++)
        put(st, r, i, 1);
    wr_state_get_stats(st, &ss);
    assert_true(ss.evictions > 0);                /* some went to RocksDB (its memtable) ... */
    assert_true(ss.entries > 0);                  /* ... some are only in the cache */
    assert_int_equal(count_files(db, ".sst"), 0); /* nothing in an SST file yet */

    check(wr_state_checkpoint(st, cp, &eb), &eb);
    assert_true(count_files(cp, ".sst") >= 1);
    assert_int_equal(count_files(cp, "CURRENT"), 1);
    assert_true(count_containing(cp, "MANIFEST-") >= 1);
    assert_true(count_containing(cp, "OPTIONS-") >= 1);
    /* into an existing directory: refused, naming it */
    assert_int_equal(wr_state_checkpoint(st, cp, &eb), WR_EIO);
    assert_non_null(strstr(eb.msg, cp));

    /* the store goes on; the copy keeps the state of the checkpoint */
    for (int i = 0; i < 100; i++) {
        char k[16];
        size_t kl = key_of(i, k);
        wr_state_entry *e;
        check(wr_state_lookup(st, key_kg(i), key_ns(i), k, kl, true, &e, &eb), &eb);
        check(wr_state_set(st, e, "x", 1, &eb), &eb);
    }
    check(wr_state_flush(st, &eb), &eb);
    copy_dir(cp, copy);
    st2 = open_store(copy, "state", KG_LAST, 1 << 20);
    verify(st2, r);
    wr_state_close(st2);
    wr_state_close(st);
    free(r);
    fx_close(f);
}

static void a_restored_checkpoint_equals_the_state_it_was_taken_from(void **state)
{
    built b;
    char dir[300], want[300];
    uint64_t sum = 0;
    int shared = 0;

    build(&b);
    assert_true(b.h1.nfiles >= 3);
    for (int i = 0; i < b.h1.nfiles; i++) {
        const wr_snap_file *f = &b.h1.files[i];
        if (f->shared)
            snprintf(want, sizeof want, JOB "/shared/s0-a1-%s", f->name);
        else
            snprintf(want, sizeof want, JOB "/chk-1/a1-s0/%s", f->name);
        assert_string_equal(f->path, want);
        assert_int_equal(f->shared, strstr(f->name, ".sst") != NULL);
        shared += f->shared;
        sum += f->size;
    }
    assert_true(shared >= 1);
    assert_int_equal(b.h1.state_bytes, sum);
    assert_int_equal(b.h1.uploaded_bytes, sum); /* the first checkpoint copies everything */

    /* from storage (no local root), then from the local copy */
    restore(&b, &b.h1, NULL, "r1", false, dir, sizeof dir);
    verify_dir(dir, b.r1);
    restore(&b, &b.h1, b.f->local, "r1-local", true, dir, sizeof dir);
    verify_dir(dir, b.r1);
    unbuild(&b);
}

static void a_second_checkpoint_uploads_only_what_changed_and_references_the_rest(void **state)
{
    built b;
    char dir[300];
    int kept = 0, fresh = 0;
    wr_errbuf eb;

    build(&b);
    assert_int_equal(b.changed, N_KEYS / 100);
    /* a clear ratio: the changed 1 % plus the small private files */
    assert_true(b.h2.uploaded_bytes * 3 < b.h2.state_bytes);
    assert_true(b.h2.uploaded_bytes * 3 < b.h1.uploaded_bytes);
    for (int i = 0; i < b.h2.nfiles; i++) {
        const wr_snap_file *f = &b.h2.files[i], *old = find_file(&b.h1, f->name);
        char want[300];
        if (!f->shared) {
            snprintf(want, sizeof want, JOB "/chk-2/a1-s0/%s", f->name);
            assert_string_equal(f->path, want);
            continue;
        }
        if (old) { /* still live: referenced, same storage path */
            assert_string_equal(f->path, old->path);
            assert_int_equal(f->size, old->size);
            assert_int_equal(f->crc, old->crc);
            kept++;
        } else {
            snprintf(want, sizeof want, JOB "/shared/s0-a1-%s", f->name);
            assert_string_equal(f->path, want);
            fresh++;
        }
    }
    assert_true(kept >= 1);
    assert_true(fresh >= 1);

    restore(&b, &b.h2, NULL, "r2", false, dir, sizeof dir);
    verify_dir(dir, b.r2);
    /* checkpoint 1 still restores to the old state, from storage once its local copy
     * is gone */
    wr_snapshotter_confirm(b.sn, 2);
    restore(&b, &b.h1, b.f->local, "r1", false, dir, sizeof dir);
    verify_dir(dir, b.r1);
    /* an upload of a checkpoint never taken fails, naming the directory */
    {
        wr_snap_handle h = {0};
        char missing[320];
        snprintf(missing, sizeof missing, "%s/77", b.f->local);
        assert_int_equal(wr_snapshotter_upload(b.sn, 77, &h, &eb), WR_ENOTFOUND);
        assert_non_null(strstr(eb.msg, missing));
        assert_int_equal(h.nfiles, 0);
    }
    unbuild(&b);
}

static void a_seeded_snapshotter_of_a_new_attempt_uploads_no_unchanged_sst_files(void **state)
{
    built b;
    char dir[300], local2[300];
    wr_snapshotter *sn2;
    wr_state *st2;
    wr_snap_handle h3 = {0}, h4 = {0};
    ref *r4;
    uint64_t private_bytes = 0;
    int fresh = 0;
    wr_errbuf eb;

    build(&b);
    restore(&b, &b.h2, b.f->local, "r2", true, dir, sizeof dir);
    st2 = open_store(dir, "state", KG_LAST, 256 << 10);
    sn2 = wr_snapshotter_new(b.f->store, JOB, 2, 0, at(b.f, "local2", local2, sizeof local2));
    assert_non_null(sn2);
    check(wr_snapshotter_seed(sn2, &b.h2, &eb), &eb);

    take_upload(sn2, st2, 3, &h3);
    for (int i = 0; i < h3.nfiles; i++) {
        const wr_snap_file *f = &h3.files[i];
        char want[300];
        if (f->shared) {
            const wr_snap_file *old = find_file(&b.h2, f->name);
            if (!old)
                fail_msg("checkpoint 3 has a new SST file %s although nothing changed", f->name);
            assert_string_equal(f->path, old->path);
            continue;
        }
        snprintf(want, sizeof want, JOB "/chk-3/a2-s0/%s", f->name);
        assert_string_equal(f->path, want);
        private_bytes += f->size;
    }
    assert_int_equal(h3.uploaded_bytes, private_bytes); /* no SST file was copied */

    /* a change makes a new SST file, stored under the attempt-2 name */
    r4 = malloc(sizeof *r4);
    assert_non_null(r4);
    memcpy(r4, b.r2, sizeof *r4);
    change_some(st2, r4, 4, 5);
    take_upload(sn2, st2, 4, &h4);
    for (int i = 0; i < h4.nfiles; i++) {
        const wr_snap_file *f = &h4.files[i];
        char want[300];
        if (!f->shared || find_file(&h3, f->name))
            continue;
        snprintf(want, sizeof want, JOB "/shared/s0-a2-%s", f->name);
        assert_string_equal(f->path, want);
        fresh++;
    }
    assert_true(fresh >= 1);
    assert_true(h4.uploaded_bytes * 3 < h4.state_bytes);
    restore(&b, &h4, NULL, "r4", false, dir, sizeof dir);
    verify_dir(dir, r4);

    free(r4);
    wr_snap_handle_fini(&h3);
    wr_snap_handle_fini(&h4);
    assert_int_equal(h4.nfiles, 0);
    assert_null(h4.files);
    wr_snapshotter_free(sn2);
    wr_state_close(st2);
    unbuild(&b);
}

static void restore_uses_the_local_copy_when_it_checks_out_and_storage_otherwise(void **state)
{
    built b;
    char dir[300], file[400];
    const wr_snap_file *big = NULL;

    build(&b);
    restore(&b, &b.h2, b.f->local, "a", true, dir, sizeof dir);
    verify_dir(dir, b.r2);

    /* one local SST file corrupted (rewritten, so the live store keeps its own) */
    for (int i = 0; i < b.h2.nfiles; i++) {
        if (b.h2.files[i].shared && (!big || b.h2.files[i].size > big->size))
            big = &b.h2.files[i];
    }
    assert_non_null(big);
    snprintf(file, sizeof file, "%s/2/%s", b.f->local, big->name);
    corrupt_copy(file, (size_t)(big->size / 2));
    restore(&b, &b.h2, b.f->local, "b", false, dir, sizeof dir);
    verify_dir(dir, b.r2);

    /* a local private file missing */
    snprintf(file, sizeof file, "%s/1/CURRENT", b.f->local);
    assert_int_equal(unlink(file), 0);
    restore(&b, &b.h1, b.f->local, "c", false, dir, sizeof dir);
    verify_dir(dir, b.r1);

    /* the local copy dropped */
    wr_snapshotter_drop(b.sn, 2);
    restore(&b, &b.h2, b.f->local, "d", false, dir, sizeof dir);
    verify_dir(dir, b.r2);
    assert_int_equal(count_containing(b.f->root, ".tmp-restore"), 0);
    unbuild(&b);
}

static void
a_corrupted_stored_file_fails_the_restore_naming_it_and_leaves_no_directory(void **state)
{
    built b;
    char dir[300], stored[600], want[64];
    const wr_snap_file *sst = NULL;
    bool from_local = false;
    wr_errbuf eb;

    build(&b);
    for (int i = 0; i < b.h2.nfiles && !sst; i++) {
        if (b.h2.files[i].shared && find_file(&b.h1, b.h2.files[i].name))
            sst = &b.h2.files[i]; /* shared with checkpoint 1 */
    }
    assert_non_null(sst);
    snprintf(stored, sizeof stored, "%s/storage/%s", b.f->root, sst->path);
    corrupt_copy(stored, 100);

    at(b.f, "r", dir, sizeof dir);
    wr_snapshotter_drop(b.sn, 2); /* no local copy to fall back on */
    assert_int_equal(wr_snap_restore(b.f->store, &b.h2, b.f->local, dir, &from_local, &eb),
                     WR_ECORRUPT);
    assert_non_null(strstr(eb.msg, "checkpoint 2"));
    assert_non_null(strstr(eb.msg, sst->name));
    assert_non_null(strstr(eb.msg, sst->path));
    assert_false(exists(dir));
    assert_int_equal(count_containing(b.f->root, ".tmp-restore"), 0);
    /* checkpoint 1 shares the file: its restore from storage fails the same way */
    assert_int_equal(wr_snap_restore(b.f->store, &b.h1, NULL, dir, &from_local, &eb), WR_ECORRUPT);
    snprintf(want, sizeof want, "checkpoint %d", 1);
    assert_non_null(strstr(eb.msg, want));
    assert_false(exists(dir));

    /* a stored private file missing (the SST file repaired first) */
    snprintf(stored, sizeof stored, "%s/storage/%s", b.f->root, sst->path);
    corrupt_copy(stored, 100);
    for (int i = 0; i < b.h2.nfiles; i++) {
        if (!b.h2.files[i].shared) {
            snprintf(stored, sizeof stored, "%s/storage/%s", b.f->root, b.h2.files[i].path);
            assert_int_equal(unlink(stored), 0);
            break;
        }
    }
    assert_int_equal(wr_snap_restore(b.f->store, &b.h2, NULL, dir, &from_local, &eb), WR_ENOTFOUND);
    assert_false(exists(dir));
    /* the target must not exist */
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(wr_snap_restore(b.f->store, &b.h1, b.f->local, dir, &from_local, &eb),
                     WR_EINVAL);
    assert_non_null(strstr(eb.msg, dir));
    assert_int_equal(count_containing(b.f->root, ".tmp-restore"), 0);
    unbuild(&b);
}

static void confirm_deletes_older_local_copies_and_drop_removes_one(void **state)
{
    built b;
    char c1[320], c2[320], c3[320];
    wr_snap_handle h3 = {0};

    build(&b);
    snprintf(c1, sizeof c1, "%s/1", b.f->local);
    snprintf(c2, sizeof c2, "%s/2", b.f->local);
    snprintf(c3, sizeof c3, "%s/3", b.f->local);
    assert_true(exists(c1));
    assert_true(exists(c2));
    wr_snapshotter_confirm(b.sn, 2);
    assert_false(exists(c1));
    assert_true(exists(c2));

    take_upload(b.sn, b.st, 3, &h3);
    assert_true(exists(c3));
    wr_snapshotter_drop(b.sn, 3);
    assert_false(exists(c3));
    assert_true(exists(c2));
    wr_snapshotter_drop(b.sn, 2);
    assert_false(exists(c2));
    wr_snap_handle_fini(&h3);
    unbuild(&b);
}

typedef struct upload_arg {
    wr_snapshotter *sn;
    int64_t id;
    wr_snap_handle h;
    wr_err err;
    wr_errbuf eb;
} upload_arg;

static void *upload_thread(void *p)
{
    upload_arg *a = p;
    a->err = wr_snapshotter_upload(a->sn, a->id, &a->h, &a->eb);
    return NULL;
}

static void take_and_upload_of_different_checkpoints_run_on_two_threads_at_once(void **state)
{
    built b;
    upload_arg a = {0};
    pthread_t th;
    wr_snap_handle h4 = {0};
    wr_errbuf eb;
    ref *r4 = malloc(sizeof *r4);
    char dir[300];

    build(&b);
    assert_non_null(r4);
    memcpy(r4, b.r2, sizeof *r4);
    change_some(b.st, b.r2, 3, 71); /* r2 becomes the state of checkpoint 3 */
    check(wr_snapshotter_take(b.sn, b.st, 3, &eb), &eb);
    a.sn = b.sn;
    a.id = 3;
    assert_int_equal(pthread_create(&th, NULL, upload_thread, &a), 0);
    memcpy(r4, b.r2, sizeof *r4);
    change_some(b.st, r4, 4, 29);
    check(wr_snapshotter_take(b.sn, b.st, 4, &eb), &eb);
    assert_int_equal(pthread_join(th, NULL), 0);
    check(a.err, &a.eb);
    check(wr_snapshotter_upload(b.sn, 4, &h4, &eb), &eb);

    restore(&b, &a.h, NULL, "r3", false, dir, sizeof dir);
    verify_dir(dir, b.r2);
    restore(&b, &h4, NULL, "r4", false, dir, sizeof dir);
    verify_dir(dir, r4);
    wr_snap_handle_fini(&a.h);
    wr_snap_handle_fini(&h4);
    free(r4);
    unbuild(&b);
}

/* ---- window operators across a checkpoint ---- */

enum { C_USER, C_REGION, C_V, C_NAME, C_TS, NCOLS };

#define SPEC_FMT                                                                                   \
    "name: w\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {user: string, region: long, v: long, name: string, ts: timestamp_ms}\n"          \
    "    event_time: {field: ts}\n"                                                                \
    "pipeline:\n"                                                                                  \
    "  - key_by: user\n"                                                                           \
    "  - window: %s\n"                                                                             \
    "  - aggregate: %s\n"                                                                          \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: o}\n"

#define AGGS_FIXED "{c: count(), s: sum(v), lo: min(v), hi: max(v)}"
#define AGGS_VAR "{c: count(), s: sum(v), top: max(name), d: count_distinct(v)}"
#define MAXV 4

typedef struct rec {
    char key[32];
    int64_t start, end;
    int64_t v[MAXV];
    char s[MAXV][16];
    bool null[MAXV];
} rec;

typedef struct wfx {
    wr_job_spec *spec;
    wr_state *st;
    wr_window_op *w;
    int n_aggs;
    rec *emits, *retracts;
    size_t n_emits, cap_emits, n_retracts, cap_retracts, n_lates;
} wfx;

static void to_rec(const wfx *x, const wr_value *row, rec *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%.*s", (int)row[0].len, row[0].u.s);
    r->start = row[1].u.i;
    r->end = row[2].u.i;
    for (int i = 0; i < x->n_aggs && i < MAXV; i++) {
        const wr_value *v = &row[3 + i];
        if (v->type == WR_T_NULL)
            r->null[i] = true;
        else if (v->type == WR_T_STRING)
            snprintf(r->s[i], sizeof r->s[i], "%.*s", (int)v->len, v->u.s);
        else
            r->v[i] = v->u.i;
    }
}

static void push(rec **arr, size_t *n, size_t *cap, const rec *r)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr)
            abort();
    }
    (*arr)[(*n)++] = *r;
}

static wr_err cb_emit(void *arg, const wr_value *row, wr_errbuf *eb)
{
    wfx *x = arg;
    rec r;
    to_rec(x, row, &r);
    push(&x->emits, &x->n_emits, &x->cap_emits, &r);
    return WR_OK;
}

static wr_err cb_retract(void *arg, const wr_value *row, wr_errbuf *eb)
{
    wfx *x = arg;
    rec r;
    to_rec(x, row, &r);
    push(&x->retracts, &x->n_retracts, &x->cap_retracts, &r);
    return WR_OK;
}

static wr_err cb_late(void *arg, const wr_value *row, int64_t ts, wr_errbuf *eb)
{
    ((wfx *)arg)->n_lates++;
    return WR_OK;
}

static void wfx_open(wfx *x, const char *window, const char *aggs, const char *dir, size_t cache)
{
    char text[2048];
    wr_spec_diags d = {0};
    wr_errbuf eb;
    wr_window_out out = {.arg = x, .emit = cb_emit, .retract = cb_retract, .late = cb_late};

    memset(x, 0, sizeof *x);
    snprintf(text, sizeof text, SPEC_FMT, window, aggs);
    if (wr_spec_parse("t.yaml", text, strlen(text), &x->spec, &d) != WR_OK) {
        wr_spec_diags_fini(&d);
        fail_msg("spec does not parse");
    }
    x->n_aggs = x->spec->ops[2].n_aggs;
    x->st = open_store(dir, "window", x->spec->max_parallelism - 1, cache);
    check(wr_window_new(x->spec, 1, x->spec->ops[0].key_cols, x->spec->ops[0].n_keys, x->st, &out,
                        65536, &x->w, &eb),
          &eb);
}

static void wfx_close(wfx *x)
{
    wr_window_free(x->w);
    wr_state_close(x->st);
    wr_spec_free(x->spec);
    free(x->emits);
    free(x->retracts);
}

static int rec_cmp(const void *pa, const void *pb)
{
    const rec *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    for (int i = 0; i < MAXV; i++) {
        if (a->null[i] != b->null[i])
            return a->null[i] ? -1 : 1;
        if (a->v[i] != b->v[i])
            return a->v[i] < b->v[i] ? -1 : 1;
        if ((c = strcmp(a->s[i], b->s[i])) != 0)
            return c;
    }
    return 0;
}

/* What a and b emitted since *from is the same (in any order within one call). */
static void same_since(rec *a, size_t na, rec *b, size_t nb, size_t *from, const char *what)
{
    if (na != nb)
        fail_msg("%s: the original emitted %zu, the restored operator %zu", what, na, nb);
    if (na > *from) {
        qsort(a + *from, na - *from, sizeof *a, rec_cmp);
        qsort(b + *from, nb - *from, sizeof *b, rec_cmp);
    }
    for (size_t i = *from; i < na; i++) {
        if (rec_cmp(&a[i], &b[i]) != 0)
            fail_msg("%s %zu: original %s [%lld, %lld) c=%lld s=%lld; restored %s [%lld, %lld) "
                     "c=%lld s=%lld",
                     what, i, a[i].key, (long long)a[i].start, (long long)a[i].end,
                     (long long)a[i].v[0], (long long)a[i].v[1], b[i].key, (long long)b[i].start,
                     (long long)b[i].end, (long long)b[i].v[0], (long long)b[i].v[1]);
    }
    *from = na;
}

typedef struct cursor {
    size_t emits, retracts;
} cursor;

static void same_output(wfx *a, wfx *b, cursor *c)
{
    same_since(a->emits, a->n_emits, b->emits, b->n_emits, &c->emits, "result");
    same_since(a->retracts, a->n_retracts, b->retracts, b->n_retracts, &c->retracts, "retraction");
    assert_int_equal(a->n_lates, b->n_lates);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s % n;
}

/* Step k of a deterministic out-of-order stream: a record, or (every 25th step) a
 * watermark 2.5 s behind the newest event time. */
static void step(wfx *x, int k, uint64_t *seed, int64_t *maxts)
{
    static const char *names[] = {"ann", "bo", "cy", "di", "ed"};
    wr_errbuf eb;

    if (k % 25 == 24) {
        check(wr_window_advance(x->w, *maxts - 2500, &eb), &eb);
    } else {
        wr_value row[NCOLS];
        char user[8];
        int64_t ts = (int64_t)k * 20 - (int64_t)rnd(seed, 4000);
        const char *name = names[rnd(seed, 5)];
        snprintf(user, sizeof user, "u%02d", (int)rnd(seed, 30));
        if (ts > *maxts)
            *maxts = ts;
        row[C_USER] = wr_value_str(user, (uint32_t)strlen(user));
        row[C_REGION] = wr_value_long(0);
        row[C_V] = wr_value_long((int64_t)rnd(seed, 1000) - 500);
        row[C_NAME] = wr_value_str(name, (uint32_t)strlen(name));
        row[C_TS] = wr_value_ts(ts);
        check(wr_window_process(x->w, row, ts, &eb), &eb);
    }
}

/* Runs 1500 steps on a, checkpoints its store, restores it into b, then runs the next
 * 1500 steps (and the end of input) on both: they must emit the same. A small cache
 * (cache bytes) keeps most of the operator's state in RocksDB. */
static void restored_window_matches(const char *window, const char *aggs, size_t cache)
{
    enum { HALF = 1500 };
    fx *f = fx_open();
    wfx a, b;
    wr_snapshotter *sn = wr_snapshotter_new(f->store, JOB, 1, 0, f->local);
    wr_snap_handle h = {0};
    wr_window_stats ws;
    char dir_a[300], dir_b[300];
    uint64_t seed_a = 12345, seed_b;
    int64_t max_a = INT64_MIN + 10000, max_b;
    size_t fired_before;
    cursor c = {0, 0};
    bool from_local;
    wr_errbuf eb;

    assert_non_null(sn);
    wfx_open(&a, window, aggs, at(f, "a", dir_a, sizeof dir_a), cache);
    for (int k = 0; k < HALF; k++)
        step(&a, k, &seed_a, &max_a);
    fired_before = a.n_emits;
    assert_true(fired_before > 0);

    take_upload(sn, a.st, 1, &h);
    at(f, "b", dir_b, sizeof dir_b);
    check(wr_snap_restore(f->store, &h, NULL, dir_b, &from_local, &eb), &eb);
    {
        wr_spec_diags d = {0};
        char text[2048];
        wr_window_out out = {.arg = &b, .emit = cb_emit, .retract = cb_retract, .late = cb_late};
        memset(&b, 0, sizeof b);
        snprintf(text, sizeof text, SPEC_FMT, window, aggs);
        assert_int_equal(wr_spec_parse("t.yaml", text, strlen(text), &b.spec, &d), WR_OK);
        b.n_aggs = b.spec->ops[2].n_aggs;
        b.st = open_store(dir_b, "window", b.spec->max_parallelism - 1, cache);
        check(wr_window_new(b.spec, 1, b.spec->ops[0].key_cols, b.spec->ops[0].n_keys, b.st, &out,
                            65536, &b.w, &eb),
              &eb);
    }
    wr_window_get_stats(a.w, &ws);
    check(wr_window_restore(b.w, ws.watermark, &eb), &eb);
    {
        wr_window_stats wb;
        wr_window_get_stats(b.w, &wb);
        assert_int_equal(wb.watermark, ws.watermark);
        assert_int_equal(b.n_emits, 0); /* restoring fires nothing */
    }

    /* from here on both see the same input: first a watermark that fires windows whose
     * state comes only from the checkpoint, then the rest of the stream */
    a.n_emits = a.n_retracts = a.n_lates = 0;
    check(wr_window_advance(a.w, ws.watermark + 1500, &eb), &eb);
    check(wr_window_advance(b.w, ws.watermark + 1500, &eb), &eb);
    same_output(&a, &b, &c);
    assert_true(a.n_emits > 0);
    seed_b = seed_a;
    max_b = max_a;
    for (int k = HALF; k < 2 * HALF; k++) {
        step(&a, k, &seed_a, &max_a);
        step(&b, k, &seed_b, &max_b);
        same_output(&a, &b, &c);
    }
    check(wr_window_advance(a.w, INT64_MAX, &eb), &eb);
    check(wr_window_advance(b.w, INT64_MAX, &eb), &eb);
    same_output(&a, &b, &c);
    assert_true(a.n_emits > 50);

    wfx_close(&a);
    wfx_close(&b);
    wr_snap_handle_fini(&h);
    wr_snapshotter_free(sn);
    fx_close(f);
}

static void a_restored_tumbling_window_operator_emits_exactly_what_the_original_emits(void **state)
{
    restored_window_matches("{tumbling: 1s, allowed_lateness: 2s}", AGGS_FIXED, 4096);
}

static void a_restored_sliding_window_operator_emits_exactly_what_the_original_emits(void **state)
{
    restored_window_matches("{sliding: {size: 2s, slide: 500ms}, allowed_lateness: 1s}", AGGS_VAR,
                            16 << 10);
}

static void a_restored_session_window_operator_emits_exactly_what_the_original_emits(void **state)
{
    /* a larger cache: with 4 KiB, the timers' deletes pile up as memtable tombstones that
     * make this test slow without testing more */
    restored_window_matches("{session: {gap: 300ms}, allowed_lateness: 1s}", AGGS_FIXED, 64 << 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_state_checkpoint_holds_entries_only_in_the_memtable_or_the_cache),
        cmocka_unit_test(a_restored_checkpoint_equals_the_state_it_was_taken_from),
        cmocka_unit_test(a_second_checkpoint_uploads_only_what_changed_and_references_the_rest),
        cmocka_unit_test(a_seeded_snapshotter_of_a_new_attempt_uploads_no_unchanged_sst_files),
        cmocka_unit_test(restore_uses_the_local_copy_when_it_checks_out_and_storage_otherwise),
        cmocka_unit_test(
            a_corrupted_stored_file_fails_the_restore_naming_it_and_leaves_no_directory),
        cmocka_unit_test(confirm_deletes_older_local_copies_and_drop_removes_one),
        cmocka_unit_test(take_and_upload_of_different_checkpoints_run_on_two_threads_at_once),
        cmocka_unit_test(a_restored_tumbling_window_operator_emits_exactly_what_the_original_emits),
        cmocka_unit_test(a_restored_sliding_window_operator_emits_exactly_what_the_original_emits),
        cmocka_unit_test(a_restored_session_window_operator_emits_exactly_what_the_original_emits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
