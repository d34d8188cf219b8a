/*
 * test-cstore.c — the coordinator's data directory (coordinator/store.c) in a private
 * mkdtemp directory: jobs and checkpoints saved and loaded back byte for byte, overwrite
 * and delete, bad files skipped (and logged, naming the path) while the rest loads,
 * temporary files of an interrupted write ignored, bad job ids refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "files.h"
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixture: a temporary directory with the store in <tmp>/data ------------------ */

typedef struct fx {
    char tmp[64];
    char data[128];
    wr_cstore *s;
    int saved_stderr; /* while capturing the log: the real stderr */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    wr_errbuf eb;

    assert_non_null(f);
    snprintf(f->tmp, sizeof f->tmp, "/tmp/test-cstore-XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    assert_int_equal(wr_cstore_open(f->data, &f->s, &eb), WR_OK);
    assert_string_equal(wr_cstore_dir(f->s), f->data);
    f->saved_stderr = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    struct stat st;
    wr_errbuf eb;

    wr_cstore_free(f->s);
    assert_int_equal(wr_remove_tree(f->tmp, &eb), WR_OK);
    assert_int_not_equal(stat(f->tmp, &st), 0);
    free(f);
    return 0;
}

static void pathf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_raw(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries (without . and ..) in a directory. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* The log goes to stderr (common/log.c writes fd 2): capture it into <tmp>/log. */
static void capture_log(fx *f)
{
    char path[256];
    int fd;

    pathf(path, sizeof path, "%s/log", f->tmp);
    fflush(stderr);
    f->saved_stderr = dup(STDERR_FILENO);
    assert_true(f->saved_stderr >= 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Ends the capture; returns what was logged (the caller frees) and echoes it. */
static char *captured_log(fx *f)
{
    char path[256];
    void *text;
    size_t len;
    wr_errbuf eb;

    assert_true(dup2(f->saved_stderr, STDERR_FILENO) >= 0);
    close(f->saved_stderr);
    f->saved_stderr = -1;
    pathf(path, sizeof path, "%s/log", f->tmp);
    assert_int_equal(wr_file_read(path, 1 << 20, &text, &len, &eb), WR_OK);
    fprintf(stderr, "%s", (char *)text);
    return text;
}

/* ---- messages ------------------------------------------------------------------------ */

/* A job record with two partitions; every field set from (id, seed). */
typedef struct fx_job {
    Weir__JobRecord r;
    Weir__PartitionAssignment parts[2], *partp[2];
    char id[160], name[64], yaml[128];
} fx_job;

static void job_init(fx_job *j, const char *id, int seed)
{
    Weir__JobRecord r = WEIR__JOB_RECORD__INIT;

    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->name, sizeof j->name, "job-%d", seed);
    snprintf(j->yaml, sizeof j->yaml, "name: job-%d\nparallelism: 2\n", seed);
    for (int i = 0; i < 2; i++) {
        Weir__PartitionAssignment p = WEIR__PARTITION_ASSIGNMENT__INIT;
        p.partition = i;
        p.subtask = (uint32_t)i;
        p.start_offset = 100 * seed + i;
        p.stop_offset = -1;
        j->parts[i] = p;
        j->partp[i] = &j->parts[i];
    }
    r.id = j->id;
    r.name = j->name;
    r.spec_yaml = j->yaml;
    r.spec_name = "job.yaml";
    r.parallelism = 2;
    r.n_partitions = 2;
    r.partitions = j->partp;
    r.state = "RUNNING";
    r.attempt = (uint32_t)seed;
    r.restarts = (uint32_t)seed - 1;
    r.failure = "";
    r.submitted_unix_ms = 1700000000000 + seed;
    r.next_checkpoint_id = 40;
    j->r = r;
}

/* A checkpoint with a source ack (offsets) and a stage-1 ack (state files). */
typedef struct fx_chk {
    Weir__CheckpointMeta m;
    Weir__CheckpointAck acks[2], *ackp[2];
    Weir__SourceOffset offs[2], *offp[2];
    Weir__StateFile files[2], *filep[2];
    char job[160], paths[2][200];
} fx_chk;

static void chk_init(fx_chk *c, const char *job, uint64_t id)
{
    Weir__CheckpointMeta m = WEIR__CHECKPOINT_META__INIT;
    Weir__CheckpointAck src = WEIR__CHECKPOINT_ACK__INIT, win = WEIR__CHECKPOINT_ACK__INIT;

    memset(c, 0, sizeof *c);
    snprintf(c->job, sizeof c->job, "%s", job);
    for (int i = 0; i < 2; i++) {
        Weir__SourceOffset o = WEIR__SOURCE_OFFSET__INIT;
        Weir__StateFile sf = WEIR__STATE_FILE__INIT;
        o.partition = i;
        o.next_offset = (int64_t)(id * 1000 + (uint64_t)i);
        c->offs[i] = o;
        c->offp[i] = &c->offs[i];
        snprintf(c->paths[i], sizeof c->paths[i], "%s/shared/%06d.sst", job, (int)id * 10 + i);
        sf.name = c->paths[i] + strlen(job) + 8;
        sf.path = c->paths[i];
        sf.size = 4096 * (id + (uint64_t)i);
        sf.crc32 = 0xdeadbeefu ^ (uint32_t)id;
        sf.shared = i == 0;
        c->files[i] = sf;
        c->filep[i] = &c->files[i];
    }
    src.job_id = c->job;
    src.attempt = 1;
    src.checkpoint_id = id;
    src.stage = 0;
    src.n_offsets = 2;
    src.offsets = c->offp;
    win.job_id = c->job;
    win.attempt = 1;
    win.checkpoint_id = id;
    win.stage = 1;
    win.has_state = 1;
    win.n_files = 2;
    win.files = c->filep;
    win.watermark = 1700000000000 + (int64_t)id;
    win.kg_first = 0;
    win.kg_last = 127;
    win.state_bytes = 4096 * (2 * id + 1);
    win.uploaded_bytes = 4096;
    c->acks[0] = src;
    c->acks[1] = win;
    c->ackp[0] = &c->acks[0];
    c->ackp[1] = &c->acks[1];
    m.job_id = c->job;
    m.checkpoint_id = id;
    m.attempt = 1;
    m.trigger_unix_ms = 1700000000000 + (int64_t)id * 1000;
    m.duration_ms = (int64_t)id * 7;
    m.state_bytes = win.state_bytes;
    m.uploaded_bytes = win.uploaded_bytes;
    m.n_acks = 2;
    m.acks = c->ackp;
    c->m = m;
}

/* Two messages are equal when they pack to the same bytes (protobuf-c packs fields in
 * number order, so equal content gives equal bytes). */
static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a);
    size_t lb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);

    assert_non_null(pa);
    assert_non_null(pb);
    assert_int_equal(protobuf_c_message_pack(a, pa), la);
    assert_int_equal(protobuf_c_message_pack(b, pb), lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

static void save_job(fx *f, const fx_job *j)
{
    wr_errbuf eb;
    assert_int_equal(wr_cstore_save_job(f->s, &j->r, &eb), WR_OK);
}

static void save_chk(fx *f, const char *job, uint64_t id)
{
    fx_chk c;
    wr_errbuf eb;
    chk_init(&c, job, id);
    assert_int_equal(wr_cstore_save_checkpoint(f->s, &c.m, &eb), WR_OK);
}

static void load(fx *f, wr_cstore_job **jobs, size_t *n)
{
    wr_errbuf eb;
    assert_int_equal(wr_cstore_load(f->s, jobs, n, &eb), WR_OK);
}

/* Asserts that loaded job j is `id` with checkpoints ids[0..n) (as chk_init made them). */
static void assert_job(const wr_cstore_job *j, const char *id, int seed, const uint64_t *ids,
                       size_t n)
{
    fx_job want;

    job_init(&want, id, seed);
    assert_non_null(j->job);
    assert_string_equal(j->job->id, id);
    assert_same_message(&want.r.base, &j->job->base);
    assert_int_equal(j->ncheckpoints, n);
    for (size_t i = 0; i < n; i++) {
        fx_chk c;
        chk_init(&c, id, ids[i]);
        assert_int_equal(j->checkpoints[i]->checkpoint_id, ids[i]);
        assert_same_message(&c.m.base, &j->checkpoints[i]->base);
    }
}

/* ---- tests ----------------------------------------------------------------------------- */

static void saved_jobs_and_checkpoints_load_back_in_id_order(void **state)
{
    fx *f = *state;
    fx_job a, b, c;
    wr_cstore_job *jobs;
    size_t n;
    /* saved out of order; 10 after 9 numerically although "chk-10" < "chk-9" as text */
    const uint64_t a_ids[] = {1, 2, 9, 10}, b_ids[] = {3, 7, 12}, c_ids[] = {5};

    job_init(&b, "b-job_2", 2);
    job_init(&a, "A1", 1);
    job_init(&c, "c", 3);
    save_job(f, &b);
    save_job(f, &a);
    save_job(f, &c);
    save_chk(f, "A1", 10);
    save_chk(f, "A1", 2);
    save_chk(f, "A1", 9);
    save_chk(f, "A1", 1);
    save_chk(f, "b-job_2", 12);
    save_chk(f, "b-job_2", 3);
    save_chk(f, "b-job_2", 7);
    save_chk(f, "c", 5);

    load(f, &jobs, &n);
    assert_int_equal(n, 3);
    assert_job(&jobs[0], "A1", 1, a_ids, 4);
    assert_job(&jobs[1], "b-job_2", 2, b_ids, 3);
    assert_job(&jobs[2], "c", 3, c_ids, 1);
    assert_int_equal(jobs[0].job->n_partitions, 2);
    assert_int_equal(jobs[0].job->partitions[1]->start_offset, 101);
    assert_int_equal(jobs[1].checkpoints[2]->n_acks, 2);
    assert_string_equal(jobs[1].checkpoints[2]->acks[1]->files[0]->path,
                        "b-job_2/shared/000120.sst");
    wr_cstore_loaded_free(jobs, n);
}

static void an_empty_store_loads_no_jobs(void **state)
{
    fx *f = *state;
    wr_cstore_job *jobs;
    size_t n = 99;

    load(f, &jobs, &n);
    assert_int_equal(n, 0);
    wr_cstore_loaded_free(jobs, n);
}

static void saving_a_job_again_replaces_its_record(void **state)
{
    fx *f = *state;
    fx_job a;
    wr_cstore_job *jobs;
    size_t n;
    const uint64_t ids[] = {4};
    char dir[256];

    job_init(&a, "j1", 1);
    save_job(f, &a);
    save_chk(f, "j1", 4);
    a.r.state = "FAILED";
    a.r.failure = "worker w2 lost";
    a.r.restarts = 3;
    a.r.n_partitions = 1;
    save_job(f, &a);

    load(f, &jobs, &n);
    assert_int_equal(n, 1);
    assert_same_message(&a.r.base, &jobs[0].job->base);
    assert_string_equal(jobs[0].job->state, "FAILED");
    assert_string_equal(jobs[0].job->failure, "worker w2 lost");
    assert_int_equal(jobs[0].job->n_partitions, 1);
    assert_int_equal(jobs[0].ncheckpoints, 1);
    assert_int_equal(jobs[0].checkpoints[0]->checkpoint_id, ids[0]);
    wr_cstore_loaded_free(jobs, n);
    /* only job.pb and the checkpoint: no temporary file left behind */
    pathf(dir, sizeof dir, "%s/jobs/j1", f->data);
    assert_int_equal(count_entries(dir), 2);
}

static void deleted_checkpoints_and_jobs_do_not_load(void **state)
{
    fx *f = *state;
    fx_job a, b;
    wr_cstore_job *jobs;
    size_t n;
    wr_errbuf eb;
    const uint64_t a_ids[] = {1, 3}, b_ids[] = {8};
    char path[256];

    job_init(&a, "a", 1);
    job_init(&b, "b", 2);
    save_job(f, &a);
    save_job(f, &b);
    save_chk(f, "a", 1);
    save_chk(f, "a", 2);
    save_chk(f, "a", 3);
    save_chk(f, "b", 8);

    assert_int_equal(wr_cstore_delete_checkpoint(f->s, "a", 2, &eb), WR_OK);
    pathf(path, sizeof path, "%s/jobs/a/chk-2.pb", f->data);
    assert_false(exists(path));
    /* deleting what is not there is fine */
    assert_int_equal(wr_cstore_delete_checkpoint(f->s, "a", 2, &eb), WR_OK);
    assert_int_equal(wr_cstore_delete_checkpoint(f->s, "nosuchjob", 1, &eb), WR_OK);
    load(f, &jobs, &n);
    assert_int_equal(n, 2);
    assert_job(&jobs[0], "a", 1, a_ids, 2);
    assert_job(&jobs[1], "b", 2, b_ids, 1);
    wr_cstore_loaded_free(jobs, n);

    assert_int_equal(wr_cstore_delete_job(f->s, "a", &eb), WR_OK);
    pathf(path, sizeof path, "%s/jobs/a", f->data);
    assert_false(exists(path));
    assert_int_equal(wr_cstore_delete_job(f->s, "a", &eb), WR_OK);
    pathf(path, sizeof path, "%s/jobs", f->data);
    assert_int_equal(count_entries(path), 1); /* b; no .del- leftover */
    load(f, &jobs, &n);
    assert_int_equal(n, 1);
    assert_job(&jobs[0], "b", 2, b_ids, 1);
    wr_cstore_loaded_free(jobs, n);

    /* a checkpoint of a deleted job is not written (nor its directory re-created) */
    {
        fx_chk c;
        chk_init(&c, "a", 4);
        assert_int_equal(wr_cstore_save_checkpoint(f->s, &c.m, &eb), WR_ENOTFOUND);
        assert_non_null(strstr(eb.msg, "jobs/a"));
        pathf(path, sizeof path, "%s/jobs/a", f->data);
        assert_false(exists(path));
    }
}

static void bad_files_are_logged_and_skipped_while_the_rest_loads(void **state)
{
    fx *f = *state;
    fx_job a, b, c;
    wr_cstore_job *jobs;
    size_t n, len;
    wr_errbuf eb;
    const uint64_t a_ids[] = {1, 3, 5}, c_ids[] = {2};
    char path[256], *log;
    void *data;

    job_init(&a, "a", 1);
    job_init(&b, "b", 2);
    job_init(&c, "c", 3);
    save_job(f, &a);
    save_job(f, &b);
    save_job(f, &c);
    for (uint64_t id = 1; id <= 5; id++)
        save_chk(f, "a", id);
    save_chk(f, "b", 1);
    save_chk(f, "c", 2);

    /* a: chk-2 truncated inside its last ack, chk-4 garbage */
    pathf(path, sizeof path, "%s/jobs/a/chk-2.pb", f->data);
    assert_int_equal(wr_file_read(path, 1 << 20, &data, &len, &eb), WR_OK);
    assert_true(len > 16);
    write_raw(path, data, len - 3);
    free(data);
    pathf(path, sizeof path, "%s/jobs/a/chk-4.pb", f->data);
    write_raw(path, "this is not a protobuf message", 30);
    /* b: job.pb garbage: the whole job (and its checkpoint) is skipped */
    pathf(path, sizeof path, "%s/jobs/b/job.pb", f->data);
    write_raw(path, "\xff\xff\xff\xff garbage", 12);
    /* c: a chk file that holds another checkpoint than its name says */
    {
        fx_chk other;
        uint8_t buf[4096];
        size_t l;
        chk_init(&other, "c", 9);
        l = weir__checkpoint_meta__get_packed_size(&other.m);
        assert_true(l <= sizeof buf);
        weir__checkpoint_meta__pack(&other.m, buf);
        pathf(path, sizeof path, "%s/jobs/c/chk-7.pb", f->data);
        write_raw(path, buf, l);
    }

    capture_log(f);
    load(f, &jobs, &n);
    log = captured_log(f);

    assert_int_equal(n, 2);
    assert_job(&jobs[0], "a", 1, a_ids, 3);
    assert_job(&jobs[1], "c", 3, c_ids, 1);
    wr_cstore_loaded_free(jobs, n);
    /* each skipped file is named in a WARN line with the reason */
    pathf(path, sizeof path, "%s/jobs/a/chk-2.pb: not a valid weir.CheckpointMeta", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/a/chk-4.pb: not a valid weir.CheckpointMeta", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/b/job.pb: not a valid weir.JobRecord", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/c/chk-7.pb: holds checkpoint 9", f->data);
    assert_non_null(strstr(log, path));
    assert_non_null(strstr(log, "WARN"));
    free(log);
}

static void a_job_without_a_readable_record_is_skipped(void **state)
{
    fx *f = *state;
    fx_job a, b;
    wr_cstore_job *jobs;
    size_t n;
    const uint64_t no_ids[1] = {0};
    char path[256], *log;

    job_init(&a, "a", 1);
    job_init(&b, "b", 2);
    save_job(f, &a);
    save_job(f, &b);
    save_chk(f, "a", 1);
    pathf(path, sizeof path, "%s/jobs/a/job.pb", f->data);
    assert_int_equal(unlink(path), 0);
    /* a job.pb that names another job */
    job_init(&a, "zzz", 1);
    {
        uint8_t buf[4096];
        size_t l = weir__job_record__get_packed_size(&a.r);
        assert_true(l <= sizeof buf);
        weir__job_record__pack(&a.r, buf);
        pathf(path, sizeof path, "%s/jobs/c", f->data);
        assert_int_equal(mkdir(path, 0755), 0);
        pathf(path, sizeof path, "%s/jobs/c/job.pb", f->data);
        write_raw(path, buf, l);
    }
    /* stray entries in jobs/: a file, a name that is no job id */
    pathf(path, sizeof path, "%s/jobs/README", f->data);
    write_raw(path, "hi", 2);
    pathf(path, sizeof path, "%s/jobs/bad.name", f->data);
    assert_int_equal(mkdir(path, 0755), 0);

    capture_log(f);
    load(f, &jobs, &n);
    log = captured_log(f);
    assert_int_equal(n, 1);
    assert_job(&jobs[0], "b", 2, no_ids, 0);
    wr_cstore_loaded_free(jobs, n);
    pathf(path, sizeof path, "%s/jobs/a/job.pb: no such file", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/c/job.pb: holds job 'zzz'", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/README: not a directory", f->data);
    assert_non_null(strstr(log, path));
    pathf(path, sizeof path, "%s/jobs/bad.name: not a job directory", f->data);
    assert_non_null(strstr(log, path));
    free(log);
}

static void leftover_temporary_files_are_ignored(void **state)
{
    fx *f = *state;
    fx_job a;
    wr_cstore_job *jobs;
    size_t n;
    const uint64_t ids[] = {1};
    char path[256], *log;

    job_init(&a, "a", 1);
    save_job(f, &a);
    save_chk(f, "a", 1);
    /* what a coordinator killed between create and rename leaves */
    pathf(path, sizeof path, "%s/jobs/a/job.pb.tmp-4242", f->data);
    write_raw(path, "half a reco", 11);
    pathf(path, sizeof path, "%s/jobs/a/chk-2.pb.tmp-4242", f->data);
    write_raw(path, "\x0a\x01", 2);
    /* a job whose first job.pb never got renamed into place */
    pathf(path, sizeof path, "%s/jobs/new", f->data);
    assert_int_equal(mkdir(path, 0755), 0);
    pathf(path, sizeof path, "%s/jobs/new/job.pb.tmp-4242", f->data);
    write_raw(path, "x", 1);
    /* a delete interrupted after its rename */
    pathf(path, sizeof path, "%s/jobs/.del-old", f->data);
    assert_int_equal(mkdir(path, 0755), 0);
    pathf(path, sizeof path, "%s/jobs/.del-old/job.pb", f->data);
    write_raw(path, "x", 1);

    capture_log(f);
    load(f, &jobs, &n);
    log = captured_log(f);
    assert_int_equal(n, 1);
    assert_job(&jobs[0], "a", 1, ids, 1);
    wr_cstore_loaded_free(jobs, n);
    /* the temporary files are not even mentioned */
    assert_null(strstr(log, ".tmp-"));
    /* the interrupted delete is finished */
    pathf(path, sizeof path, "%s/jobs/.del-old", f->data);
    assert_false(exists(path));
    free(log);
}

static void job_ids_that_are_not_directory_names_are_refused(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {"", "../etc", "a/b", "a.b", ".", "..", "a b", "ä", "a\n"};
    char longid[160], path[256];
    wr_errbuf eb;

    memset(longid, 'x', 129);
    longid[129] = '\0';
    for (size_t i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
        const char *id = i < sizeof bad / sizeof bad[0] ? bad[i] : longid;
        fx_job j;
        fx_chk c;

        job_init(&j, id, 1);
        chk_init(&c, id, 1);
        memset(&eb, 0, sizeof eb);
        assert_int_equal(wr_cstore_save_job(f->s, &j.r, &eb), WR_EINVAL);
        assert_non_null(strstr(eb.msg, "job id"));
        assert_int_equal(wr_cstore_save_checkpoint(f->s, &c.m, &eb), WR_EINVAL);
        assert_int_equal(wr_cstore_delete_job(f->s, id, &eb), WR_EINVAL);
        assert_int_equal(wr_cstore_delete_checkpoint(f->s, id, 1, &eb), WR_EINVAL);
    }
    /* the longest allowed id works */
    {
        fx_job j;
        longid[128] = '\0';
        job_init(&j, longid, 1);
        save_job(f, &j);
        save_chk(f, longid, 1);
        assert_int_equal(wr_cstore_delete_job(f->s, longid, &eb), WR_OK);
    }
    pathf(path, sizeof path, "%s/jobs", f->data);
    assert_int_equal(count_entries(path), 0);
    assert_int_equal(count_entries(f->tmp), 1); /* data: nothing escaped it */
}

static void checkpoint_id_zero_is_refused(void **state)
{
    fx *f = *state;
    fx_job j;
    fx_chk c;
    wr_errbuf eb;

    job_init(&j, "a", 1);
    save_job(f, &j);
    chk_init(&c, "a", 0);
    assert_int_equal(wr_cstore_save_checkpoint(f->s, &c.m, &eb), WR_EINVAL);
    assert_non_null(strstr(eb.msg, "checkpoint id 0"));
}

static void opening_a_directory_that_cannot_be_created_names_it(void **state)
{
    fx *f = *state;
    wr_cstore *s = NULL;
    char file[256], dir[300];
    wr_errbuf eb;

    pathf(file, sizeof file, "%s/plainfile", f->tmp);
    write_raw(file, "x", 1);
    pathf(dir, sizeof dir, "%s/sub", file);
    assert_int_not_equal(wr_cstore_open(dir, &s, &eb), WR_OK);
    assert_null(s);
    assert_non_null(strstr(eb.msg, dir));
    assert_int_equal(wr_cstore_open("", &s, &eb), WR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(saved_jobs_and_checkpoints_load_back_in_id_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_empty_store_loads_no_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(saving_a_job_again_replaces_its_record, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_checkpoints_and_jobs_do_not_load, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_files_are_logged_and_skipped_while_the_rest_loads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_job_without_a_readable_record_is_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(leftover_temporary_files_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(job_ids_that_are_not_directory_names_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(checkpoint_id_zero_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(opening_a_directory_that_cannot_be_created_names_it, setup,
                                        teardown),
    };

    /* the skipped-file warnings are asserted: make sure WARN lines are written */
    setenv("WEIR_LOG_LEVEL", "info", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
