/*
 * keygroup.c — key hashing (xxHash3) and key-group ranges.
 */
#include "keygroup.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static void hash_value(XXH3_state_t *st, const wr_value *v)
{
    uint8_t tag = v->type;
    XXH3_64bits_update(st, &tag, 1);
    switch ((wr_type)v->type) {
    case WR_T_NULL:
        break;
    case WR_T_STRING: {
        uint32_t len = v->len;
        XXH3_64bits_update(st, &len, sizeof len);
        XXH3_64bits_update(st, v->u.s, v->len);
        break;
    }
    case WR_T_DOUBLE: {
        double d = v->u.d == 0.0 ? 0.0 : v->u.d; /* fold -0.0 */
        XXH3_64bits_update(st, &d, sizeof d);
        break;
    }
    default:
        XXH3_64bits_update(st, &v->u.i, sizeof v->u.i);
    }
}

uint64_t wr_key_hash(const wr_value *row, const int *cols, int n)
{
    XXH3_state_t st;

    /* Fast path for the common single string key: one call, no streaming state. */
    if (n == 1 && row[cols[0]].type == WR_T_STRING)
        return XXH3_64bits_withSeed(row[cols[0]].u.s, row[cols[0]].len, WR_T_STRING);
    XXH3_64bits_reset(&st);
    for (int i = 0; i < n; i++)
        hash_value(&st, &row[cols[i]]);
    return XXH3_64bits_digest(&st);
}

void wr_keygroup_range(int subtask, int max_parallelism, int parallelism, int *first, int *last)
{
    /* The smallest kg with kg*P/maxP >= subtask is ceil(subtask*maxP/P). */
    int64_t lo = ((int64_t)subtask * max_parallelism + parallelism - 1) / parallelism;
    int64_t hi = ((int64_t)(subtask + 1) * max_parallelism + parallelism - 1) / parallelism - 1;
    *first = (int)lo;
    *last = (int)hi;
}
