/*
 * fuzz-agg.c — fuzz target for the aggregate accumulator decoder (worker/agg.c): the
 * input is an accumulator as read back from RocksDB, given to every function that
 * decodes one, for a job with every aggregate function over every type (long, double,
 * string, timestamp, bool) and for one with only fixed-size aggregates.
 *
 * Properties checked on every input X (abort() on violation; sanitizers catch the rest):
 *  - wr_aggs_result(X) either succeeds or fails with WR_EMALFORMED, and then so do
 *    wr_aggs_add and wr_aggs_merge given X on either side;
 *  - when it succeeds: merging X with an empty accumulator (either side) succeeds and
 *    gives the same results (doubles bit for bit), and merge(X, empty) is X byte for
 *    byte; adding a record to X, merging X with itself or with valid accumulators
 *    succeeds or fails with WR_EEVAL (overflow), never anything else, and a success is a
 *    valid accumulator again; count() goes up by one per added record;
 *  - fixed-size job: wr_aggs_add_fixed on any X of the fixed size (it trusts its input,
 *    and the window operator hands it state bytes of the right length) is free of UB,
 *    and on a valid X agrees with wr_aggs_add byte for byte.
 * Replayed by fuzz-main.c as an ordinary test, or built with -fsanitize=fuzzer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input columns. */
enum { C_K, C_L, C_D, C_S, C_T, C_B, C_TS, NCOLS };

#define HEAD                                                                                       \
    "name: j\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {k: string, l: long?, d: double?, s: string?, t: timestamp_ms?, b: bool?, "       \
    "ts: timestamp_ms}\n"                                                                          \
    "    event_time: {field: ts}\n"                                                                \
    "pipeline:\n"                                                                                  \
    "  - key_by: k\n"                                                                              \
    "  - window: {tumbling: 1m}\n"
#define SINK                                                                                       \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: out}\n"

/* Every function over every type it accepts (as tests/unit/test-agg.c). */
static const char all_aggs[] = "  - aggregate:\n"
                               "      c: count()\n"
                               "      sum_l: sum(l)\n"
                               "      sum_d: sum(d)\n"
                               "      avg_l: avg(l)\n"
                               "      avg_d: avg(d)\n"
                               "      min_l: min(l)\n"
                               "      max_l: max(l)\n"
                               "      min_d: min(d)\n"
                               "      max_d: max(d)\n"
                               "      min_s: min(s)\n"
                               "      max_s: max(s)\n"
                               "      min_t: min(t)\n"
                               "      max_t: max(t)\n"
                               "      cd_l: count_distinct(l)\n"
                               "      cd_d: count_distinct(d)\n"
                               "      cd_s: count_distinct(s)\n"
                               "      cd_t: count_distinct(t)\n"
                               "      cd_b: count_distinct(b)\n"
                               "      first_l: first(l)\n"
                               "      last_l: last(l)\n"
                               "      first_d: first(d)\n"
                               "      last_d: last(d)\n"
                               "      first_s: first(s)\n"
                               "      last_s: last(s)\n"
                               "      first_t: first(t)\n"
                               "      last_t: last(t)\n"
                               "      first_b: first(b)\n"
                               "      last_b: last(b)\n";

/* Only aggregates with a fixed-size accumulator. */
static const char fixed_aggs[] = "  - aggregate:\n"
                                 "      c: count()\n"
                                 "      sum_l: sum(l)\n"
                                 "      sum_d: sum(d)\n"
                                 "      avg_l: avg(l)\n"
                                 "      avg_d: avg(d)\n"
                                 "      min_l: min(l)\n"
                                 "      max_l: max(l)\n"
                                 "      min_d: min(d)\n"
                                 "      max_d: max(d)\n"
                                 "      min_t: min(t)\n"
                                 "      max_t: max(t)\n"
                                 "      first_l: first(l)\n"
                                 "      last_l: last(l)\n"
                                 "      first_d: first(d)\n"
                                 "      last_d: last(d)\n"
                                 "      first_t: first(t)\n"
                                 "      last_t: last(t)\n"
                                 "      first_b: first(b)\n"
                                 "      last_b: last(b)\n";

#define NROWS 5
#define NVALID 2
#define MAX_AGGS 32

typedef struct job {
    wr_job_spec *spec;
    wr_aggs *a;
    int n;
    wr_buf valid[NVALID]; /* accumulators built by adding records */
} job;

static job all_job, fixed_job;
static bool ready;
static wr_value rows[NROWS][NCOLS];
static int64_t row_ts[NROWS];

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-agg: property violated: %s\n", what);
        abort();
    }
}

static void set_row(int r, wr_value l, wr_value d, wr_value s, wr_value t, wr_value b, int64_t ts)
{
    rows[r][C_K] = wr_value_str("k", 1);
    rows[r][C_L] = l;
    rows[r][C_D] = d;
    rows[r][C_S] = s;
    rows[r][C_T] = t;
    rows[r][C_B] = b;
    rows[r][C_TS] = wr_value_ts(ts);
    row_ts[r] = ts;
}

static void load(job *j, const char *aggs)
{
    char text[4096];
    wr_spec_diags d = {0};
    wr_errbuf eb;

    snprintf(text, sizeof text, "%s%s%s", HEAD, aggs, SINK);
    check(wr_spec_parse("fuzz.yaml", text, strlen(text), &j->spec, &d) == WR_OK, "spec");
    wr_spec_diags_fini(&d);
    j->a = wr_aggs_new(&j->spec->ops[j->spec->n_ops - 1]);
    check(j->a != NULL, "out of memory");
    j->n = wr_aggs_count(j->a);
    check(j->n <= MAX_AGGS, "too many aggregates");
    /* valid[0]: one record; valid[1]: every row, with NULLs, NaN, -0 and extremes */
    for (int v = 0; v < NVALID; v++) {
        wr_buf tmp;
        wr_buf_init(&j->valid[v], 0);
        wr_buf_init(&tmp, 0);
        for (int r = 1; r < (v == 0 ? 2 : NROWS); r++) {
            check(wr_aggs_add(j->a, j->valid[v].p, j->valid[v].len, rows[r], row_ts[r], &tmp,
                              &eb) == WR_OK,
                  "building a valid accumulator");
            wr_buf swap = j->valid[v];
            j->valid[v] = tmp;
            tmp = swap;
        }
        wr_buf_fini(&tmp);
    }
}

static void setup(void)
{
    static const char zs[] = "\0\xff";
    set_row(0, wr_value_null(), wr_value_null(), wr_value_null(), wr_value_null(), wr_value_null(),
            0);
    set_row(1, wr_value_long(5), wr_value_double(1.5), wr_value_str("mm", 2), wr_value_ts(100),
            wr_value_bool(true), 10);
    set_row(2, wr_value_long(INT64_MAX - 5), /* the sum reaches INT64_MAX */ wr_value_double(-0.0),
            wr_value_str("", 0), wr_value_ts(INT64_MIN), wr_value_bool(false), INT64_MIN);
    set_row(3, wr_value_long(INT64_MIN), wr_value_double(NAN), wr_value_str("zzzz", 4),
            wr_value_ts(-1), wr_value_bool(true), INT64_MAX);
    set_row(4, wr_value_long(-1), wr_value_double(-INFINITY), wr_value_str(zs, 2),
            wr_value_ts(INT64_MAX), wr_value_null(), 10);
    load(&all_job, all_aggs);
    load(&fixed_job, fixed_aggs);
    ready = true;
}

static bool same_value(const wr_value *a, const wr_value *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == WR_T_DOUBLE)
        return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
    return wr_value_equal(a, b);
}

/* out holds a successful add/merge: it must be a valid accumulator. */
static void check_valid(const job *j, const wr_buf *out, const char *what)
{
    wr_value res[MAX_AGGS];
    wr_errbuf eb;

    if (wr_aggs_result(j->a, out->p, out->len, res, &eb) != WR_OK) {
        fprintf(stderr, "fuzz-agg: %s: %s\n", what, eb.msg);
        check(false, "an add or merge of valid accumulators is not valid");
    }
}

static void run(const job *j, const uint8_t *x, size_t len)
{
    wr_value res[MAX_AGGS], res2[MAX_AGGS];
    wr_errbuf eb;
    wr_buf out;
    wr_err e, e2;

    wr_buf_init(&out, 0);
    e = wr_aggs_result(j->a, x, len, res, &eb);
    if (e != WR_OK) {
        check(e == WR_EMALFORMED, "result: an error other than WR_EMALFORMED");
        check(eb.msg[0] != '\0', "result: a failure without a message");
        for (int r = 0; r < NROWS; r++)
            check(wr_aggs_add(j->a, x, len, rows[r], row_ts[r], &out, &eb) == WR_EMALFORMED,
                  "add accepted what result rejected");
        check(wr_aggs_merge(j->a, x, len, NULL, 0, &out, &eb) == WR_EMALFORMED,
              "merge(x, empty) accepted what result rejected");
        check(wr_aggs_merge(j->a, NULL, 0, x, len, &out, &eb) == WR_EMALFORMED,
              "merge(empty, x) accepted what result rejected");
        for (int v = 0; v < NVALID; v++) {
            check(wr_aggs_merge(j->a, x, len, j->valid[v].p, j->valid[v].len, &out, &eb) ==
                      WR_EMALFORMED,
                  "merge(x, valid) accepted what result rejected");
            check(wr_aggs_merge(j->a, j->valid[v].p, j->valid[v].len, x, len, &out, &eb) ==
                      WR_EMALFORMED,
                  "merge(valid, x) accepted what result rejected");
        }
        wr_buf_fini(&out);
        return;
    }

    /* merge(x, empty): x itself */
    check(wr_aggs_merge(j->a, x, len, NULL, 0, &out, &eb) == WR_OK, "merge(x, empty) failed");
    if (len)
        check(out.len == len && memcmp(out.p, x, len) == 0, "merge(x, empty) is not x");
    check(wr_aggs_result(j->a, out.p, out.len, res2, &eb) == WR_OK, "result of merge(x, empty)");
    for (int i = 0; i < j->n; i++)
        check(same_value(&res[i], &res2[i]), "merge(x, empty) changed a result");

    /* merge(empty, x): the same results */
    check(wr_aggs_merge(j->a, NULL, 0, x, len, &out, &eb) == WR_OK, "merge(empty, x) failed");
    check(wr_aggs_result(j->a, out.p, out.len, res2, &eb) == WR_OK, "result of merge(empty, x)");
    for (int i = 0; i < j->n; i++)
        check(same_value(&res[i], &res2[i]), "merge(empty, x) changed a result");

    /* merge with itself and with valid accumulators, both ways */
    e2 = wr_aggs_merge(j->a, x, len, x, len, &out, &eb);
    check(e2 == WR_OK || e2 == WR_EEVAL, "merge(x, x): unexpected error");
    if (e2 == WR_OK)
        check_valid(j, &out, "merge(x, x)");
    for (int v = 0; v < NVALID; v++) {
        e2 = wr_aggs_merge(j->a, x, len, j->valid[v].p, j->valid[v].len, &out, &eb);
        check(e2 == WR_OK || e2 == WR_EEVAL, "merge(x, valid): unexpected error");
        if (e2 == WR_OK)
            check_valid(j, &out, "merge(x, valid)");
        e2 = wr_aggs_merge(j->a, j->valid[v].p, j->valid[v].len, x, len, &out, &eb);
        check(e2 == WR_OK || e2 == WR_EEVAL, "merge(valid, x): unexpected error");
        if (e2 == WR_OK)
            check_valid(j, &out, "merge(valid, x)");
    }

    /* add every row */
    for (int r = 0; r < NROWS; r++) {
        e2 = wr_aggs_add(j->a, x, len, rows[r], row_ts[r], &out, &eb);
        check(e2 == WR_OK || e2 == WR_EEVAL, "add: unexpected error");
        if (e2 != WR_OK)
            continue;
        check_valid(j, &out, "add");
        check(wr_aggs_result(j->a, out.p, out.len, res2, &eb) == WR_OK, "result of add");
        /* aggregate 0 is count() in both jobs */
        check(res2[0].type == WR_T_LONG && (uint64_t)res2[0].u.i == (uint64_t)res[0].u.i + 1,
              "add did not count the record");
    }

    wr_buf_fini(&out);
}

/* The fast path on x of the fixed size: no UB on anything, and agreement with the
 * general path on valid accumulators. */
static void run_fixed(const job *j, const uint8_t *x, size_t len)
{
    size_t size = wr_aggs_size(j->a);
    uint8_t *acc;
    wr_value res[MAX_AGGS];
    wr_errbuf eb;
    wr_buf out;
    bool valid;

    if (len != size)
        return;
    valid = wr_aggs_result(j->a, x, len, res, &eb) == WR_OK;
    acc = malloc(size);
    check(acc != NULL, "out of memory");
    wr_buf_init(&out, 0);
    for (int r = 0; r < NROWS; r++) {
        wr_err ef, eg;
        memcpy(acc, x, size);
        ef = wr_aggs_add_fixed(j->a, acc, rows[r], row_ts[r], &eb);
        if (!valid)
            continue;
        eg = wr_aggs_add(j->a, x, len, rows[r], row_ts[r], &out, &eb);
        check(ef == eg, "the fixed and general paths disagree on an error");
        if (ef == WR_OK)
            check(out.len == size && memcmp(out.p, acc, size) == 0,
                  "the fixed and general paths disagree");
        else
            check(memcmp(acc, x, size) == 0, "a failed add_fixed changed the accumulator");
    }
    wr_buf_fini(&out);
    free(acc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    run(&all_job, data, size);
    run(&fixed_job, data, size);
    run_fixed(&fixed_job, data, size);
    return 0;
}
