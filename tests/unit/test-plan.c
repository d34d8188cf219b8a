/*
 * test-plan.c — stage split, exchange choice, and which source fields get decoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD                                                                                       \
    "name: p\n"                                                                                    \
    "parallelism: 3\n"                                                                             \
    "sources:\n"                                                                                   \
    "  - name: s\n"                                                                                \
    "    kafka: {brokers: b, topic: t}\n"                                                          \
    "    schema: {a: string, b: long, c: double, d: string, ts: timestamp_ms}\n"                   \
    "    event_time: {field: ts}\n"                                                                \
    "sinks:\n"                                                                                     \
    "  - kafka: {brokers: b, topic: o}\n"

static wr_job_spec *load(const char *pipeline)
{
    char text[4096];
    wr_job_spec *spec = NULL;
    wr_spec_diags d = {0};
    snprintf(text, sizeof text, "%s%s", HEAD, pipeline);
    if (wr_spec_parse("t.yaml", text, strlen(text), &spec, &d) != WR_OK) {
        for (int i = 0; i < d.n; i++)
            fprintf(stderr, "%d:%d: %s: %s\n", d.items[i].loc.line, d.items[i].loc.col,
                    d.items[i].path, d.items[i].msg);
        wr_spec_diags_fini(&d);
        return NULL;
    }
    return spec;
}

static void without_key_by_the_exchange_is_forward_and_all_ops_run_at_the_source(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - filter: \"b > 1\"\n  - map: {x: \"c * 2\"}\n");
    wr_plan p;
    assert_non_null(spec);
    assert_int_equal(wr_plan_build(spec, 0, &p, NULL), WR_OK);
    assert_int_equal(p.parallelism, 3);
    assert_int_equal(p.exchange, WR_EXCHANGE_FORWARD);
    assert_int_equal(p.stages[0].n_ops, 2);
    assert_int_equal(p.stages[1].n_ops, 0);
    assert_int_equal(p.stages[1].out_schema->nfields, 1);
    assert_string_equal(p.stages[1].out_schema->fields[0].name, "x");
    wr_spec_free(spec);
}

static void key_by_ends_the_source_stage_with_a_hash_exchange(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - filter: \"b > 1\"\n  - key_by: [d, a]\n"
                             "  - map: {a: a}\n");
    wr_plan p;
    assert_non_null(spec);
    assert_int_equal(wr_plan_build(spec, 2, &p, NULL), WR_OK);
    assert_int_equal(p.parallelism, 2);
    assert_int_equal(p.exchange, WR_EXCHANGE_HASH);
    assert_int_equal(p.stages[0].n_ops, 2);
    assert_int_equal(p.stages[1].first_op, 2);
    assert_int_equal(p.n_keys, 2);
    assert_int_equal(p.key_cols[0], 3);
    assert_int_equal(p.key_cols[1], 0);
    wr_spec_free(spec);
}

static void parallelism_beyond_max_parallelism_is_refused(void **state)
{
    wr_job_spec *spec = load("");
    wr_plan p;
    wr_errbuf eb;
    assert_non_null(spec);
    assert_int_equal(wr_plan_build(spec, 129, &p, &eb), WR_EINVAL);
    assert_non_null(strstr(eb.msg, "129"));
    wr_spec_free(spec);
}

static void a_projection_decodes_only_the_fields_it_and_earlier_filters_read(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - filter: \"b > 1\"\n  - map: {x: \"lower(d)\"}\n");
    bool used[5];
    assert_non_null(spec);
    wr_plan_used_source_fields(spec, used);
    assert_false(used[0]); /* a: never read */
    assert_true(used[1]);  /* b: filter */
    assert_false(used[2]); /* c */
    assert_true(used[3]);  /* d: map */
    assert_true(used[4]);  /* ts: event time */
    wr_spec_free(spec);
}

static void without_a_projection_every_field_reaches_the_sink_and_is_decoded(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - filter: \"b > 1\"\n");
    bool used[5];
    assert_non_null(spec);
    wr_plan_used_source_fields(spec, used);
    for (int i = 0; i < 5; i++)
        assert_true(used[i]);
    wr_spec_free(spec);
}

static void a_map_after_another_map_traces_fields_back_to_the_source(void **state)
{
    wr_job_spec *spec =
        load("pipeline:\n  - map: {x: \"a\", y: \"c\"}\n  - filter: \"y > 0\"\n  - map: {z: x}\n");
    bool used[5];
    assert_non_null(spec);
    wr_plan_used_source_fields(spec, used);
    /* the first map evaluates all its fields, so a and c are read; b and d are not */
    assert_true(used[0]);
    assert_false(used[1]);
    assert_true(used[2]);
    assert_false(used[3]);
    wr_spec_free(spec);
}

static void a_window_decodes_keys_aggregate_arguments_and_event_time_only(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - key_by: a\n  - window: {tumbling: 1m}\n"
                             "  - aggregate: {n: \"count()\", s: \"sum(c)\"}\n");
    bool used[5];
    assert_non_null(spec);
    wr_plan_used_source_fields(spec, used);
    assert_true(used[0]);  /* a: key */
    assert_false(used[1]); /* b */
    assert_true(used[2]);  /* c: sum */
    assert_false(used[3]); /* d */
    assert_true(used[4]);  /* ts: event time */
    wr_spec_free(spec);
}

static void with_late_data_a_window_decodes_every_field_of_its_input(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - key_by: a\n  - window: {tumbling: 1m}\n"
                             "  - aggregate: {n: \"count()\"}\n"
                             "late_data: {kafka: {topic: late}}\n");
    bool used[5];
    assert_non_null(spec);
    wr_plan_used_source_fields(spec, used);
    for (int i = 0; i < 5; i++)
        assert_true(used[i]); /* a too-late record is written whole */
    wr_spec_free(spec);
}

static void the_printed_plan_names_stages_exchange_and_key_group_ranges(void **state)
{
    wr_job_spec *spec = load("pipeline:\n  - key_by: a\n");
    wr_plan p;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(spec);
    assert_int_equal(wr_plan_build(spec, 0, &p, NULL), WR_OK);
    wr_plan_print(&p, spec, f);
    fclose(f);
    assert_non_null(strstr(text, "stage 0 (3 subtasks)"));
    assert_non_null(strstr(text, "exchange: hash by key group (128 key groups)"));
    assert_non_null(strstr(text, "subtask 0: key groups 0-42"));
    assert_non_null(strstr(text, "subtask 1: key groups 43-85"));
    assert_non_null(strstr(text, "subtask 2: key groups 86-127"));
    free(text);
    wr_spec_free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_key_by_the_exchange_is_forward_and_all_ops_run_at_the_source),
        cmocka_unit_test(key_by_ends_the_source_stage_with_a_hash_exchange),
        cmocka_unit_test(parallelism_beyond_max_parallelism_is_refused),
        cmocka_unit_test(a_projection_decodes_only_the_fields_it_and_earlier_filters_read),
        cmocka_unit_test(without_a_projection_every_field_reaches_the_sink_and_is_decoded),
        cmocka_unit_test(a_map_after_another_map_traces_fields_back_to_the_source),
        cmocka_unit_test(a_window_decodes_keys_aggregate_arguments_and_event_time_only),
        cmocka_unit_test(with_late_data_a_window_decodes_every_field_of_its_input),
        cmocka_unit_test(the_printed_plan_names_stages_exchange_and_key_group_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
