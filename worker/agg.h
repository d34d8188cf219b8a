/*
 * agg.h — aggregate functions and their accumulators.
 *
 * An `aggregate:` step (count, sum, min, max, avg, count_distinct, first, last) is
 * compiled once into a wr_aggs. Its accumulator — one per (key, window or slice) — is
 * a byte string that lives in the state store, so it must be self-contained (no
 * pointers) and have a stable layout (it is persisted in checkpoints and savepoints):
 *   - a fixed part, one slot per aggregate at a fixed offset (counts, sums, min/max of
 *     numbers, the event time of first/last), little-endian;
 *   - a variable tail for what has no fixed size (min/max/first/last of strings, the
 *     sorted set of distinct values of count_distinct).
 * When every aggregate has a fixed size (wr_aggs_fixed() is true) the accumulator is
 * exactly wr_aggs_size() bytes and wr_aggs_add_fixed() updates it in place — the fast
 * path: one state lookup and no allocation per record.
 *
 * Semantics (SQL-like): NULL arguments are skipped; count() counts records; sum of
 * long is long (overflow is an error, never a wrap); avg is double; min/max compare
 * numbers numerically and strings bytewise; count_distinct is exact (values compared
 * by wr_value_equal, so 1 and 1.0 differ by type only if the field's type differs —
 * one field has one type); first/last are the values with the smallest/largest event
 * time, the earlier-added one winning ties for first and the later-added one for
 * last. An aggregate over no non-NULL values is NULL (count and count_distinct: 0).
 *
 * Pure: no I/O, no logging.
 */
#ifndef WR_AGG_H
#define WR_AGG_H

#include "buf.h"
#include "error.h"
#include "spec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_aggs wr_aggs;

/* Compiles the aggregate step `agg` (kind WR_OP_AGGREGATE; its in_schema is the
 * window's input). Returns NULL on OOM. */
wr_aggs *wr_aggs_new(const wr_op_spec *agg);
void wr_aggs_free(wr_aggs *a);

/* True if every accumulator of a has the same size, wr_aggs_size(a). */
bool wr_aggs_fixed(const wr_aggs *a);
/* The size of the fixed part (the whole accumulator when wr_aggs_fixed). */
size_t wr_aggs_size(const wr_aggs *a);

/* Writes an empty accumulator (no records yet) to acc, which has room for
 * wr_aggs_size(a) bytes; the variable tail of an empty accumulator is empty. */
void wr_aggs_init(const wr_aggs *a, void *acc);

/* Fast path (wr_aggs_fixed only): adds the record row (the window's input schema) with
 * event time ts to acc in place. Fails with WR_EEVAL (sum or count overflow), naming the
 * aggregate, leaving acc unchanged. */
wr_err wr_aggs_add_fixed(const wr_aggs *a, void *acc, const wr_value *row, int64_t ts,
                         wr_errbuf *eb);

/* General path: the accumulator acc (len bytes; len 0 means empty, as if just
 * initialised) plus the record row at ts, written to out (cleared first). acc must not
 * point into out. Fails with WR_EEVAL (overflow), WR_EMALFORMED (acc is not an
 * accumulator of a) or WR_ETOOBIG (out's cap). */
wr_err wr_aggs_add(const wr_aggs *a, const void *acc, size_t len, const wr_value *row, int64_t ts,
                   wr_buf *out, wr_errbuf *eb);

/* Merges two accumulators (of slices of one sliding window, or of sessions that
 * touch) into out (cleared first): the result is what adding both sets of records
 * would give. For first/last, the tie between equal event times goes to x for first
 * and to y for last (callers pass the older slice or session as x). Either may have
 * len 0 (empty). Fails like wr_aggs_add. */
wr_err wr_aggs_merge(const wr_aggs *a, const void *x, size_t xlen, const void *y, size_t ylen,
                     wr_buf *out, wr_errbuf *eb);

/* The results, one wr_value per aggregate in spec order, written to out[0..n_aggs).
 * Strings point into acc (which must stay alive while out is used). Fails with
 * WR_EMALFORMED if acc is not an accumulator of a. */
wr_err wr_aggs_result(const wr_aggs *a, const void *acc, size_t len, wr_value *out, wr_errbuf *eb);

int wr_aggs_count(const wr_aggs *a);

#endif
