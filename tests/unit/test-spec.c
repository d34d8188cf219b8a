/*
 * test-spec.c — the job spec checker: a full valid spec, defaults, every error class
 * with its exact line, column and path, pipeline ordering rules, derived schemas.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

/* A valid source (lines 2-6) used by many cases; the pipeline starts on line 7. */
#define HEAD                                                                                       \
    "name: j\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {user: string, amount: double, ts: timestamp_ms, n: long?, ok: bool}\n"           \
    "    event_time: {field: ts}\n"
#define SINK                                                                                       \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: out}\n"

static void print_diags(const wr_spec_diags *d)
{
    for (int i = 0; i < d->n; i++) {
        char buf[1024];
        wr_spec_diag_format("test.yaml", &d->items[i], buf, sizeof buf);
        fprintf(stderr, "  %s\n", buf);
    }
}

static wr_job_spec *parse_ok(const char *yaml)
{
    wr_job_spec *spec = NULL;
    wr_spec_diags d = {0};
    wr_err err = wr_spec_parse("test.yaml", yaml, strlen(yaml), &spec, &d);

    if (err != WR_OK) {
        fprintf(stderr, "unexpected errors (%s):\n", wr_strerror(err));
        print_diags(&d);
    }
    assert_int_equal(err, WR_OK);
    assert_non_null(spec);
    assert_int_equal(d.n, 0);
    wr_spec_diags_fini(&d);
    return spec;
}

/* Parses yaml, which must be invalid; returns the diagnostics. */
static wr_spec_diags parse_bad(const char *yaml)
{
    wr_job_spec *spec = (wr_job_spec *)(uintptr_t)0x1;
    wr_spec_diags d = {0};
    wr_err err = wr_spec_parse("test.yaml", yaml, strlen(yaml), &spec, &d);

    assert_int_equal(err, WR_ESPEC);
    assert_ptr_equal(spec, (wr_job_spec *)(uintptr_t)0x1); /* untouched */
    assert_true(d.n > 0);
    return d;
}

static bool diag_matches(const wr_spec_diag *g, int line, int col, const char *path,
                         const char *phrase)
{
    return g->loc.line == line && g->loc.col == col && strcmp(g->path, path) == 0 &&
           strstr(g->msg, phrase) != NULL;
}

/* Asserts that d holds a diagnostic at line:col with this path whose message contains
 * phrase. */
static void assert_diag(const wr_spec_diags *d, int line, int col, const char *path,
                        const char *phrase)
{
    for (int i = 0; i < d->n; i++) {
        if (diag_matches(&d->items[i], line, col, path, phrase))
            return;
    }
    fprintf(stderr, "expected %d:%d: %s: ...%s... among:\n", line, col, path, phrase);
    print_diags(d);
    fail();
}

/* The spec must fail with exactly one error, this one. */
static void expect_error(const char *yaml, int line, int col, const char *path, const char *phrase)
{
    wr_spec_diags d = parse_bad(yaml);
    if (d.n != 1) {
        fprintf(stderr, "expected one error, got %d:\n", d.n);
        print_diags(&d);
    }
    assert_int_equal(d.n, 1);
    assert_diag(&d, line, col, path, phrase);
    wr_spec_diags_fini(&d);
}

static void assert_field(const wr_schema *s, int i, const char *name, wr_type t, bool optional)
{
    assert_true(i < s->nfields);
    assert_string_equal(s->fields[i].name, name);
    assert_int_equal(s->fields[i].type, t);
    assert_int_equal(s->fields[i].optional, optional);
}

/* ---- valid specs ------------------------------------------------------------------ */

static const char brief_example[] =
    "name: clicks-per-user\n"
    "parallelism: 2\n"
    "max_parallelism: 128            # number of key groups\n"
    "checkpoint: {interval: 5s, timeout: 60s, retained: 3, storage: "
    "\"file:///var/lib/weir/checkpoints\"}\n"
    "sources:\n"
    "  - name: clicks\n"
    "    kafka: {brokers: \"localhost:9092\", topic: clicks, start: earliest}\n"
    "    format: json\n"
    "    schema: {user: string, url: string, ts: timestamp_ms, amount: double}\n"
    "    event_time: {field: ts, max_out_of_orderness: 5s, idle_timeout: 30s}\n"
    "pipeline:\n"
    "  - filter: \"amount > 0 && url != '/health'\"\n"
    "  - key_by: user\n"
    "  - window: {tumbling: 1m, allowed_lateness: 10s}\n"
    "  - aggregate: {clicks: \"count()\", total: \"sum(amount)\", biggest: \"max(amount)\"}\n"
    "sinks:\n"
    "  - kafka: {brokers: \"localhost:9092\", topic: clicks-per-user, delivery: "
    "at_least_once}\n"
    "    format: json\n"
    "late_data: {kafka: {topic: clicks-late}}\n"
    "dead_letter: {kafka: {topic: clicks-dlq}}\n";

static void the_brief_example_parses_with_every_field_set(void **state)
{
    wr_job_spec *s = parse_ok(brief_example);
    const wr_source_spec *src;
    const wr_op_spec *op;
    const wr_schema *out;

    assert_string_equal(s->file, "test.yaml");
    assert_string_equal(s->name, "clicks-per-user");
    assert_int_equal(s->parallelism, 2);
    assert_int_equal(s->max_parallelism, 128);
    assert_int_equal(s->checkpoint.interval_ms, 5000);
    assert_int_equal(s->checkpoint.timeout_ms, 60000);
    assert_int_equal(s->checkpoint.retained, 3);
    assert_string_equal(s->checkpoint.storage, "file:///var/lib/weir/checkpoints");

    assert_int_equal(s->n_sources, 1);
    assert_int_equal(s->input_source, 0);
    src = &s->sources[0];
    assert_string_equal(src->name, "clicks");
    assert_int_equal(src->loc.line, 6);
    assert_int_equal(src->loc.col, 5);
    assert_string_equal(src->kafka.brokers, "localhost:9092");
    assert_string_equal(src->kafka.topic, "clicks");
    assert_int_equal(src->kafka.start, WR_OFFSETS_EARLIEST);
    assert_int_equal(src->kafka.stop, WR_OFFSETS_NONE);
    assert_int_equal(src->kafka.n_props, 0);
    assert_int_equal(src->kafka.loc.line, 7);
    assert_int_equal(src->kafka.loc.col, 12);
    assert_int_equal(src->format, WR_FORMAT_JSON);
    assert_int_equal(src->schema.nfields, 4);
    assert_field(&src->schema, 0, "user", WR_T_STRING, false);
    assert_field(&src->schema, 1, "url", WR_T_STRING, false);
    assert_field(&src->schema, 2, "ts", WR_T_TIMESTAMP, false);
    assert_field(&src->schema, 3, "amount", WR_T_DOUBLE, false);
    assert_true(src->has_event_time);
    assert_int_equal(src->event_time_col, 2);
    assert_int_equal(src->max_out_of_orderness_ms, 5000);
    assert_int_equal(src->idle_timeout_ms, 30000);

    assert_int_equal(s->n_ops, 4);
    op = &s->ops[0];
    assert_int_equal(op->kind, WR_OP_FILTER);
    assert_int_equal(op->loc.line, 12);
    assert_int_equal(op->loc.col, 5);
    assert_string_equal(op->filter_src, "amount > 0 && url != '/health'");
    assert_non_null(op->filter);
    assert_int_equal(op->in_schema.nfields, 4);
    assert_int_equal(op->out_schema.nfields, 4);

    op = &s->ops[1];
    assert_int_equal(op->kind, WR_OP_KEY_BY);
    assert_int_equal(op->n_keys, 1);
    assert_int_equal(op->key_cols[0], 0);

    op = &s->ops[2];
    assert_int_equal(op->kind, WR_OP_WINDOW);
    assert_int_equal(op->window, WR_WINDOW_TUMBLING);
    assert_int_equal(op->size_ms, 60000);
    assert_int_equal(op->allowed_lateness_ms, 10000);

    op = &s->ops[3];
    assert_int_equal(op->kind, WR_OP_AGGREGATE);
    assert_int_equal(op->n_aggs, 3);
    assert_string_equal(op->aggs[0].name, "clicks");
    assert_int_equal(op->aggs[0].func, WR_AGG_COUNT);
    assert_int_equal(op->aggs[0].arg_col, -1);
    assert_int_equal(op->aggs[0].out_type, WR_T_LONG);
    assert_string_equal(op->aggs[1].name, "total");
    assert_int_equal(op->aggs[1].func, WR_AGG_SUM);
    assert_int_equal(op->aggs[1].arg_col, 3);
    assert_int_equal(op->aggs[1].out_type, WR_T_DOUBLE);
    assert_int_equal(op->aggs[2].func, WR_AGG_MAX);
    assert_int_equal(op->aggs[2].out_type, WR_T_DOUBLE);

    out = wr_spec_output_schema(s);
    assert_ptr_equal(out, &s->ops[3].out_schema);
    assert_int_equal(out->nfields, 6);
    assert_field(out, 0, "user", WR_T_STRING, false);
    assert_field(out, 1, "window_start", WR_T_TIMESTAMP, false);
    assert_field(out, 2, "window_end", WR_T_TIMESTAMP, false);
    assert_field(out, 3, "clicks", WR_T_LONG, false);
    assert_field(out, 4, "total", WR_T_DOUBLE, false);
    assert_field(out, 5, "biggest", WR_T_DOUBLE, false);

    assert_int_equal(s->n_sinks, 1);
    assert_string_equal(s->sinks[0].name, "sink-0");
    assert_string_equal(s->sinks[0].kafka.brokers, "localhost:9092");
    assert_string_equal(s->sinks[0].kafka.topic, "clicks-per-user");
    assert_int_equal(s->sinks[0].kafka.delivery, WR_DELIVERY_AT_LEAST_ONCE);
    assert_int_equal(s->sinks[0].format, WR_FORMAT_JSON);
    assert_null(s->sinks[0].key_field);
    assert_int_equal(s->sinks[0].key_col, -1);

    assert_true(s->has_late_data);
    assert_string_equal(s->late_data.topic, "clicks-late");
    assert_string_equal(s->late_data.brokers, "localhost:9092"); /* from the source */
    assert_true(s->has_dead_letter);
    assert_string_equal(s->dead_letter.topic, "clicks-dlq");
    assert_string_equal(s->dead_letter.brokers, "localhost:9092");
    wr_spec_free(s);
}

static void a_minimal_spec_gets_every_default(void **state)
{
    wr_job_spec *s = parse_ok("name: j\n"
                              "sources:\n"
                              "  - name: s\n"
                              "    kafka: {brokers: b, topic: t}\n"
                              "    schema: {x: long}\n" SINK);

    assert_int_equal(s->parallelism, 1);
    assert_int_equal(s->max_parallelism, 128);
    assert_int_equal(s->checkpoint.interval_ms, 0);
    assert_int_equal(s->checkpoint.timeout_ms, 600000);
    assert_int_equal(s->checkpoint.retained, 3);
    assert_null(s->checkpoint.storage);
    assert_int_equal(s->limits.max_record_bytes, 1024 * 1024);
    assert_int_equal(s->limits.batch_bytes, 32 * 1024);
    assert_int_equal(s->limits.batch_records, 1024);
    assert_int_equal(s->limits.channel_batches, 16);
    assert_int_equal(s->limits.consumer_queue_kbytes, 65536);
    assert_int_equal(s->limits.producer_queue_kbytes, 65536);
    assert_int_equal(s->sources[0].kafka.start, WR_OFFSETS_EARLIEST);
    assert_int_equal(s->sources[0].kafka.stop, WR_OFFSETS_NONE);
    assert_int_equal(s->sources[0].format, WR_FORMAT_JSON);
    assert_false(s->sources[0].has_event_time);
    assert_int_equal(s->sources[0].event_time_col, -1);
    assert_int_equal(s->n_ops, 0);
    assert_int_equal(s->input_source, 0);
    assert_ptr_equal(wr_spec_output_schema(s), &s->sources[0].schema);
    assert_int_equal(s->sinks[0].kafka.delivery, WR_DELIVERY_AT_LEAST_ONCE);
    assert_string_equal(s->sinks[0].name, "sink-0");
    assert_int_equal(s->sinks[0].key_col, -1);
    assert_false(s->has_late_data);
    assert_false(s->has_dead_letter);
    assert_int_equal(s->state.memory_bytes, 256 * 1024 * 1024);
    assert_null(s->state.dir);
    assert_int_equal(s->state.write_buffer_bytes, 8 * 1024 * 1024);
    assert_int_equal(s->state.block_cache_bytes, 8 * 1024 * 1024);
    wr_spec_free(s);
}

static void the_state_block_is_read_and_checked(void **state)
{
    wr_job_spec *s =
        parse_ok(HEAD SINK "state: {memory: 16KiB, dir: /var/tmp/w, write_buffer: 1MiB, "
                           "block_cache: 0}\n");
    assert_int_equal(s->state.memory_bytes, 16 * 1024);
    assert_string_equal(s->state.dir, "/var/tmp/w");
    assert_int_equal(s->state.write_buffer_bytes, 1024 * 1024);
    assert_int_equal(s->state.block_cache_bytes, 0);
    wr_spec_free(s);
    expect_error(HEAD SINK "state: {memory: 1KiB}\n", 9, 17, "state.memory",
                 "must be between 4KiB and");
    expect_error(HEAD SINK "state: {memroy: 1MiB}\n", 9, 9, "state",
                 "unknown field 'memroy' (expected one of: memory, dir, write_buffer, "
                 "block_cache)");
}

static void limits_checkpoint_offsets_and_properties_are_read(void **state)
{
    wr_job_spec *s = parse_ok("name: j.v2_x-1\n"
                              "parallelism: 4\n"
                              "max_parallelism: 32768\n"
                              "checkpoint: {interval: 250ms, timeout: 1h, retained: 1}\n"
                              "limits:\n"
                              "  max_record_bytes: 2MiB\n"
                              "  batch_bytes: 64KB\n"
                              "  batch_records: 65536\n"
                              "  channel_batches: 1\n"
                              "  consumer_queue_kbytes: 1024\n"
                              "  producer_queue_kbytes: 2048\n"
                              "sources:\n"
                              "  - name: s\n"
                              "    kafka:\n"
                              "      brokers: b1:9092,b2:9092\n"
                              "      topic: t\n"
                              "      start: {0: 100, 3: 0}\n"
                              "      stop: latest\n"
                              "      properties: {fetch.max.bytes: 1048576, check.crcs: true, "
                              "client.id: weir}\n"
                              "    schema: {x: long, y: 'string?'}\n"
                              "sinks:\n"
                              "  - name: out\n"
                              "    kafka: {brokers: b, topic: o, delivery: exactly_once, "
                              "properties: {linger.ms: 5}}\n"
                              "    key: y\n"
                              "  - kafka: {brokers: b, topic: o2}\n");
    const wr_kafka_spec *k = &s->sources[0].kafka;

    assert_string_equal(s->name, "j.v2_x-1");
    assert_int_equal(s->parallelism, 4);
    assert_int_equal(s->max_parallelism, 32768);
    assert_int_equal(s->checkpoint.interval_ms, 250);
    assert_int_equal(s->checkpoint.timeout_ms, 3600000);
    assert_int_equal(s->checkpoint.retained, 1);
    assert_int_equal(s->limits.max_record_bytes, 2 * 1024 * 1024);
    assert_int_equal(s->limits.batch_bytes, 64000);
    assert_int_equal(s->limits.batch_records, 65536);
    assert_int_equal(s->limits.channel_batches, 1);
    assert_int_equal(s->limits.consumer_queue_kbytes, 1024);
    assert_int_equal(s->limits.producer_queue_kbytes, 2048);
    assert_string_equal(k->brokers, "b1:9092,b2:9092");
    assert_int_equal(k->start, WR_OFFSETS_EXPLICIT);
    assert_int_equal(k->n_start_offsets, 2);
    assert_int_equal(k->start_offsets[0].partition, 0);
    assert_int_equal(k->start_offsets[0].offset, 100);
    assert_int_equal(k->start_offsets[1].partition, 3);
    assert_int_equal(k->start_offsets[1].offset, 0);
    assert_int_equal(k->stop, WR_OFFSETS_LATEST);
    assert_int_equal(k->n_props, 3);
    assert_string_equal(k->prop_keys[0], "fetch.max.bytes");
    assert_string_equal(k->prop_vals[0], "1048576");
    assert_string_equal(k->prop_keys[1], "check.crcs");
    assert_string_equal(k->prop_vals[1], "true");
    assert_string_equal(k->prop_vals[2], "weir");
    assert_field(&s->sources[0].schema, 1, "y", WR_T_STRING, true);
    assert_string_equal(s->sinks[0].name, "out");
    assert_int_equal(s->sinks[0].kafka.delivery, WR_DELIVERY_EXACTLY_ONCE);
    assert_int_equal(s->sinks[0].kafka.n_props, 1);
    assert_string_equal(s->sinks[0].kafka.prop_keys[0], "linger.ms");
    assert_string_equal(s->sinks[0].kafka.prop_vals[0], "5");
    assert_string_equal(s->sinks[0].key_field, "y");
    assert_int_equal(s->sinks[0].key_col, 1);
    assert_string_equal(s->sinks[1].name, "sink-1");
    wr_spec_free(s);
}

static void explicit_stop_offsets_and_start_latest_are_read(void **state)
{
    wr_job_spec *s = parse_ok("name: j\n"
                              "sources:\n"
                              "  - name: s\n"
                              "    kafka: {brokers: b, topic: t, start: latest, stop: {1: 42}}\n"
                              "    schema: {x: long}\n" SINK);
    assert_int_equal(s->sources[0].kafka.start, WR_OFFSETS_LATEST);
    assert_int_equal(s->sources[0].kafka.stop, WR_OFFSETS_EXPLICIT);
    assert_int_equal(s->sources[0].kafka.n_stop_offsets, 1);
    assert_int_equal(s->sources[0].kafka.stop_offsets[0].partition, 1);
    assert_int_equal(s->sources[0].kafka.stop_offsets[0].offset, 42);
    wr_spec_free(s);
}

static void an_empty_value_is_the_same_as_leaving_the_field_out(void **state)
{
    wr_job_spec *s = parse_ok("name: j\n"
                              "parallelism:\n"
                              "pipeline: ~\n"
                              "sources:\n"
                              "  - name: s\n"
                              "    kafka: {brokers: b, topic: t}\n"
                              "    schema: {x: long}\n"
                              "    format:\n" SINK);
    assert_int_equal(s->parallelism, 1);
    assert_int_equal(s->n_ops, 0);
    wr_spec_free(s);
}

static void the_example_job_file_parses(void **state)
{
    static const char *const paths[] = {"examples/clicks-filter-map.yaml",
                                        "../../examples/clicks-filter-map.yaml"};
    wr_job_spec *s = NULL;
    wr_spec_diags d = {0};
    wr_err err = WR_EIO;
    const wr_schema *out;

    for (size_t i = 0; i < 2 && err == WR_EIO; i++) {
        wr_spec_diags_fini(&d);
        err = wr_spec_load(paths[i], &s, &d);
    }
    if (err != WR_OK)
        print_diags(&d);
    assert_int_equal(err, WR_OK);
    assert_int_equal(s->n_ops, 2);
    assert_int_equal(s->sources[0].kafka.stop, WR_OFFSETS_NONE);
    out = wr_spec_output_schema(s);
    assert_int_equal(out->nfields, 4);
    assert_field(out, 0, "user", WR_T_STRING, false);
    assert_field(out, 1, "url", WR_T_STRING, false);
    assert_field(out, 2, "ts", WR_T_TIMESTAMP, false);
    assert_field(out, 3, "amount_cents", WR_T_DOUBLE, false);
    assert_string_equal(s->sinks[0].kafka.topic, "clicks-clean");
    assert_string_equal(s->dead_letter.topic, "clicks-dlq");
    wr_spec_free(s);
}

/* ---- durations, sizes, names ------------------------------------------------------ */

static void durations_take_a_whole_number_and_a_unit(void **state)
{
    int64_t v = -1;

    assert_true(wr_parse_duration_ms("0s", &v));
    assert_int_equal(v, 0);
    assert_true(wr_parse_duration_ms("500ms", &v));
    assert_int_equal(v, 500);
    assert_true(wr_parse_duration_ms("5s", &v));
    assert_int_equal(v, 5000);
    assert_true(wr_parse_duration_ms("1m", &v));
    assert_int_equal(v, 60000);
    assert_true(wr_parse_duration_ms("2h", &v));
    assert_int_equal(v, 7200000);
    assert_true(wr_parse_duration_ms("1d", &v));
    assert_int_equal(v, 86400000);
    v = 7;
    assert_false(wr_parse_duration_ms("5", &v));
    assert_false(wr_parse_duration_ms("0", &v));
    assert_false(wr_parse_duration_ms("-5s", &v));
    assert_false(wr_parse_duration_ms("+5s", &v));
    assert_false(wr_parse_duration_ms("5x", &v));
    assert_false(wr_parse_duration_ms("s", &v));
    assert_false(wr_parse_duration_ms("", &v));
    assert_false(wr_parse_duration_ms("1.5s", &v));
    assert_false(wr_parse_duration_ms("5 s", &v));
    assert_false(wr_parse_duration_ms("5S", &v));
    assert_false(wr_parse_duration_ms("1m30s", &v));
    assert_false(wr_parse_duration_ms("99999999999999999999ms", &v));
    assert_false(wr_parse_duration_ms("9223372036854775807s", &v));
    assert_false(wr_parse_duration_ms(NULL, &v));
    assert_int_equal(v, 7);
    assert_true(wr_parse_duration_ms("9223372036854775807ms", &v));
    assert_int_equal(v, INT64_MAX);
}

static void sizes_take_bytes_or_binary_and_decimal_units(void **state)
{
    int64_t v = -1;

    assert_true(wr_parse_size("0", &v));
    assert_int_equal(v, 0);
    assert_true(wr_parse_size("1024", &v));
    assert_int_equal(v, 1024);
    assert_true(wr_parse_size("32KiB", &v));
    assert_int_equal(v, 32768);
    assert_true(wr_parse_size("1MiB", &v));
    assert_int_equal(v, 1048576);
    assert_true(wr_parse_size("1GiB", &v));
    assert_int_equal(v, 1073741824);
    assert_true(wr_parse_size("10KB", &v));
    assert_int_equal(v, 10000);
    assert_true(wr_parse_size("5MB", &v));
    assert_int_equal(v, 5000000);
    assert_true(wr_parse_size("2GB", &v));
    assert_int_equal(v, 2000000000);
    v = 7;
    assert_false(wr_parse_size("", &v));
    assert_false(wr_parse_size("-1", &v));
    assert_false(wr_parse_size("1kb", &v));
    assert_false(wr_parse_size("1 MiB", &v));
    assert_false(wr_parse_size("1.5MiB", &v));
    assert_false(wr_parse_size("MiB", &v));
    assert_false(wr_parse_size("1TiB", &v));
    assert_false(wr_parse_size("9999999999999GiB", &v));
    assert_int_equal(v, 7);
}

static void operator_kinds_have_their_spec_names(void **state)
{
    assert_string_equal(wr_op_kind_name(WR_OP_FILTER), "filter");
    assert_string_equal(wr_op_kind_name(WR_OP_MAP), "map");
    assert_string_equal(wr_op_kind_name(WR_OP_KEY_BY), "key_by");
    assert_string_equal(wr_op_kind_name(WR_OP_WINDOW), "window");
    assert_string_equal(wr_op_kind_name(WR_OP_AGGREGATE), "aggregate");
}

/* ---- error classes ---------------------------------------------------------------- */

static void an_unknown_field_lists_the_valid_ones(void **state)
{
    expect_error(HEAD "paralellism: 2\n" SINK, 7, 1, "",
                 "unknown field 'paralellism' (expected one of: name, parallelism, "
                 "max_parallelism, checkpoint, limits, sources, pipeline, sinks, late_data, "
                 "dead_letter, state)");
    expect_error(HEAD SINK "limits: {batch_byte: 1KiB}\n", 9, 10, "limits",
                 "unknown field 'batch_byte' (expected one of: max_record_bytes, batch_bytes");
}

static void a_missing_required_field_is_reported_at_its_mapping(void **state)
{
    expect_error("sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {x: long}\n" SINK,
                 1, 1, "", "missing required field 'name'");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b}\n"
                 "    schema: {x: long}\n" SINK,
                 4, 12, "sources[0].kafka", "missing required field 'topic'");
    expect_error(HEAD, 1, 1, "", "missing required field 'sinks'");
    expect_error(HEAD "sinks:\n"
                      "  - kafka:\n",
                 8, 5, "sinks[0].kafka", "'kafka' needs a value");
}

static void a_wrong_node_kind_says_what_was_expected(void **state)
{
    expect_error("name: j\n"
                 "sources: {name: s}\n" SINK,
                 2, 10, "sources", "expected a list of sources, got a mapping");
    expect_error(HEAD SINK "checkpoint: [1, 2]\n", 9, 13, "checkpoint",
                 "expected a mapping, got a sequence");
    expect_error(HEAD SINK "limits: big\n", 9, 9, "limits", "expected a mapping, got 'big'");
    expect_error("- a\n- b\n", 1, 1, "", "expected a job spec");
}

static void a_wrong_scalar_type_quotes_the_value(void **state)
{
    expect_error(HEAD SINK "parallelism: two\n", 9, 14, "parallelism",
                 "expected an integer, got 'two'");
    expect_error(HEAD SINK "parallelism: 1.5\n", 9, 14, "parallelism",
                 "expected an integer, got '1.5'");
    expect_error(HEAD SINK "name: [a]\n", 9, 1, "name", "duplicate field 'name'");
    expect_error("name: {a: 1}\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {x: long}\n" SINK,
                 1, 7, "name", "expected a string, got a mapping");
}

static void out_of_range_numbers_give_the_range(void **state)
{
    expect_error(HEAD SINK "parallelism: 0\n", 9, 14, "parallelism",
                 "must be between 1 and 32768, got 0");
    expect_error(HEAD SINK "max_parallelism: 40000\n", 9, 18, "max_parallelism",
                 "must be between 1 and 32768, got 40000");
    expect_error(HEAD SINK "parallelism: 8\nmax_parallelism: 4\n", 9, 14, "parallelism",
                 "parallelism 8 is greater than max_parallelism 4");
    expect_error(HEAD SINK "limits: {batch_records: 70000}\n", 9, 25, "limits.batch_records",
                 "must be between 1 and 65536, got 70000");
    expect_error(HEAD SINK "limits: {channel_batches: 0}\n", 9, 27, "limits.channel_batches",
                 "must be between 1 and 1024");
    expect_error(HEAD SINK "checkpoint: {retained: 0}\n", 9, 24, "checkpoint.retained",
                 "must be between 1");
    expect_error(HEAD SINK "parallelism: 99999999999999999999\n", 9, 14, "parallelism",
                 "expected an integer");
}

static void a_bad_duration_shows_the_accepted_forms(void **state)
{
    expect_error(HEAD SINK "checkpoint: {interval: 5x}\n", 9, 24, "checkpoint.interval",
                 "'5x' is not a duration (use e.g. 500ms, 5s, 1m, 1h, 1d)");
    expect_error(HEAD SINK "checkpoint: {interval: 5}\n", 9, 24, "checkpoint.interval",
                 "'5' is not a duration");
    expect_error(HEAD SINK "checkpoint: {interval: -1s}\n", 9, 24, "checkpoint.interval",
                 "'-1s' is not a duration");
    expect_error(HEAD SINK "checkpoint: {timeout: 0s}\n", 9, 23, "checkpoint.timeout",
                 "must be greater than 0");
}

static void a_bad_size_shows_the_accepted_forms(void **state)
{
    expect_error(HEAD SINK "limits: {max_record_bytes: 10 MB}\n", 9, 28, "limits.max_record_bytes",
                 "'10 MB' is not a size (use e.g.");
    expect_error(HEAD SINK "limits: {batch_bytes: 512}\n", 9, 23, "limits.batch_bytes",
                 "must be between 1KiB and 1GiB, got '512'");
}

static void duplicate_keys_point_at_the_second_one(void **state)
{
    expect_error(HEAD SINK "name: k\n", 9, 1, "name",
                 "duplicate field 'name' (first given at line 1)");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {x: long, y: long, x: string}\n" SINK,
                 5, 32, "sources[0].schema.x", "duplicate field 'x' (first given at line 5)");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t, start: {0: 1, 0: 2}}\n"
                 "    schema: {x: long}\n" SINK,
                 4, 49, "sources[0].kafka.start.0", "duplicate field '0'");
}

static void duplicate_source_and_sink_names_are_errors(void **state)
{
    wr_spec_diags d = parse_bad(HEAD "  - name: s\n"
                                     "    kafka: {brokers: b, topic: t}\n"
                                     "    schema: {x: long}\n"
                                     "pipeline:\n"
                                     "  - source: s\n"
                                     "sinks:\n"
                                     "  - name: o\n"
                                     "    kafka: {brokers: b, topic: t}\n"
                                     "  - name: o\n"
                                     "    kafka: {brokers: b, topic: t}\n");
    assert_diag(&d, 7, 11, "sources[1].name", "duplicate source name 's' (also used at line 3)");
    assert_diag(&d, 15, 11, "sinks[1].name", "duplicate sink name 'o' (also used at line 13)");
    wr_spec_diags_fini(&d);
}

static void names_must_be_short_and_plain(void **state)
{
    expect_error("name: \"my job\"\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {x: long}\n" SINK,
                 1, 7, "name", "'my job' is not a valid name (use 1 to 100 of the characters");
    {
        char yaml[512];
        char longname[102];
        memset(longname, 'a', 101);
        longname[101] = '\0';
        snprintf(yaml, sizeof yaml, HEAD SINK "  - name: %s\n    kafka: {brokers: b, topic: t}\n",
                 longname);
        expect_error(yaml, 9, 11, "sinks[1].name", "is not a valid name");
    }
}

static void an_unknown_type_lists_the_type_names(void **state)
{
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {x: long, y: strng}\n" SINK,
                 5, 26, "sources[0].schema.y",
                 "unknown type 'strng' (expected string, long, double, bool, timestamp_ms, "
                 "optionally followed by ?)");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {}\n" SINK,
                 5, 13, "sources[0].schema", "schema needs at least one field");
}

static void kafka_blocks_reject_fields_of_the_other_role(void **state)
{
    expect_error(HEAD "sinks:\n"
                      "  - kafka: {brokers: b, topic: t, start: latest}\n",
                 8, 35, "sinks[0].kafka", "only sources take 'start'");
    expect_error(HEAD SINK "dead_letter: {kafka: {topic: d, stop: latest}}\n", 9, 33,
                 "dead_letter.kafka", "only sources take 'stop'");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t, delivery: exactly_once}\n"
                 "    schema: {x: long}\n" SINK,
                 4, 35, "sources[0].kafka", "only sinks take 'delivery'");
    expect_error(HEAD "sinks:\n"
                      "  - kafka: {brokers: b, topic: t, delivery: twice}\n",
                 8, 45, "sinks[0].kafka.delivery",
                 "expected at_least_once or exactly_once, got 'twice'");
}

static void start_and_stop_accept_only_their_forms(void **state)
{
    const char *pre = "name: j\nsources:\n  - name: s\n    schema: {x: long}\n    kafka: ";
    char yaml[512];

    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, start: oldest}\n" SINK, pre);
    expect_error(yaml, 5, 42, "sources[0].kafka.start",
                 "expected earliest, latest or {partition: offset, ...}, got 'oldest'");
    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, stop: earliest}\n" SINK, pre);
    expect_error(yaml, 5, 41, "sources[0].kafka.stop",
                 "expected latest or {partition: offset, ...}, got 'earliest'");
    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, start: {0: -1}}\n" SINK, pre);
    expect_error(yaml, 5, 46, "sources[0].kafka.start.0", "must be at least 0, got -1");
    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, start: {p0: 1}}\n" SINK, pre);
    expect_error(yaml, 5, 43, "sources[0].kafka.start.p0", "expected a partition number, got 'p0'");
    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, stop: {}}\n" SINK, pre);
    expect_error(yaml, 5, 41, "sources[0].kafka.stop", "expected at least one partition");
    snprintf(yaml, sizeof yaml, "%s{brokers: b, topic: t, properties: {a: [1]}}\n" SINK, pre);
    expect_error(yaml, 5, 51, "sources[0].kafka.properties.a",
                 "expected a property value (text or number), got a sequence");
}

static void formats_other_than_json_are_rejected(void **state)
{
    expect_error(HEAD "sinks:\n"
                      "  - kafka: {brokers: b, topic: t}\n"
                      "    format: avro\n",
                 9, 13, "sinks[0].format", "unsupported format 'avro' (expected json)");
}

static void event_time_must_name_a_timestamp_or_long_field(void **state)
{
    const char *pre = "name: j\nsources:\n  - name: s\n    kafka: {brokers: b, topic: t}\n"
                      "    schema: {ts: timestamp_ms, u: string, o: long?}\n    event_time: ";
    char yaml[512];

    snprintf(yaml, sizeof yaml, "%s{field: tz}\n" SINK, pre);
    expect_error(yaml, 6, 25, "sources[0].event_time.field", "'tz' is not a field of the schema");
    snprintf(yaml, sizeof yaml, "%s{field: u}\n" SINK, pre);
    expect_error(yaml, 6, 25, "sources[0].event_time.field",
                 "event time field 'u' must be timestamp_ms or long, got string");
    snprintf(yaml, sizeof yaml, "%s{field: o}\n" SINK, pre);
    expect_error(yaml, 6, 25, "sources[0].event_time.field", "must not be optional");
    snprintf(yaml, sizeof yaml, "%s{max_out_of_orderness: 1s}\n" SINK, pre);
    expect_error(yaml, 6, 17, "sources[0].event_time", "missing required field 'field'");
}

static void an_expression_error_points_into_the_expression(void **state)
{
    /* plain scalar: column 12 of the expression is column 13 + 11 of the line */
    expect_error(HEAD "pipeline:\n"
                      "  - filter: amount > 0 && amout < 3\n" SINK,
                 8, 27, "pipeline[0].filter", "column 15: unknown field 'amout'");
    /* quoted: the quote moves it one further */
    expect_error(HEAD "pipeline:\n"
                      "  - filter: \"amount > 0 && amout < 3\"\n" SINK,
                 8, 28, "pipeline[0].filter", "column 15: unknown field 'amout'");
    /* escapes: the column cannot be mapped, so the scalar's start is given */
    expect_error(HEAD "pipeline:\n"
                      "  - filter: \"user != \\\"x\\\" && amout < 3\"\n" SINK,
                 8, 13, "pipeline[0].filter", "unknown field 'amout'");
    expect_error(HEAD "pipeline:\n"
                      "  - map: {a: user, b: 'lower(usr)'}\n" SINK,
                 8, 30, "pipeline[0].map.b", "column 7: unknown field 'usr'");
}

static void a_filter_must_be_bool(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - filter: amount + 1\n" SINK,
                 8, 13, "pipeline[0].filter", "filter must be a bool expression, got double");
}

static void yaml_syntax_errors_carry_libyamls_position(void **state)
{
    expect_error("name: j\nsources: [\n  a: b: c\n", 3, 7, "", "YAML syntax error");
    expect_error("name: j\n\tbad: 1\n", 2, 1, "", "YAML syntax error");
    expect_error("name: \"open\n", 2, 1, "", "YAML syntax error");
    expect_error("name: j\nx: \xff\n", 2, 4, "", "not valid YAML text");
}

static void an_empty_file_is_an_error(void **state)
{
    expect_error("", 1, 1, "", "the file is empty");
    expect_error("# nothing here\n\n", 1, 1, "", "the file is empty");
    expect_error("---\n", 1, 1, "", "the file is empty");
    expect_error("~\n", 1, 1, "", "the file is empty");
}

static void anchors_and_aliases_are_rejected(void **state)
{
    wr_spec_diags d = parse_bad("name: &n j\n"
                                "other: *n\n");
    assert_int_equal(d.n, 2);
    assert_diag(&d, 1, 7, "", "YAML anchors (&n) are not supported");
    assert_diag(&d, 2, 8, "", "YAML aliases (*n) are not supported");
    wr_spec_diags_fini(&d);
}

static void a_second_yaml_document_is_an_error(void **state)
{
    expect_error("name: j\n---\nname: k\n", 2, 1, "", "a job spec is a single YAML document");
}

static void multiple_errors_are_collected_in_file_order(void **state)
{
    wr_spec_diags d = parse_bad("name: j\n"
                                "paralellism: 2\n"
                                "sources:\n"
                                "  - name: s\n"
                                "    kafka: {brokers: b, topc: t}\n"
                                "    schema: {x: lung}\n"
                                "pipeline:\n"
                                "  - filter: y > 1\n"
                                "sinks:\n"
                                "  - kafka: {brokers: b, topic: t}\n"
                                "limits: {batch_records: 0}\n"
                                "checkpoint: {interval: soon}\n");
    static const struct {
        int line, col;
        const char *path, *phrase;
    } want[] = {
        {2, 1, "", "unknown field 'paralellism'"},
        {5, 12, "sources[0].kafka", "missing required field 'topic'"},
        {5, 25, "sources[0].kafka", "unknown field 'topc'"},
        {6, 17, "sources[0].schema.x", "unknown type 'lung'"},
        {11, 25, "limits.batch_records", "must be between 1 and 65536"},
        {12, 24, "checkpoint.interval", "'soon' is not a duration"},
    };
    /* the filter's unknown field is not reported: the schema it reads has an error */
    if (d.n != 6)
        print_diags(&d);
    assert_int_equal(d.n, 6);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_true(
            diag_matches(&d.items[i], want[i].line, want[i].col, want[i].path, want[i].phrase));
    wr_spec_diags_fini(&d);
}

static void errors_are_capped_at_one_hundred(void **state)
{
    size_t cap = 64 * 300;
    char *yaml = malloc(cap);
    size_t len = 0;
    wr_spec_diags d;

    len += (size_t)snprintf(yaml + len, cap - len, "%s", HEAD SINK);
    for (int i = 0; i < 250; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "bogus%d: 1\n", i);
    d = parse_bad(yaml);
    assert_int_equal(d.n, 100);
    assert_diag(&d, 9, 1, "", "unknown field 'bogus0'");
    assert_int_equal(d.items[99].loc.line, 0);
    assert_string_equal(d.items[99].msg, "too many errors: 151 more not shown");
    wr_spec_diags_fini(&d);
    free(yaml);
}

static void diagnostics_format_as_file_line_col_path_message(void **state)
{
    wr_spec_diag d = {{12, 14}, "pipeline[0].filter", "column 8: unknown field 'amout'"};
    wr_spec_diag top = {{2, 1}, "", "unknown field 'x'"};
    wr_spec_diag noloc = {{0, 0}, "", "cannot read the file: No such file or directory"};
    char buf[256], tiny[8];

    wr_spec_diag_format("job.yaml", &d, buf, sizeof buf);
    assert_string_equal(buf, "job.yaml:12:14: pipeline[0].filter: column 8: unknown field 'amout'");
    wr_spec_diag_format("job.yaml", &top, buf, sizeof buf);
    assert_string_equal(buf, "job.yaml:2:1: unknown field 'x'");
    wr_spec_diag_format("job.yaml", &noloc, buf, sizeof buf);
    assert_string_equal(buf, "job.yaml: cannot read the file: No such file or directory");
    wr_spec_diag_format("job.yaml", &d, tiny, sizeof tiny);
    assert_string_equal(tiny, "job.yam");
}

static void a_missing_file_is_an_io_error(void **state)
{
    wr_job_spec *s = NULL;
    wr_spec_diags d = {0};

    assert_int_equal(wr_spec_load("/nonexistent/job.yaml", &s, &d), WR_EIO);
    assert_null(s);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.items[0].msg, "cannot read"));
    wr_spec_diags_fini(&d);
    assert_int_equal(wr_spec_load("/nonexistent/job.yaml", &s, NULL), WR_EIO);
}

static void diags_may_be_null_and_free_accepts_null(void **state)
{
    wr_job_spec *s = NULL;
    wr_spec_diags empty = {0};

    assert_int_equal(wr_spec_parse("x", "name: [", 7, &s, NULL), WR_ESPEC);
    assert_int_equal(wr_spec_parse("x", "name: j\n", 8, &s, NULL), WR_ESPEC);
    assert_null(s);
    wr_spec_free(NULL);
    wr_spec_diags_fini(&empty);
    wr_spec_diags_fini(NULL);
}

/* ---- pipeline: sources ------------------------------------------------------------ */

#define TWO_SOURCES                                                                                \
    "name: j\n"                                                                                    \
    "sources:\n"                                                                                   \
    "  - name: a\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {x: long}\n"                                                                      \
    "  - name: b\n"                                                                                \
    "    kafka: {brokers: b2, topic: t}\n"                                                         \
    "    schema: {y: string}\n"

static void a_source_step_selects_the_pipeline_input(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - source: s\n"
                                   "  - filter: ok\n" SINK);
    assert_int_equal(s->input_source, 0);
    assert_int_equal(s->n_ops, 1);
    assert_int_equal(s->ops[0].kind, WR_OP_FILTER);
    wr_spec_free(s);
}

static void an_unknown_source_lists_the_sources(void **state)
{
    expect_error(TWO_SOURCES "pipeline:\n"
                             "  - source: c\n" SINK,
                 10, 13, "pipeline[0].source", "unknown source 'c' (sources: a, b)");
}

static void a_source_step_must_come_first(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - filter: ok\n"
                      "  - source: s\n" SINK,
                 9, 13, "pipeline[1].source", "'source' can only be the first pipeline step");
}

static void two_sources_need_a_source_step(void **state)
{
    expect_error(TWO_SOURCES SINK, 3, 3, "sources",
                 "the job has 2 sources (a, b): start the pipeline with 'source: NAME'");
    expect_error(TWO_SOURCES "pipeline:\n"
                             "  - filter: x > 1\n" SINK,
                 10, 3, "pipeline", "the job has 2 sources (a, b)");
}

static void a_source_the_pipeline_does_not_read_is_an_error(void **state)
{
    expect_error(TWO_SOURCES "pipeline:\n"
                             "  - source: b\n"
                             "  - filter: y != ''\n" SINK,
                 3, 5, "sources[0]", "source 'a' is not read by the pipeline");
}

static void a_second_source_is_read_when_selected(void **state)
{
    /* the unused-source rule makes two sources an error; one source, selected by name */
    wr_job_spec *s = parse_ok("name: j\n"
                              "sources:\n"
                              "  - name: b\n"
                              "    kafka: {brokers: b2, topic: t}\n"
                              "    schema: {y: string}\n"
                              "pipeline:\n"
                              "  - source: b\n"
                              "  - map: {n: length(y)}\n" SINK);
    assert_int_equal(s->input_source, 0);
    assert_field(wr_spec_output_schema(s), 0, "n", WR_T_LONG, false);
    wr_spec_free(s);
}

/* ---- pipeline: operators and ordering --------------------------------------------- */

static void map_is_a_projection_typed_by_its_expressions(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - map: {who: lower(user), cents: amount * 100, one: 1, "
                                   "n2: n + 1, ts: ts}\n"
                                   "  - filter: cents > 0 && one == 1\n" SINK);
    const wr_op_spec *op = &s->ops[0];
    const wr_schema *out = wr_spec_output_schema(s);

    assert_int_equal(op->kind, WR_OP_MAP);
    assert_int_equal(op->n_map, 5);
    assert_string_equal(op->map[0].name, "who");
    assert_string_equal(op->map[0].src, "lower(user)");
    assert_non_null(op->map[0].expr);
    assert_int_equal(op->map[0].loc.line, 8);
    assert_string_equal(op->map[2].src, "1");
    assert_int_equal(op->in_schema.nfields, 5);
    assert_int_equal(out->nfields, 5);
    assert_field(out, 0, "who", WR_T_STRING, false);
    assert_field(out, 1, "cents", WR_T_DOUBLE, false);
    assert_field(out, 2, "one", WR_T_LONG, false);
    assert_field(out, 3, "n2", WR_T_LONG, true);
    assert_field(out, 4, "ts", WR_T_TIMESTAMP, false);
    assert_int_equal(s->ops[1].in_schema.nfields, 5);
    wr_spec_free(s);
}

static void map_output_names_are_unique_identifiers(void **state)
{
    wr_spec_diags d = parse_bad(HEAD "pipeline:\n"
                                     "  - map: {a: user, a: user, 2b: user, \"c d\": user}\n"
                                     "  - map: {}\n" SINK);
    assert_diag(&d, 8, 20, "pipeline[0].map.a", "duplicate field 'a'");
    assert_diag(&d, 8, 29, "pipeline[0].map.2b", "'2b' is not a valid field name");
    assert_diag(&d, 8, 39, "pipeline[0].map.c d", "'c d' is not a valid field name");
    assert_diag(&d, 9, 10, "pipeline[1].map", "map needs at least one output field");
    wr_spec_diags_fini(&d);
}

static void a_field_dropped_by_map_is_unknown_afterwards(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - map: {u: user}\n"
                      "  - filter: amount > 1\n" SINK,
                 9, 13, "pipeline[1].filter", "unknown field 'amount'");
}

static void key_by_takes_one_field_or_a_list(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - key_by: [ok, user]\n" SINK);
    assert_int_equal(s->ops[0].n_keys, 2);
    assert_int_equal(s->ops[0].key_cols[0], 4);
    assert_int_equal(s->ops[0].key_cols[1], 0);
    wr_spec_free(s);
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: [user, usr]\n" SINK,
                 8, 20, "pipeline[0].key_by[1]", "unknown field 'usr' (fields: user, amount");
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: [user, user]\n" SINK,
                 8, 20, "pipeline[0].key_by[1]", "key field 'user' is listed twice");
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: []\n" SINK,
                 8, 13, "pipeline[0].key_by", "key_by needs at least one field");
}

static void window_kinds_are_parsed(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - key_by: user\n"
                                   "  - window: {sliding: {size: 1h, slide: 15m}}\n"
                                   "  - aggregate: {c: count()}\n" SINK);
    assert_int_equal(s->ops[1].window, WR_WINDOW_SLIDING);
    assert_int_equal(s->ops[1].size_ms, 3600000);
    assert_int_equal(s->ops[1].slide_ms, 900000);
    assert_int_equal(s->ops[1].allowed_lateness_ms, 0);
    wr_spec_free(s);
    s = parse_ok(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - window: {session: {gap: 30s}, allowed_lateness: 1m}\n"
                      "  - aggregate: {c: count()}\n" SINK);
    assert_int_equal(s->ops[1].window, WR_WINDOW_SESSION);
    assert_int_equal(s->ops[1].gap_ms, 30000);
    assert_int_equal(s->ops[1].allowed_lateness_ms, 60000);
    wr_spec_free(s);
    s = parse_ok(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - window: {sliding: {size: 1m, slide: 1m}}\n"
                      "  - aggregate: {c: count()}\n" SINK);
    assert_int_equal(s->ops[1].slide_ms, 60000);
    wr_spec_free(s);
}

static void window_shapes_are_checked(void **state)
{
#define WIN(w)                                                                                     \
    HEAD "pipeline:\n  - key_by: user\n  - window: " w "\n  - aggregate: {c: count()}\n" SINK
    expect_error(WIN("{sliding: {size: 1m, slide: 7s}}"), 9, 41, "pipeline[1].window.sliding.slide",
                 "size must be a whole multiple of slide");
    expect_error(WIN("{sliding: {size: 1m, slide: 2m}}"), 9, 41, "pipeline[1].window.sliding.slide",
                 "slide must not be longer than size");
    expect_error(WIN("{sliding: {size: 1m}}"), 9, 23, "pipeline[1].window.sliding",
                 "missing required field 'slide'");
    expect_error(WIN("{tumbling: 0s}"), 9, 24, "pipeline[1].window.tumbling",
                 "must be greater than 0");
    expect_error(WIN("{session: {gap: 0ms}}"), 9, 29, "pipeline[1].window.session.gap",
                 "must be greater than 0");
    expect_error(WIN("{allowed_lateness: 1s}"), 9, 13, "pipeline[1].window",
                 "window needs one of tumbling, sliding or session");
    expect_error(WIN("{tumbling: 1m, session: {gap: 1s}}"), 9, 13, "pipeline[1].window",
                 "window takes exactly one of tumbling, sliding or session");
    expect_error(WIN("{tumbling: 1m, hopping: 1s}"), 9, 28, "pipeline[1].window",
                 "unknown field 'hopping' (expected one of: tumbling, sliding, session, "
                 "allowed_lateness)");
#undef WIN
}

static void a_window_needs_key_by_and_event_time(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - window: {tumbling: 1m}\n"
                      "  - aggregate: {c: count()}\n" SINK,
                 8, 5, "pipeline[0].window", "window needs a key_by before it");
    expect_error("name: j\n"
                 "sources:\n"
                 "  - name: s\n"
                 "    kafka: {brokers: b, topic: t}\n"
                 "    schema: {u: string}\n"
                 "pipeline:\n"
                 "  - key_by: u\n"
                 "  - window: {tumbling: 1m}\n"
                 "  - aggregate: {c: count()}\n" SINK,
                 8, 5, "pipeline[1].window",
                 "window needs event time: add event_time {field: ...} to source 's'");
}

static void a_window_must_be_directly_followed_by_aggregate(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - window: {tumbling: 1m}\n"
                      "  - filter: ok\n"
                      "  - aggregate: {c: count()}\n" SINK,
                 9, 5, "pipeline[1].window", "window must be directly followed by aggregate");
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - window: {tumbling: 1m}\n" SINK,
                 9, 5, "pipeline[1].window", "window must be directly followed by aggregate");
}

static void an_aggregate_needs_a_window(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - aggregate: {c: count()}\n" SINK,
                 9, 5, "pipeline[1].aggregate", "aggregate needs a window before it");
}

static void key_by_window_and_aggregate_appear_once(void **state)
{
    wr_spec_diags d = parse_bad(HEAD "pipeline:\n"
                                     "  - key_by: user\n"
                                     "  - window: {tumbling: 1m}\n"
                                     "  - aggregate: {c: count()}\n"
                                     "  - key_by: user\n"
                                     "  - window: {tumbling: 1m}\n"
                                     "  - aggregate: {d: count()}\n" SINK);
    assert_diag(&d, 11, 5, "pipeline[3].key_by",
                "only one key_by per pipeline (the first is "
                "at line 8)");
    assert_diag(&d, 12, 5, "pipeline[4].window", "only one window per pipeline");
    assert_diag(&d, 13, 5, "pipeline[5].aggregate", "only one aggregate per pipeline");
    assert_int_equal(d.n, 3);
    wr_spec_diags_fini(&d);
}

static void a_map_between_key_by_and_window_is_an_error(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - key_by: user\n"
                      "  - map: {user: user, ts: ts}\n"
                      "  - window: {tumbling: 1m}\n"
                      "  - aggregate: {c: count()}\n" SINK,
                 9, 5, "pipeline[1].map", "a map between key_by and window");
}

static void filter_and_map_may_follow_aggregate(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - filter: ok\n"
                                   "  - key_by: user\n"
                                   "  - filter: amount > 1\n"
                                   "  - window: {tumbling: 1m}\n"
                                   "  - aggregate: {c: count(), total: sum(amount)}\n"
                                   "  - filter: c > 1\n"
                                   "  - map: {user: user, end: window_end, avg: total / c}\n" SINK);
    const wr_schema *out = wr_spec_output_schema(s);

    assert_int_equal(s->n_ops, 7);
    assert_int_equal(out->nfields, 3);
    assert_field(out, 0, "user", WR_T_STRING, false);
    assert_field(out, 1, "end", WR_T_TIMESTAMP, false);
    assert_field(out, 2, "avg", WR_T_DOUBLE, false);
    wr_spec_free(s);
}

static void aggregate_output_is_keys_window_bounds_then_aggregates(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - key_by: [user, ok]\n"
                                   "  - window: {tumbling: 1m}\n"
                                   "  - aggregate:\n"
                                   "      c: count()\n"
                                   "      sn: sum(n)\n"
                                   "      sa: sum(amount)\n"
                                   "      lo: min(ts)\n"
                                   "      hi: max(user)\n"
                                   "      mean: avg(n)\n"
                                   "      users: count_distinct(n)\n"
                                   "      f: first(ok)\n"
                                   "      l: last( n )\n" SINK);
    const wr_op_spec *op = &s->ops[2];
    const wr_schema *out = wr_spec_output_schema(s);

    assert_int_equal(op->n_aggs, 9);
    assert_int_equal(op->aggs[1].func, WR_AGG_SUM);
    assert_int_equal(op->aggs[1].arg_col, 3);
    assert_int_equal(op->aggs[3].func, WR_AGG_MIN);
    assert_int_equal(op->aggs[4].func, WR_AGG_MAX);
    assert_int_equal(op->aggs[5].func, WR_AGG_AVG);
    assert_int_equal(op->aggs[6].func, WR_AGG_COUNT_DISTINCT);
    assert_int_equal(op->aggs[7].func, WR_AGG_FIRST);
    assert_int_equal(op->aggs[8].func, WR_AGG_LAST);
    assert_int_equal(op->aggs[8].arg_col, 3);
    assert_int_equal(op->aggs[0].loc.line, 11);
    assert_int_equal(op->aggs[0].loc.col, 10);
    assert_int_equal(out->nfields, 13);
    assert_field(out, 0, "user", WR_T_STRING, false);
    assert_field(out, 1, "ok", WR_T_BOOL, false);
    assert_field(out, 2, "window_start", WR_T_TIMESTAMP, false);
    assert_field(out, 3, "window_end", WR_T_TIMESTAMP, false);
    assert_field(out, 4, "c", WR_T_LONG, false);
    assert_field(out, 5, "sn", WR_T_LONG, true);
    assert_field(out, 6, "sa", WR_T_DOUBLE, false);
    assert_field(out, 7, "lo", WR_T_TIMESTAMP, false);
    assert_field(out, 8, "hi", WR_T_STRING, false);
    assert_field(out, 9, "mean", WR_T_DOUBLE, true);
    assert_field(out, 10, "users", WR_T_LONG, false);
    assert_field(out, 11, "f", WR_T_BOOL, false);
    assert_field(out, 12, "l", WR_T_LONG, true);
    wr_spec_free(s);
}

static void aggregate_calls_are_checked(void **state)
{
#define AGG(a)                                                                                     \
    HEAD "pipeline:\n  - key_by: user\n  - window: {tumbling: 1m}\n  - aggregate: {" a "}\n" SINK
    expect_error(AGG("x: median(amount)"), 10, 20, "pipeline[2].aggregate.x",
                 "unknown aggregate function 'median' (expected one of: count, sum, min, max, "
                 "avg, count_distinct, first, last)");
    expect_error(AGG("x: sum(user)"), 10, 20, "pipeline[2].aggregate.x",
                 "sum needs a numeric field (long or double), 'user' is string");
    expect_error(AGG("x: max(ok)"), 10, 20, "pipeline[2].aggregate.x",
                 "max needs a long, double, timestamp_ms or string field, 'ok' is bool");
    expect_error(AGG("x: count(user)"), 10, 20, "pipeline[2].aggregate.x",
                 "count() takes no argument");
    expect_error(AGG("x: sum()"), 10, 20, "pipeline[2].aggregate.x",
                 "sum needs a field: sum(field)");
    expect_error(AGG("x: sum(amout)"), 10, 20, "pipeline[2].aggregate.x",
                 "unknown field 'amout' (fields: user, amount, ts, n, ok)");
    expect_error(AGG("x: \"sum(amount * 2)\""), 10, 20, "pipeline[2].aggregate.x",
                 "the argument must be a single field name");
    expect_error(AGG("x: amount"), 10, 20, "pipeline[2].aggregate.x",
                 "'amount' is not an aggregate call");
    expect_error(AGG("user: count()"), 10, 17, "pipeline[2].aggregate.user",
                 "'user' clashes with a key_by field");
    expect_error(AGG("window_end: count()"), 10, 17, "pipeline[2].aggregate.window_end",
                 "'window_end' is reserved for the window bounds");
    expect_error(AGG(""), 10, 16, "pipeline[2].aggregate", "aggregate needs at least one");
#undef AGG
}

static void a_pipeline_step_is_one_known_operator(void **state)
{
    expect_error(HEAD "pipeline:\n"
                      "  - filtr: ok\n" SINK,
                 8, 5, "pipeline[0]",
                 "unknown operator 'filtr' (expected one of: source, filter, map, key_by, "
                 "window, aggregate)");
    expect_error(HEAD "pipeline:\n"
                      "  - filter: ok\n"
                      "    map: {a: user}\n" SINK,
                 8, 5, "pipeline[0]",
                 "each pipeline step is a mapping with exactly one operator, got 2 (filter, "
                 "map)");
    expect_error(HEAD "pipeline:\n"
                      "  - filter\n" SINK,
                 8, 5, "pipeline[0]", "expected an operator such as {filter: \"expr\"}");
    expect_error(HEAD "pipeline:\n"
                      "  - filter:\n" SINK,
                 8, 12, "pipeline[0].filter", "'filter' needs a value");
    expect_error(HEAD "pipeline: {filter: ok}\n" SINK, 7, 11, "pipeline",
                 "expected a list of operators, got a mapping");
}

static void a_sink_key_names_an_output_field(void **state)
{
    wr_job_spec *s = parse_ok(HEAD "pipeline:\n"
                                   "  - map: {a: amount, u: user}\n"
                                   "sinks:\n"
                                   "  - kafka: {brokers: b, topic: o}\n"
                                   "    key: u\n");
    assert_int_equal(s->sinks[0].key_col, 1);
    wr_spec_free(s);
    expect_error(HEAD "pipeline:\n"
                      "  - map: {a: amount}\n"
                      "sinks:\n"
                      "  - kafka: {brokers: b, topic: o}\n"
                      "    key: user\n",
                 11, 10, "sinks[0].key",
                 "'user' is not a field of the pipeline output (fields: a)");
}

static void side_outputs_take_their_own_brokers(void **state)
{
    wr_job_spec *s = parse_ok(HEAD SINK "late_data:\n"
                                        "  kafka: {brokers: other:9092, topic: late, "
                                        "properties: {acks: all}}\n");
    assert_true(s->has_late_data);
    assert_string_equal(s->late_data.brokers, "other:9092");
    assert_int_equal(s->late_data.n_props, 1);
    wr_spec_free(s);
    expect_error(HEAD SINK "late_data: {}\n", 9, 12, "late_data", "missing required field 'kafka'");
    expect_error(HEAD SINK "late_data: {kafka: {brokers: b}}\n", 9, 20, "late_data.kafka",
                 "missing required field 'topic'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_brief_example_parses_with_every_field_set),
        cmocka_unit_test(a_minimal_spec_gets_every_default),
        cmocka_unit_test(limits_checkpoint_offsets_and_properties_are_read),
        cmocka_unit_test(the_state_block_is_read_and_checked),
        cmocka_unit_test(explicit_stop_offsets_and_start_latest_are_read),
        cmocka_unit_test(an_empty_value_is_the_same_as_leaving_the_field_out),
        cmocka_unit_test(the_example_job_file_parses),
        cmocka_unit_test(durations_take_a_whole_number_and_a_unit),
        cmocka_unit_test(sizes_take_bytes_or_binary_and_decimal_units),
        cmocka_unit_test(operator_kinds_have_their_spec_names),
        cmocka_unit_test(an_unknown_field_lists_the_valid_ones),
        cmocka_unit_test(a_missing_required_field_is_reported_at_its_mapping),
        cmocka_unit_test(a_wrong_node_kind_says_what_was_expected),
        cmocka_unit_test(a_wrong_scalar_type_quotes_the_value),
        cmocka_unit_test(out_of_range_numbers_give_the_range),
        cmocka_unit_test(a_bad_duration_shows_the_accepted_forms),
        cmocka_unit_test(a_bad_size_shows_the_accepted_forms),
        cmocka_unit_test(duplicate_keys_point_at_the_second_one),
        cmocka_unit_test(duplicate_source_and_sink_names_are_errors),
        cmocka_unit_test(names_must_be_short_and_plain),
        cmocka_unit_test(an_unknown_type_lists_the_type_names),
        cmocka_unit_test(kafka_blocks_reject_fields_of_the_other_role),
        cmocka_unit_test(start_and_stop_accept_only_their_forms),
        cmocka_unit_test(formats_other_than_json_are_rejected),
        cmocka_unit_test(event_time_must_name_a_timestamp_or_long_field),
        cmocka_unit_test(an_expression_error_points_into_the_expression),
        cmocka_unit_test(a_filter_must_be_bool),
        cmocka_unit_test(yaml_syntax_errors_carry_libyamls_position),
        cmocka_unit_test(an_empty_file_is_an_error),
        cmocka_unit_test(anchors_and_aliases_are_rejected),
        cmocka_unit_test(a_second_yaml_document_is_an_error),
        cmocka_unit_test(multiple_errors_are_collected_in_file_order),
        cmocka_unit_test(errors_are_capped_at_one_hundred),
        cmocka_unit_test(diagnostics_format_as_file_line_col_path_message),
        cmocka_unit_test(a_missing_file_is_an_io_error),
        cmocka_unit_test(diags_may_be_null_and_free_accepts_null),
        cmocka_unit_test(a_source_step_selects_the_pipeline_input),
        cmocka_unit_test(an_unknown_source_lists_the_sources),
        cmocka_unit_test(a_source_step_must_come_first),
        cmocka_unit_test(two_sources_need_a_source_step),
        cmocka_unit_test(a_source_the_pipeline_does_not_read_is_an_error),
        cmocka_unit_test(a_second_source_is_read_when_selected),
        cmocka_unit_test(map_is_a_projection_typed_by_its_expressions),
        cmocka_unit_test(map_output_names_are_unique_identifiers),
        cmocka_unit_test(a_field_dropped_by_map_is_unknown_afterwards),
        cmocka_unit_test(key_by_takes_one_field_or_a_list),
        cmocka_unit_test(window_kinds_are_parsed),
        cmocka_unit_test(window_shapes_are_checked),
        cmocka_unit_test(a_window_needs_key_by_and_event_time),
        cmocka_unit_test(a_window_must_be_directly_followed_by_aggregate),
        cmocka_unit_test(an_aggregate_needs_a_window),
        cmocka_unit_test(key_by_window_and_aggregate_appear_once),
        cmocka_unit_test(a_map_between_key_by_and_window_is_an_error),
        cmocka_unit_test(filter_and_map_may_follow_aggregate),
        cmocka_unit_test(aggregate_output_is_keys_window_bounds_then_aggregates),
        cmocka_unit_test(aggregate_calls_are_checked),
        cmocka_unit_test(a_pipeline_step_is_one_known_operator),
        cmocka_unit_test(a_sink_key_names_an_output_field),
        cmocka_unit_test(side_outputs_take_their_own_brokers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
