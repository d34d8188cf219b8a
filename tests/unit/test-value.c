/*
 * test-value.c — type names, value equality, schemas; also the buffer helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "error.h"
#include "value.h"

#include <string.h>

static void type_names_parse_with_aliases_and_the_optional_mark(void **state)
{
    wr_type t;
    bool opt;
    assert_true(wr_type_parse("string", &t, &opt));
    assert_int_equal(t, WR_T_STRING);
    assert_false(opt);
    assert_true(wr_type_parse("int?", &t, &opt));
    assert_int_equal(t, WR_T_LONG);
    assert_true(opt);
    assert_true(wr_type_parse("float64", &t, &opt));
    assert_int_equal(t, WR_T_DOUBLE);
    assert_true(wr_type_parse("timestamp_ms", &t, &opt));
    assert_int_equal(t, WR_T_TIMESTAMP);
    assert_false(wr_type_parse("strng", &t, &opt));
    assert_false(wr_type_parse("?", &t, &opt));
    assert_false(wr_type_parse("", &t, &opt));
    assert_string_equal(wr_type_name(WR_T_TIMESTAMP), "timestamp_ms");
}

static void values_are_equal_only_with_the_same_type_and_contents(void **state)
{
    wr_value a = wr_value_str("ab", 2), b = wr_value_str("abc", 2), c = wr_value_str("ab", 2);
    wr_value one = wr_value_long(1), ts = wr_value_ts(1), n1 = wr_value_null(),
             n2 = wr_value_null();
    assert_true(wr_value_equal(&a, &b)); /* only len bytes count */
    assert_true(wr_value_equal(&a, &c));
    assert_false(wr_value_equal(&one, &ts));
    assert_true(wr_value_equal(&n1, &n2));
    assert_false(wr_value_equal(&n1, &one));
}

static void schemas_find_fields_by_exact_name_and_copy_deeply(void **state)
{
    wr_schema s = {0}, c;
    assert_true(wr_schema_add(&s, "user", WR_T_STRING, false));
    assert_true(wr_schema_add(&s, "amount", WR_T_DOUBLE, true));
    assert_int_equal(wr_schema_find(&s, "amount", 6), 1);
    assert_int_equal(wr_schema_find(&s, "amoun", 5), -1);
    assert_true(wr_schema_copy(&c, &s));
    wr_schema_fini(&s);
    assert_int_equal(c.nfields, 2);
    assert_string_equal(c.fields[1].name, "amount");
    assert_true(c.fields[1].optional);
    wr_schema_fini(&c);
}

static void a_capped_buffer_refuses_to_grow_past_its_cap(void **state)
{
    wr_buf b;
    wr_buf_init(&b, 8);
    assert_int_equal(wr_buf_append(&b, "12345", 5), WR_OK);
    assert_int_equal(wr_buf_printf(&b, "%d", 123), WR_ETOOBIG); /* 3 digits + NUL > 3 left */
    assert_int_equal(wr_buf_append(&b, "678", 3), WR_OK);
    assert_int_equal(wr_buf_putc(&b, 'x'), WR_ETOOBIG);
    assert_memory_equal(b.p, "12345678", 8);
    wr_buf_fini(&b);
}

static void an_arena_hands_out_exactly_its_capacity(void **state)
{
    char mem[10];
    wr_arena a;
    wr_arena_init(&a, mem, sizeof mem);
    assert_non_null(wr_arena_alloc(&a, 4));
    assert_non_null(wr_arena_alloc(&a, 6));
    assert_null(wr_arena_alloc(&a, 1));
    wr_arena_reset(&a);
    assert_ptr_equal(wr_arena_alloc(&a, 10), mem);
}

static void errors_have_names_and_messages_compose(void **state)
{
    wr_errbuf eb;
    assert_string_equal(wr_strerror(WR_EMALFORMED), "malformed input");
    assert_string_equal(wr_strerror((wr_err)999), "unknown error");
    assert_int_equal(wr_fail(&eb, WR_EKAFKA, "topic '%s' missing", "t"), WR_EKAFKA);
    wr_errbuf_prefix(&eb, "source '%s': ", "clicks");
    assert_string_equal(eb.msg, "source 'clicks': topic 't' missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names_parse_with_aliases_and_the_optional_mark),
        cmocka_unit_test(values_are_equal_only_with_the_same_type_and_contents),
        cmocka_unit_test(schemas_find_fields_by_exact_name_and_copy_deeply),
        cmocka_unit_test(a_capped_buffer_refuses_to_grow_past_its_cap),
        cmocka_unit_test(an_arena_hands_out_exactly_its_capacity),
        cmocka_unit_test(errors_have_names_and_messages_compose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
