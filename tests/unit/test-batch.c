/*
 * test-batch.c — record batches: appends copy strings, limits are exact, full is
 * reported without changing the batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"

#include <string.h>

static void appended_rows_own_copies_of_their_strings(void **state)
{
    wr_batch *b = wr_batch_new(3, 4, 64);
    char name[] = "alice";
    wr_value row[3] = {wr_value_str(name, 5), wr_value_long(42), wr_value_null()};

    assert_int_equal(wr_batch_append(b, row, 1000), WR_OK);
    memcpy(name, "XXXXX", 5); /* the source buffer goes away */
    assert_int_equal(b->nrows, 1);
    assert_int_equal(wr_batch_row(b, 0)[0].len, 5);
    assert_memory_equal(wr_batch_row(b, 0)[0].u.s, "alice", 5);
    assert_int_equal(wr_batch_row(b, 0)[1].u.i, 42);
    assert_int_equal(wr_batch_row(b, 0)[2].type, WR_T_NULL);
    assert_int_equal(b->event_time[0], 1000);
    wr_batch_free(b);
}

static void a_full_batch_refuses_rows_and_stays_unchanged(void **state)
{
    wr_batch *b = wr_batch_new(1, 2, 10);
    wr_value six = wr_value_str("123456", 6);
    wr_value four = wr_value_str("1234", 4);
    wr_value one = wr_value_str("1", 1);

    assert_int_equal(wr_batch_append(b, &six, 0), WR_OK);
    assert_int_equal(wr_batch_append(b, &six, 0), WR_ETOOBIG); /* 12 > 10 arena bytes */
    assert_int_equal(b->nrows, 1);
    assert_int_equal(b->arena.used, 6);
    assert_int_equal(wr_batch_append(b, &four, 0), WR_OK);     /* exactly 10 */
    assert_int_equal(wr_batch_append(b, &one, 0), WR_ETOOBIG); /* rows full */
    assert_int_equal(b->nrows, 2);
    wr_batch_free(b);
}

static void string_bytes_count_only_strings(void **state)
{
    wr_value row[4] = {wr_value_str("ab", 2), wr_value_long(1), wr_value_str("cde", 3),
                       wr_value_double(2.5)};
    assert_int_equal(wr_row_string_bytes(row, 4), 5);
}

static void control_batches_carry_their_value_and_no_rows(void **state)
{
    wr_batch *b = wr_batch_new_control(WR_BATCH_BARRIER, 7);
    assert_int_equal(b->kind, WR_BATCH_BARRIER);
    assert_int_equal(b->value, 7);
    assert_int_equal(b->nrows, 0);
    wr_batch_free(b);
}

static void impossible_sizes_are_refused(void **state)
{
    assert_null(wr_batch_new(1, 0, 10));
    assert_null(wr_batch_new(-1, 10, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appended_rows_own_copies_of_their_strings),
        cmocka_unit_test(a_full_batch_refuses_rows_and_stays_unchanged),
        cmocka_unit_test(string_bytes_count_only_strings),
        cmocka_unit_test(control_batches_carry_their_value_and_no_rows),
        cmocka_unit_test(impossible_sizes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
