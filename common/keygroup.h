/*
 * keygroup.h — key hashing and key groups.
 *
 * A key group is the unit of keyed state: key group = hash(key) mod max_parallelism,
 * and subtask = key_group * parallelism / max_parallelism, so each subtask owns one
 * contiguous range of key groups. State keys start with the key group as 2 bytes
 * big-endian, so a key-group range is a contiguous range in the state store.
 * max_parallelism is fixed for the life of a job's state; parallelism may change.
 */
#ifndef WR_KEYGROUP_H
#define WR_KEYGROUP_H

#include "value.h"

#include <stdint.h>

#define WR_MAX_PARALLELISM_LIMIT 32768

/* A 64-bit hash of the key made of row[cols[0..n)]. Equal keys (by wr_value_equal per
 * column) hash equally; the hash covers types, so the long 1 and the string "1" differ.
 * Doubles hash by value (-0.0 == 0.0). Stable across processes and versions: it is
 * persisted implicitly through the key-group layout of state. */
uint64_t wr_key_hash(const wr_value *row, const int *cols, int n);

static inline int wr_keygroup_of(uint64_t hash, int max_parallelism)
{
    return (int)(hash % (uint64_t)max_parallelism);
}

static inline int wr_keygroup_subtask(int key_group, int max_parallelism, int parallelism)
{
    return (int)((int64_t)key_group * parallelism / max_parallelism);
}

/* The key-group range [*first, *last] owned by subtask (empty if *first > *last, which
 * happens only when parallelism > max_parallelism, which the spec checker forbids). */
void wr_keygroup_range(int subtask, int max_parallelism, int parallelism, int *first, int *last);

#endif
