/*
 * test-keygroup.c — key hashing and key-group ranges against a brute-force model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keygroup.h"

#include <stdio.h>
#include <string.h>

static void every_key_group_belongs_to_exactly_the_subtask_whose_range_holds_it(void **state)
{
    static const int maxps[] = {1, 7, 128, 1000, 32768};
    for (size_t m = 0; m < sizeof maxps / sizeof maxps[0]; m++) {
        int maxp = maxps[m];
        for (int p = 1; p <= maxp && p <= 64; p++) {
            int next = 0;
            for (int s = 0; s < p; s++) {
                int lo, hi;
                wr_keygroup_range(s, maxp, p, &lo, &hi);
                /* ranges tile [0, maxp) in order, without gaps */
                assert_int_equal(lo, next);
                for (int kg = lo; kg <= hi; kg++)
                    assert_int_equal((int64_t)kg * p / maxp, s); /* the defining formula */
                assert_int_equal(wr_keygroup_subtask(lo, maxp, p), s);
                next = hi + 1;
            }
            assert_int_equal(next, maxp);
        }
    }
}

static void equal_keys_hash_equally_and_types_are_part_of_the_key(void **state)
{
    char a[] = "user-42", b[] = "user-42";
    wr_value r1[2] = {wr_value_str(a, 7), wr_value_long(5)};
    wr_value r2[2] = {wr_value_str(b, 7), wr_value_long(5)};
    wr_value r3[1] = {wr_value_long(1)};
    wr_value r4[1] = {wr_value_str("1", 1)};
    wr_value z1[1] = {wr_value_double(0.0)};
    wr_value z2[1] = {wr_value_double(-0.0)};
    int c01[] = {0, 1}, c0[] = {0}, c10[] = {1, 0};

    assert_true(wr_key_hash(r1, c01, 2) == wr_key_hash(r2, c01, 2));
    assert_true(wr_key_hash(r1, c0, 1) == wr_key_hash(r2, c0, 1));
    assert_true(wr_key_hash(r1, c01, 2) != wr_key_hash(r1, c10, 2));
    assert_true(wr_key_hash(r3, c0, 1) != wr_key_hash(r4, c0, 1));
    assert_true(wr_key_hash(z1, c0, 1) == wr_key_hash(z2, c0, 1));
}

static void string_keys_spread_evenly_over_key_groups(void **state)
{
    enum { MAXP = 128, N = 128000 };
    static int count[MAXP];
    int c0[] = {0};
    char key[32];
    memset(count, 0, sizeof count);
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "user-%d", i);
        wr_value v = wr_value_str(key, (uint32_t)n);
        count[wr_keygroup_of(wr_key_hash(&v, c0, 1), MAXP)]++;
    }
    for (int kg = 0; kg < MAXP; kg++) {
        /* expected 1000 per group; a uniform hash stays well within ±20 % */
        assert_in_range(count[kg], 800, 1200);
    }
}

static void the_hash_is_stable_across_builds(void **state)
{
    /* Key groups are part of persisted state: this value must never change. */
    wr_value v = wr_value_str("alice", 5);
    wr_value r[2] = {wr_value_long(7), wr_value_str("x", 1)};
    int c0[] = {0}, c01[] = {0, 1};
    assert_true(wr_key_hash(&v, c0, 1) == 0xf76574df8cced28aULL);
    assert_true(wr_key_hash(r, c01, 2) == 0x429a768e9674d5f1ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_key_group_belongs_to_exactly_the_subtask_whose_range_holds_it),
        cmocka_unit_test(equal_keys_hash_equally_and_types_are_part_of_the_key),
        cmocka_unit_test(string_keys_spread_evenly_over_key_groups),
        cmocka_unit_test(the_hash_is_stable_across_builds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
