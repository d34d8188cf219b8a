/*
 * window.c — the keyed window operator (tumbling, sliding, session) over a wr_state.
 *
 * Tumbling and sliding windows share one representation: the input is cut into slices
 * of length D (the slide; D = S for tumbling), and the state holds one accumulator per
 * (key, slice) at namespace = the slice's end. A record updates exactly one slice (one
 * state lookup; in place when the accumulator has a fixed size). A window of size S
 * ending at e is made of the S/D slices ending in (e − S, e]; it fires by merging them.
 *
 * The operator keeps a sorted in-memory array of the slice ends that may hold state
 * ("live slices"). Its length is bounded by the event-time span between the watermark
 * minus the allowed lateness and the newest record, divided by D — never by the number
 * of keys. Firing enumerates window ends from it, so a watermark jump from WR_WM_MIN to
 * WR_WM_MAX costs the number of windows that hold data, not (jump / D).
 *   - one slice per window (tumbling): the slice's namespace is iterated unsorted and
 *     every entry is one result;
 *   - sliding: the S/D slices' namespaces are iterated sorted by (key group, key bytes)
 *     and merged k-way (a binary heap), so a key's slices meet without a per-key map.
 * Slices all of whose windows are past end + L are dropped as whole namespaces. The
 * array is not part of a checkpoint: wr_window_restore rebuilds it from the restored
 * store's namespaces (every namespace but WR_STATE_NS_GLOBAL is a slice end).
 *
 * Sessions: one entry per key at WR_STATE_NS_GLOBAL holds the key's sessions (an
 * encoded list, below), and empty "timer" entries at namespace = a session's end and
 * end + L remind the operator when a key needs attention. On a watermark the timers
 * with namespace <= W are processed in namespace order, a chunk of keys at a time (the
 * store allows no writes while an iterator is open), then the namespace is dropped. A
 * timer left by a session that later merged into a longer one is harmless: handling a
 * key only does what the watermark demands, so doing it twice changes nothing.
 *
 * Session list encoding (little-endian; every length is checked when decoding, and a
 * bad one is WR_EMALFORMED, never a crash):
 *     u32 count, then count × { i64 start, i64 end, u8 fired (0/1), u32 acc_len, acc }
 * sorted by start; sessions never overlap or touch.
 *
 * Time arithmetic saturates at the int64 limits: the watermark reaches INT64_MAX at the
 * end of input, and event times may be anywhere. A slice or window whose true end lies
 * past INT64_MAX is represented by the end INT64_MAX (it fires at the end of input).
 *
 * After an error the operator must not be used again (only freed): the error stops the
 * job, which restarts from a checkpoint.
 *
 * Thread: the owning subtask's. Not thread-safe.
 */
#include "window.h"

#include "keygroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMER_CHUNK_KEYS 1024
#define TIMER_CHUNK_BYTES (256 * 1024)
#define KEY_TEXT_MAX 96 /* key text in error messages */

/* ---- saturating time arithmetic ---- */

static inline int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* ---- little-endian helpers for the session encoding ---- */

static inline void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get_le32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- the operator ---- */

typedef struct session {
    int64_t start, end;
    bool fired;
    bool merge; /* scratch: merges with the record being added */
    const unsigned char *acc;
    uint32_t acc_len;
} session;

typedef struct merge_src {
    wr_state_iter *it;
    int idx; /* slice order: older slices first */
    int kg;
    const void *key, *val;
    size_t klen, vlen;
} merge_src;

typedef struct timer_key {
    int kg;
    size_t off, len; /* into chunk */
} timer_key;

struct wr_window_op {
    wr_state *st;
    wr_window_out out;
    wr_aggs *aggs;
    bool fixed;
    size_t acc_size;
    int n_aggs;
    wr_window_kind kind;
    int64_t size, slide, gap, lateness;
    int64_t per_window; /* slices per window, size / slide */
    int *key_cols;
    int n_keys;
    int max_par;
    int64_t wm;
    wr_window_stats stats;

    wr_buf key;       /* the current record's key bytes */
    wr_buf gkey;      /* the group key during a k-way merge */
    wr_buf acc[2];    /* accumulator scratch (ping-pong) */
    wr_buf val;       /* a session list being encoded */
    void *empty_acc;  /* an initialised fixed-size accumulator */
    wr_value *result; /* result row: keys, window_start, window_end, aggregates */

    /* live slice ends, ascending (tumbling/sliding) */
    int64_t *live;
    size_t n_live, cap_live;

    /* k-way merge */
    merge_src *src;
    int *heap;
    size_t cap_src;

    /* sessions */
    session *sess;
    size_t cap_sess;
    wr_buf chunk;
    timer_key *tkeys;
};

/* ---- key encoding ---- */

enum { KEY_TAG_MAX = WR_T_TIMESTAMP };

static inline size_t varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint64_t double_key_bits(double d)
{
    uint64_t u;
    if (d == 0.0)
        d = 0.0; /* -0.0 == 0.0: one encoding (as the key hash does) */
    if (d != d)
        u = UINT64_C(0x7ff8000000000000); /* every NaN: one encoding */
    else
        memcpy(&u, &d, sizeof u);
    /* order-preserving: negative numbers flip every bit, positive ones the sign bit */
    return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}

static inline double double_from_key_bits(uint64_t u)
{
    double d;
    u = (u >> 63) ? u & ~(UINT64_C(1) << 63) : ~u;
    memcpy(&d, &u, sizeof d);
    return d;
}

static inline void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static inline uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

wr_err wr_window_key_encode(const wr_value *row, const int *key_cols, int n, wr_buf *out)
{
    size_t need = 0;
    unsigned char *p;
    wr_err err;

    wr_buf_clear(out);
    for (int i = 0; i < n; i++) {
        const wr_value *v = &row[key_cols[i]];
        switch ((wr_type)v->type) {
        case WR_T_NULL:
            need += 1;
            break;
        case WR_T_BOOL:
            need += 2;
            break;
        case WR_T_LONG:
        case WR_T_TIMESTAMP:
        case WR_T_DOUBLE:
            need += 9;
            break;
        case WR_T_STRING:
            need += 1 + varint_len(v->len) + v->len;
            break;
        default:
            return WR_EINVAL;
        }
    }
    if ((err = wr_buf_reserve(out, need)) != WR_OK)
        return err;
    p = (unsigned char *)out->p;
    for (int i = 0; i < n; i++) {
        const wr_value *v = &row[key_cols[i]];
        *p++ = v->type;
        switch ((wr_type)v->type) {
        case WR_T_NULL:
            break;
        case WR_T_BOOL:
            *p++ = v->u.i ? 1 : 0;
            break;
        case WR_T_LONG:
        case WR_T_TIMESTAMP:
            put_be64(p, (uint64_t)v->u.i ^ (UINT64_C(1) << 63));
            p += 8;
            break;
        case WR_T_DOUBLE:
            put_be64(p, double_key_bits(v->u.d));
            p += 8;
            break;
        default: { /* WR_T_STRING */
            uint32_t len = v->len;
            while (len >= 0x80) {
                *p++ = (unsigned char)(len | 0x80);
                len >>= 7;
            }
            *p++ = (unsigned char)len;
            if (v->len)
                memcpy(p, v->u.s, v->len);
            p += v->len;
            break;
        }
        }
    }
    out->len = need;
    return WR_OK;
}

/* Decodes (vals non-NULL) or only checks (vals NULL) n key values. */
static bool key_decode(const void *key, size_t klen, int n, wr_value *vals)
{
    const unsigned char *p = key, *end = p + klen;

    for (int i = 0; i < n; i++) {
        wr_value v = {.type = WR_T_NULL};
        unsigned tag;
        if (p == end)
            return false;
        tag = *p++;
        switch (tag) {
        case WR_T_NULL:
            break;
        case WR_T_BOOL:
            if (end - p < 1 || *p > 1)
                return false;
            v = wr_value_bool(*p++ != 0);
            break;
        case WR_T_LONG:
        case WR_T_TIMESTAMP:
            if (end - p < 8)
                return false;
            v.u.i = (int64_t)(get_be64(p) ^ (UINT64_C(1) << 63));
            v.type = (uint8_t)tag;
            p += 8;
            break;
        case WR_T_DOUBLE:
            if (end - p < 8)
                return false;
            v = wr_value_double(double_from_key_bits(get_be64(p)));
            p += 8;
            break;
        case WR_T_STRING: {
            uint64_t len = 0;
            int shift = 0;
            for (;;) {
                unsigned b;
                if (p == end || shift > 28)
                    return false;
                b = *p++;
                len |= (uint64_t)(b & 0x7f) << shift;
                shift += 7;
                if (!(b & 0x80))
                    break;
            }
            if (len > UINT32_MAX || len > (uint64_t)(end - p))
                return false;
            v = wr_value_str((const char *)p, (uint32_t)len);
            p += len;
            break;
        }
        default:
            return false;
        }
        if (vals)
            vals[i] = v;
    }
    return p == end;
}

wr_err wr_window_key_decode(const void *key, size_t klen, int n, wr_value *vals)
{
    if (n < 0 || (klen && !key) || !key_decode(key, klen, n, NULL))
        return WR_EMALFORMED;
    key_decode(key, klen, n, vals);
    return WR_OK;
}

/* "["alice", 42]", truncated to fit buf, for error messages. */
static void key_text(const wr_value *vals, int n, char *buf, size_t size)
{
    size_t used = 0;
    int r;

#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (used < size) {                                                                         \
            r = snprintf(buf + used, size - used, __VA_ARGS__);                                    \
            used += r > 0 ? (size_t)r : 0;                                                         \
        }                                                                                          \
    } while (0)
    PUT("[");
    for (int i = 0; i < n; i++) {
        const wr_value *v = &vals[i];
        if (i)
            PUT(", ");
        switch ((wr_type)v->type) {
        case WR_T_NULL:
            PUT("null");
            break;
        case WR_T_BOOL:
            PUT("%s", v->u.i ? "true" : "false");
            break;
        case WR_T_DOUBLE:
            PUT("%.17g", v->u.d);
            break;
        case WR_T_STRING:
            PUT("\"%.*s\"", (int)(v->len > 48 ? 48 : v->len), v->u.s);
            if (v->len > 48)
                PUT("...");
            break;
        default:
            PUT("%lld", (long long)v->u.i);
            break;
        }
    }
    PUT("]");
#undef PUT
    if (used >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* Prefixes eb with the window (what: "window", "slice", "session") and key an aggregate
 * failed for: "window [0, 60000) of key ["alice"]: aggregate 's': ...". */
static wr_err agg_fail(wr_window_op *w, wr_err err, const char *what, const wr_value *keyvals,
                       int64_t start, int64_t end, wr_errbuf *eb)
{
    char kt[KEY_TEXT_MAX];
    key_text(keyvals, w->n_keys, kt, sizeof kt);
    wr_errbuf_prefix(eb, "%s [%lld, %lld) of key %s: ", what, (long long)start, (long long)end, kt);
    return err;
}

static wr_err buf_fail(wr_err err, const char *what, wr_errbuf *eb)
{
    return wr_fail(eb, err, "window: %s: %s", what, wr_strerror(err));
}

/* ---- lifecycle ---- */

wr_err wr_window_new(const wr_job_spec *spec, int window_op, const int *key_cols, int n_keys,
                     wr_state *st, const wr_window_out *out, size_t scratch_bytes,
                     wr_window_op **res, wr_errbuf *eb)
{
    const wr_op_spec *wop, *aop;
    wr_window_op *w;

    if (!spec || window_op < 0 || window_op + 1 >= spec->n_ops || n_keys < 0 || !st || !out ||
        !out->emit || !out->late || spec->max_parallelism < 1)
        return wr_fail(eb, WR_EINVAL, "window: invalid arguments");
    wop = &spec->ops[window_op];
    aop = &spec->ops[window_op + 1];
    if (wop->kind != WR_OP_WINDOW || aop->kind != WR_OP_AGGREGATE)
        return wr_fail(eb, WR_EINVAL, "window: operator %d is not a window followed by aggregate",
                       window_op);
    switch (wop->window) {
    case WR_WINDOW_TUMBLING:
        if (wop->size_ms < 1)
            return wr_fail(eb, WR_EINVAL, "window: tumbling size must be positive");
        break;
    case WR_WINDOW_SLIDING:
        if (wop->size_ms < 1 || wop->slide_ms < 1 || wop->slide_ms > wop->size_ms ||
            wop->size_ms % wop->slide_ms != 0)
            return wr_fail(eb, WR_EINVAL, "window: sliding size must be a multiple of slide");
        break;
    case WR_WINDOW_SESSION:
        if (wop->gap_ms < 1)
            return wr_fail(eb, WR_EINVAL, "window: session gap must be positive");
        break;
    default:
        return wr_fail(eb, WR_EINVAL, "window: unknown window kind");
    }
    if (wop->allowed_lateness_ms < 0)
        return wr_fail(eb, WR_EINVAL, "window: negative allowed lateness");

    w = calloc(1, sizeof *w);
    if (!w)
        return wr_fail(eb, WR_ENOMEM, "window: out of memory");
    w->st = st;
    w->out = *out;
    w->kind = wop->window;
    w->size = wop->size_ms;
    w->slide = wop->window == WR_WINDOW_SLIDING ? wop->slide_ms : wop->size_ms;
    w->gap = wop->gap_ms;
    w->lateness = wop->allowed_lateness_ms;
    w->per_window = w->kind == WR_WINDOW_SESSION ? 1 : w->size / w->slide;
    w->n_keys = n_keys;
    w->max_par = spec->max_parallelism;
    w->wm = INT64_MIN;
    w->stats.watermark = INT64_MIN;
    /* The key bytes are part of a result row's string bytes, plus per-field framing. */
    wr_buf_init(&w->key, scratch_bytes ? scratch_bytes + 16 * (size_t)n_keys : 0);
    wr_buf_init(&w->gkey, 0);
    /* Accumulators and session lists are bounded by the state they come from. */
    wr_buf_init(&w->acc[0], 0);
    wr_buf_init(&w->acc[1], 0);
    wr_buf_init(&w->val, 0);
    wr_buf_init(&w->chunk, 0);
    w->aggs = wr_aggs_new(aop);
    w->key_cols = malloc(sizeof *w->key_cols * (size_t)(n_keys ? n_keys : 1));
    if (!w->aggs || !w->key_cols)
        goto oom;
    if (n_keys)
        memcpy(w->key_cols, key_cols, sizeof *w->key_cols * (size_t)n_keys);
    w->n_aggs = wr_aggs_count(w->aggs);
    w->fixed = wr_aggs_fixed(w->aggs);
    w->acc_size = wr_aggs_size(w->aggs);
    w->result = calloc((size_t)(n_keys + 2 + w->n_aggs), sizeof *w->result);
    w->empty_acc = malloc(w->acc_size ? w->acc_size : 1);
    if (!w->result || !w->empty_acc)
        goto oom;
    wr_aggs_init(w->aggs, w->empty_acc);
    if (w->kind == WR_WINDOW_SESSION) {
        w->tkeys = malloc(sizeof *w->tkeys * TIMER_CHUNK_KEYS);
        if (!w->tkeys)
            goto oom;
    }
    *res = w;
    return WR_OK;
oom:
    wr_window_free(w);
    return wr_fail(eb, WR_ENOMEM, "window: out of memory");
}

void wr_window_free(wr_window_op *w)
{
    if (!w)
        return;
    wr_aggs_free(w->aggs);
    wr_buf_fini(&w->key);
    wr_buf_fini(&w->gkey);
    wr_buf_fini(&w->acc[0]);
    wr_buf_fini(&w->acc[1]);
    wr_buf_fini(&w->val);
    wr_buf_fini(&w->chunk);
    free(w->key_cols);
    free(w->result);
    free(w->empty_acc);
    free(w->live);
    free(w->src);
    free(w->heap);
    free(w->sess);
    free(w->tkeys);
    free(w);
}

void wr_window_get_stats(const wr_window_op *w, wr_window_stats *out)
{
    *out = w->stats;
    out->watermark = w->wm;
}

/* ---- shared helpers ---- */

/* The end of the slice of length d holding t: floor(t / d) * d + d, saturated. */
static inline int64_t slice_end(int64_t t, int64_t d)
{
    int64_t r = t % d;
    if (r < 0)
        r += d;
    return sat_add(t, d - r);
}

/* The start of the window ending at e. A window whose end saturated at INT64_MAX
 * (true end past it) starts at the true end minus the size. */
static int64_t win_start(const wr_window_op *w, int64_t e)
{
    if (e == INT64_MAX && w->kind != WR_WINDOW_SESSION && INT64_MAX % w->slide != 0) {
        int64_t last = INT64_MAX - INT64_MAX % w->slide; /* the last grid point */
        return last - (w->size - w->slide);
    }
    return sat_sub(e, w->size);
}

/* The end of the last window a slice ending at y belongs to. */
static inline int64_t slice_last_end(const wr_window_op *w, int64_t y)
{
    return sat_add(y, w->size - w->slide);
}

/* Emits the result row: key values in result[0..n_keys) already set. */
static wr_err emit_result(wr_window_op *w, int64_t start, int64_t end, const void *acc, size_t len,
                          bool retract, wr_errbuf *eb)
{
    wr_value *r = w->result;
    wr_err err;

    r[w->n_keys] = wr_value_ts(start);
    r[w->n_keys + 1] = wr_value_ts(end);
    if (retract) {
        for (int i = 0; i < w->n_aggs; i++)
            r[w->n_keys + 2 + i] = wr_value_null();
        return w->out.retract(w->out.arg, r, eb);
    }
    err = wr_aggs_result(w->aggs, acc, len, r + w->n_keys + 2, eb);
    if (err)
        return agg_fail(w, err, w->kind == WR_WINDOW_SESSION ? "session" : "window", r, start, end,
                        eb);
    return w->out.emit(w->out.arg, r, eb);
}

static void keys_from_row(wr_window_op *w, const wr_value *row)
{
    for (int i = 0; i < w->n_keys; i++)
        w->result[i] = row[w->key_cols[i]];
}

static wr_err keys_from_bytes(wr_window_op *w, const void *key, size_t klen, wr_errbuf *eb)
{
    if (wr_window_key_decode(key, klen, w->n_keys, w->result) != WR_OK)
        return wr_fail(eb, WR_EMALFORMED, "window: malformed key in state (%zu bytes)", klen);
    return WR_OK;
}

/* cur (one of acc[]) := merge(cur, y); returns the buffer holding the result. */
static wr_err acc_merge(wr_window_op *w, wr_buf **cur, const void *y, size_t ylen, wr_errbuf *eb)
{
    wr_buf *other = *cur == &w->acc[0] ? &w->acc[1] : &w->acc[0];
    wr_err err;

    if ((*cur)->len == 0) {
        wr_buf_clear(*cur);
        if ((err = wr_buf_append(*cur, y, ylen)) != WR_OK)
            return buf_fail(err, "accumulator", eb);
        return WR_OK;
    }
    if (ylen == 0)
        return WR_OK;
    if ((err = wr_aggs_merge(w->aggs, (*cur)->p, (*cur)->len, y, ylen, other, eb)) != WR_OK)
        return err;
    *cur = other;
    return WR_OK;
}

/* ---- live slices ---- */

/* The index of the first live slice >= x. */
static size_t live_lower_bound(const wr_window_op *w, int64_t x)
{
    size_t lo = 0, hi = w->n_live;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->live[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static wr_err live_insert(wr_window_op *w, int64_t x, wr_errbuf *eb)
{
    size_t i;

    if (w->n_live && w->live[w->n_live - 1] == x) /* the common case: the newest slice */
        return WR_OK;
    i = live_lower_bound(w, x);
    if (i < w->n_live && w->live[i] == x)
        return WR_OK;
    if (w->n_live == w->cap_live) {
        size_t ncap = w->cap_live ? w->cap_live * 2 : 16;
        int64_t *n = realloc(w->live, sizeof *n * ncap);
        if (!n)
            return wr_fail(eb, WR_ENOMEM, "window: out of memory");
        w->live = n;
        w->cap_live = ncap;
    }
    memmove(w->live + i + 1, w->live + i, sizeof *w->live * (w->n_live - i));
    w->live[i] = x;
    w->n_live++;
    return WR_OK;
}

/* ---- tumbling / sliding: records ---- */

/* Adds row to the slice (kg, x, key). On return the entry holds the updated accumulator
 * and *out points at it. */
static wr_err slice_add(wr_window_op *w, int kg, int64_t x, const wr_value *row, int64_t ts,
                        wr_state_entry **out, wr_errbuf *eb)
{
    wr_state_entry *e;
    size_t len;
    void *acc;
    wr_err err;

    err = wr_state_lookup(w->st, kg, x, w->key.p, w->key.len, true, &e, eb);
    if (err)
        return err;
    acc = wr_state_value(e, &len);
    if (w->fixed && len == w->acc_size && len) {
        if ((err = wr_aggs_add_fixed(w->aggs, acc, row, ts, eb)) != WR_OK)
            goto agg_err;
        wr_state_touch(w->st, e);
    } else if (w->fixed && len == 0) {
        wr_buf *b = &w->acc[0];
        wr_buf_clear(b);
        if ((err = wr_buf_append(b, w->empty_acc, w->acc_size)) != WR_OK) {
            err = buf_fail(err, "accumulator", eb);
            goto fail;
        }
        if ((err = wr_aggs_add_fixed(w->aggs, b->p, row, ts, eb)) != WR_OK)
            goto agg_err;
        if ((err = wr_state_set(w->st, e, b->p, b->len, eb)) != WR_OK)
            goto fail;
    } else if (w->fixed) {
        return wr_fail(eb, WR_EMALFORMED,
                       "window: slice accumulator in state has %zu bytes, expected %zu", len,
                       w->acc_size);
    } else {
        if ((err = wr_aggs_add(w->aggs, acc, len, row, ts, &w->acc[0], eb)) != WR_OK)
            goto agg_err;
        if ((err = wr_state_set(w->st, e, w->acc[0].p, w->acc[0].len, eb)) != WR_OK)
            goto fail;
    }
    *out = e;
    return WR_OK;
agg_err:
    keys_from_row(w, row);
    if (w->per_window == 1)
        agg_fail(w, err, "window", w->result, win_start(w, x), x, eb);
    else
        agg_fail(w, err, "slice", w->result, sat_sub(x, w->slide), x, eb);
fail:
    if (len == 0) /* do not leave an empty entry behind */
        wr_state_remove(w->st, e);
    return err;
}

/* Re-emits the sliding window ending at e for the current key (late update): merges the
 * key's live slices of that window with point lookups. */
static wr_err sliding_emit_key(wr_window_op *w, int kg, int64_t e, wr_errbuf *eb)
{
    int64_t start = win_start(w, e);
    wr_buf *cur = &w->acc[0];
    wr_err err;

    wr_buf_clear(&w->acc[0]);
    wr_buf_clear(&w->acc[1]);
    for (size_t i = live_lower_bound(w, sat_add(start, 1)); i < w->n_live && w->live[i] <= e; i++) {
        wr_state_entry *ent;
        const void *v;
        size_t vlen;
        err = wr_state_lookup(w->st, kg, w->live[i], w->key.p, w->key.len, false, &ent, eb);
        if (err)
            return err;
        if (!ent)
            continue;
        v = wr_state_value(ent, &vlen);
        if ((err = acc_merge(w, &cur, v, vlen, eb)) != WR_OK)
            return err == WR_EEVAL || err == WR_EMALFORMED
                       ? agg_fail(w, err, "window", w->result, start, e, eb)
                       : err;
    }
    if (cur->len == 0)
        return WR_OK;
    w->stats.late_fired++;
    return emit_result(w, start, e, cur->p, cur->len, false, eb);
}

static wr_err sliced_process(wr_window_op *w, const wr_value *row, int64_t ts, int kg,
                             wr_errbuf *eb)
{
    int64_t x = slice_end(ts, w->slide);
    wr_state_entry *ent = NULL;
    wr_err err;

    if (sat_add(slice_last_end(w, x), w->lateness) <= w->wm) {
        w->stats.too_late++;
        return w->out.late(w->out.arg, row, ts, eb);
    }
    if ((err = slice_add(w, kg, x, row, ts, &ent, eb)) != WR_OK)
        return err;
    w->stats.records++;
    if ((err = live_insert(w, x, eb)) != WR_OK)
        return err;
    if (x > w->wm) /* no window of this slice has fired yet: the common case */
        return WR_OK;
    keys_from_row(w, row);
    if (w->per_window == 1) {
        /* tumbling: the slice is the window; it has fired and is kept (not too late) */
        size_t len;
        const void *acc = wr_state_value(ent, &len);
        w->stats.late_fired++;
        return emit_result(w, win_start(w, x), x, acc, len, false, eb);
    }
    for (int64_t k = 0; k < w->per_window; k++) {
        int64_t e = sat_add(x, k * w->slide);
        if (e > w->wm)
            break;
        if (sat_add(e, w->lateness) > w->wm && (err = sliding_emit_key(w, kg, e, eb)) != WR_OK)
            return err;
        if (e == INT64_MAX)
            break;
    }
    return WR_OK;
}

/* ---- tumbling / sliding: firing ---- */

static wr_err fire_tumbling(wr_window_op *w, int64_t e, wr_errbuf *eb)
{
    int64_t start = win_start(w, e);
    wr_state_iter *it;
    int kg;
    const void *key, *val;
    size_t klen, vlen;
    wr_err err, ierr = WR_OK;

    if ((err = wr_state_iter_new(w->st, e, false, &it, eb)) != WR_OK)
        return err;
    while (wr_state_iter_next(it, &kg, &key, &klen, &val, &vlen, &ierr, eb)) {
        if (vlen == 0)
            continue;
        if ((err = keys_from_bytes(w, key, klen, eb)) != WR_OK)
            goto out;
        w->stats.fired++;
        if ((err = emit_result(w, start, e, val, vlen, false, eb)) != WR_OK)
            goto out;
    }
    err = ierr;
out:
    wr_state_iter_free(it);
    return err;
}

static int src_cmp(const merge_src *a, const merge_src *b)
{
    size_t n;
    int c;
    if (a->kg != b->kg)
        return a->kg < b->kg ? -1 : 1;
    n = a->klen < b->klen ? a->klen : b->klen;
    c = n ? memcmp(a->key, b->key, n) : 0;
    if (c)
        return c;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void heap_down(wr_window_op *w, size_t n, size_t i)
{
    int *h = w->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && src_cmp(&w->src[h[l]], &w->src[h[m]]) < 0)
            m = l;
        if (r < n && src_cmp(&w->src[h[r]], &w->src[h[m]]) < 0)
            m = r;
        if (m == i)
            return;
        int t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Fires the sliding window ending at e: a k-way merge of its slices' sorted iterators,
 * one result per key. */
static wr_err fire_sliding(wr_window_op *w, int64_t e, wr_errbuf *eb)
{
    int64_t start = win_start(w, e);
    size_t first = live_lower_bound(w, sat_add(start, 1)), last = first, n, hn = 0;
    wr_err err = WR_OK;

    while (last < w->n_live && w->live[last] <= e)
        last++;
    n = last - first;
    if (n == 0)
        return WR_OK;
    if (n > w->cap_src) {
        merge_src *s = realloc(w->src, sizeof *s * n);
        int *h;
        if (!s)
            return wr_fail(eb, WR_ENOMEM, "window: out of memory");
        w->src = s;
        h = realloc(w->heap, sizeof *h * n);
        if (!h)
            return wr_fail(eb, WR_ENOMEM, "window: out of memory");
        w->heap = h;
        w->cap_src = n;
    }
    for (size_t i = 0; i < n; i++)
        w->src[i].it = NULL;
    for (size_t i = 0; i < n; i++) {
        merge_src *s = &w->src[i];
        wr_err ierr = WR_OK;
        s->idx = (int)i;
        if ((err = wr_state_iter_new(w->st, w->live[first + i], true, &s->it, eb)) != WR_OK)
            goto out;
        if (wr_state_iter_next(s->it, &s->kg, &s->key, &s->klen, &s->val, &s->vlen, &ierr, eb))
            w->heap[hn++] = (int)i;
        else if ((err = ierr) != WR_OK)
            goto out;
    }
    for (size_t i = hn / 2; i-- > 0;)
        heap_down(w, hn, i);
    while (hn) {
        merge_src *top = &w->src[w->heap[0]];
        int gkg = top->kg;
        wr_buf *cur = &w->acc[0];
        merge_src probe;

        wr_buf_clear(&w->gkey);
        if ((err = wr_buf_append(&w->gkey, top->key, top->klen)) != WR_OK) {
            err = buf_fail(err, "group key", eb);
            goto out;
        }
        probe = (merge_src){.kg = gkg, .key = w->gkey.p, .klen = w->gkey.len, .idx = INT32_MAX};
        wr_buf_clear(&w->acc[0]);
        wr_buf_clear(&w->acc[1]);
        /* every head equal to the group key, in slice order (idx breaks ties) */
        while (hn && src_cmp(&w->src[w->heap[0]], &probe) < 0) {
            merge_src *s = &w->src[w->heap[0]];
            wr_err ierr = WR_OK;
            if ((err = acc_merge(w, &cur, s->val, s->vlen, eb)) != WR_OK) {
                if (err == WR_EEVAL || err == WR_EMALFORMED) {
                    if (keys_from_bytes(w, w->gkey.p, w->gkey.len, NULL) == WR_OK)
                        agg_fail(w, err, "window", w->result, start, e, eb);
                }
                goto out;
            }
            if (!wr_state_iter_next(s->it, &s->kg, &s->key, &s->klen, &s->val, &s->vlen, &ierr,
                                    eb)) {
                if ((err = ierr) != WR_OK)
                    goto out;
                w->heap[0] = w->heap[--hn];
            } else if (src_cmp(s, &probe) < 0) {
                /* the merge relies on the store's (key group, key bytes) order */
                err = wr_fail(eb, WR_EIO, "window: state iterator of namespace %lld is not sorted",
                              (long long)w->live[first + (size_t)s->idx]);
                goto out;
            }
            heap_down(w, hn, 0);
        }
        if (cur->len == 0)
            continue;
        if ((err = keys_from_bytes(w, w->gkey.p, w->gkey.len, eb)) != WR_OK)
            goto out;
        w->stats.fired++;
        if ((err = emit_result(w, start, e, cur->p, cur->len, false, eb)) != WR_OK)
            goto out;
    }
out:
    for (size_t i = 0; i < n; i++)
        wr_state_iter_free(w->src[i].it);
    return err;
}

static wr_err sliced_advance(wr_window_op *w, int64_t w0, int64_t w1, wr_errbuf *eb)
{
    int64_t last_e = w0; /* every window end <= last_e has fired */
    size_t drop = 0;
    wr_err err = WR_OK;

    /* Window ends to fire, ascending: the union over live slices y of their window ends
     * y, y + D, ..., y + S - D within (w0, w1]. Slices are ascending and every slice has
     * S/D windows, so the ranges are sorted by both ends and one sweep covers them. */
    for (size_t i = 0; i < w->n_live && last_e < w1; i++) {
        int64_t y = w->live[i];
        int64_t k;
        if (y > w1)
            break;
        if (y > last_e) {
            k = 0;
        } else {
            uint64_t gap = (uint64_t)last_e - (uint64_t)y;
            uint64_t kk = gap / (uint64_t)w->slide + 1;
            if (kk >= (uint64_t)w->per_window)
                continue;
            k = (int64_t)kk;
        }
        for (; k < w->per_window; k++) {
            int64_t e = sat_add(y, k * w->slide);
            if (e > w1)
                break;
            if (e <= last_e)
                continue; /* saturated ends collapse into INT64_MAX */
            err = w->per_window == 1 ? fire_tumbling(w, e, eb) : fire_sliding(w, e, eb);
            if (err)
                return err;
            last_e = e;
            if (e == INT64_MAX)
                break;
        }
    }
    /* Drop the slices whose every window is past end + L (a prefix: that bound grows
     * with the slice end). */
    while (drop < w->n_live && sat_add(slice_last_end(w, w->live[drop]), w->lateness) <= w1) {
        if ((err = wr_state_drop_ns(w->st, w->live[drop], eb)) != WR_OK)
            break;
        drop++;
    }
    if (drop) {
        memmove(w->live, w->live + drop, sizeof *w->live * (w->n_live - drop));
        w->n_live -= drop;
    }
    return err;
}

/* ---- sessions ---- */

static wr_err sess_reserve(wr_window_op *w, size_t n, wr_errbuf *eb)
{
    if (n > w->cap_sess) {
        size_t ncap = w->cap_sess ? w->cap_sess : 8;
        session *s;
        while (ncap < n)
            ncap *= 2;
        s = realloc(w->sess, sizeof *s * ncap);
        if (!s)
            return wr_fail(eb, WR_ENOMEM, "window: out of memory");
        w->sess = s;
        w->cap_sess = ncap;
    }
    return WR_OK;
}

#define SESS_HEAD 21 /* start, end, fired, acc_len */

/* Decodes a key's session list into w->sess (pointing into val). */
static wr_err sess_decode(wr_window_op *w, const void *val, size_t len, size_t *n_out,
                          wr_errbuf *eb)
{
    const unsigned char *p = val, *end = p + len;
    uint32_t n;
    wr_err err;

    if (len == 0) {
        *n_out = 0;
        return WR_OK;
    }
    if (len < 4)
        goto bad;
    n = get_le32(p);
    p += 4;
    if (n > (len - 4) / SESS_HEAD)
        goto bad;
    if ((err = sess_reserve(w, (size_t)n + 1, eb)) != WR_OK)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        session *s = &w->sess[i];
        if (end - p < SESS_HEAD)
            goto bad;
        s->start = (int64_t)get_le64(p);
        s->end = (int64_t)get_le64(p + 8);
        if (p[16] > 1 || s->start > s->end)
            goto bad;
        s->fired = p[16] != 0;
        s->acc_len = get_le32(p + 17);
        p += SESS_HEAD;
        if (s->acc_len > (size_t)(end - p))
            goto bad;
        s->acc = p;
        s->merge = false;
        p += s->acc_len;
    }
    if (p != end)
        goto bad;
    *n_out = n;
    return WR_OK;
bad:
    return wr_fail(eb, WR_EMALFORMED, "window: malformed session list in state (%zu bytes)", len);
}

static wr_err sess_put(wr_buf *b, int64_t start, int64_t end, bool fired, const void *acc,
                       size_t acc_len)
{
    unsigned char h[SESS_HEAD];
    wr_err err;
    if (acc_len > UINT32_MAX)
        return WR_ETOOBIG;
    put_le64(h, (uint64_t)start);
    put_le64(h + 8, (uint64_t)end);
    h[16] = fired;
    put_le32(h + 17, (uint32_t)acc_len);
    if ((err = wr_buf_append(b, h, sizeof h)) != WR_OK)
        return err;
    return wr_buf_append(b, acc, acc_len);
}

static void sess_count(wr_buf *b, uint32_t n)
{
    put_le32((unsigned char *)b->p, n);
}

/* An empty timer entry for the current key at ns (never WR_STATE_NS_GLOBAL). */
static wr_err put_timer(wr_window_op *w, int kg, int64_t ns, wr_errbuf *eb)
{
    wr_state_entry *e;
    if (ns == WR_STATE_NS_GLOBAL)
        return WR_OK; /* the end of input sweeps every session */
    return wr_state_lookup(w->st, kg, ns, w->key.p, w->key.len, true, &e, eb);
}

static wr_err session_process(wr_window_op *w, const wr_value *row, int64_t t, int kg,
                              wr_errbuf *eb)
{
    int64_t pend = sat_add(t, w->gap);
    int64_t mstart = t, mend = pend, W = w->wm, L = w->lateness;
    bool maybe_late = sat_add(pend, L) <= W, same_end = false, fired;
    wr_state_entry *ent = NULL;
    const void *val;
    size_t vlen, n;
    wr_buf *cur = &w->acc[0], *other;
    wr_err err;

    err =
        wr_state_lookup(w->st, kg, WR_STATE_NS_GLOBAL, w->key.p, w->key.len, !maybe_late, &ent, eb);
    if (err)
        return err;
    if (!ent)
        goto too_late;
    val = wr_state_value(ent, &vlen);
    if ((err = sess_decode(w, val, vlen, &n, eb)) != WR_OK)
        return err;
    for (size_t i = 0; i < n; i++) {
        session *s = &w->sess[i];
        if (sat_add(s->end, L) <= W)
            continue; /* expired (its cleanup is due): as if gone */
        if (s->start <= pend && t <= s->end) {
            s->merge = true;
            if (s->start < mstart)
                mstart = s->start;
            if (s->end > mend)
                mend = s->end;
        }
    }
    if (sat_add(mend, L) <= W) {
        if (vlen == 0)
            wr_state_remove(w->st, ent);
        goto too_late;
    }
    /* the merged accumulator: constituents in start order (older first), then the record */
    wr_buf_clear(&w->acc[0]);
    wr_buf_clear(&w->acc[1]);
    for (size_t i = 0; i < n; i++) {
        if (!w->sess[i].merge)
            continue;
        if (w->sess[i].end == mend)
            same_end = true;
        if ((err = acc_merge(w, &cur, w->sess[i].acc, w->sess[i].acc_len, eb)) != WR_OK)
            goto agg_err;
    }
    other = cur == &w->acc[0] ? &w->acc[1] : &w->acc[0];
    if ((err = wr_aggs_add(w->aggs, cur->p, cur->len, row, t, other, eb)) != WR_OK)
        goto agg_err;
    cur = other;
    fired = mend <= W;

    /* the new list: kept sessions that did not merge, and the merged one, by start */
    {
        wr_buf *b = &w->val;
        uint32_t cnt = 0;
        bool placed = false;
        wr_buf_clear(b);
        if ((err = wr_buf_reserve(b, 4)) != WR_OK)
            goto buf_err;
        b->len = 4;
        for (size_t i = 0; i <= n; i++) {
            const session *s = i < n ? &w->sess[i] : NULL;
            if (s && (s->merge || sat_add(s->end, L) <= W))
                continue;
            if (!placed && (!s || s->start > mstart)) {
                if ((err = sess_put(b, mstart, mend, fired, cur->p, cur->len)) != WR_OK)
                    goto buf_err;
                placed = true;
                cnt++;
            }
            if (s) {
                if ((err = sess_put(b, s->start, s->end, s->fired, s->acc, s->acc_len)) != WR_OK)
                    goto buf_err;
                cnt++;
            }
        }
        sess_count(b, cnt);
        if ((err = wr_state_set(w->st, ent, b->p, b->len, eb)) != WR_OK) {
            if (vlen == 0)
                wr_state_remove(w->st, ent);
            return err;
        }
    }
    w->stats.records++;
    /* Timers (the entry pointer is invalid from here on). A constituent with the same
     * end already has them. */
    if (!same_end) {
        if (mend > W && (err = put_timer(w, kg, mend, eb)) != WR_OK)
            return err;
        if (L > 0 && (err = put_timer(w, kg, sat_add(mend, L), eb)) != WR_OK)
            return err;
    }
    /* Retract results that no longer hold, then emit the late update. The decoded
     * sessions' start/end are plain numbers, still valid. */
    keys_from_row(w, row);
    for (size_t i = 0; i < n; i++) {
        const session *s = &w->sess[i];
        if (!s->merge || !s->fired || s->start == mstart)
            continue;
        w->stats.retracted++;
        if (w->out.retract && (err = emit_result(w, s->start, s->end, NULL, 0, true, eb)) != WR_OK)
            return err;
    }
    if (fired) {
        w->stats.late_fired++;
        return emit_result(w, mstart, mend, cur->p, cur->len, false, eb);
    }
    return WR_OK;

too_late:
    w->stats.too_late++;
    return w->out.late(w->out.arg, row, t, eb);
agg_err:
    keys_from_row(w, row);
    agg_fail(w, err, "session", w->result, mstart, mend, eb);
    if (vlen == 0)
        wr_state_remove(w->st, ent);
    return err;
buf_err:
    if (vlen == 0)
        wr_state_remove(w->st, ent);
    return buf_fail(err, "session list", eb);
}

/* Brings one key's sessions up to the watermark: fires every unfired session with
 * end <= W and removes those with end + L <= W. Idempotent for a given W. */
static wr_err session_key_due(wr_window_op *w, int kg, const void *key, size_t klen, wr_errbuf *eb)
{
    int64_t W = w->wm;
    wr_state_entry *ent = NULL;
    const void *val;
    size_t vlen, n;
    uint32_t cnt = 0;
    bool changed = false;
    wr_err err;

    if ((err = wr_state_lookup(w->st, kg, WR_STATE_NS_GLOBAL, key, klen, false, &ent, eb)) != WR_OK)
        return err;
    if (!ent)
        return WR_OK; /* a stale timer */
    val = wr_state_value(ent, &vlen);
    if ((err = sess_decode(w, val, vlen, &n, eb)) != WR_OK)
        return err;
    if ((err = keys_from_bytes(w, key, klen, eb)) != WR_OK)
        return err;
    /* emit first: the results point into the entry's value */
    for (size_t i = 0; i < n; i++) {
        session *s = &w->sess[i];
        if (s->fired || s->end > W)
            continue;
        s->fired = true;
        changed = true;
        w->stats.fired++;
        if ((err = emit_result(w, s->start, s->end, s->acc, s->acc_len, false, eb)) != WR_OK)
            return err;
    }
    wr_buf_clear(&w->val);
    if ((err = wr_buf_reserve(&w->val, 4)) != WR_OK)
        return buf_fail(err, "session list", eb);
    w->val.len = 4;
    for (size_t i = 0; i < n; i++) {
        const session *s = &w->sess[i];
        if (sat_add(s->end, w->lateness) <= W) {
            changed = true;
            continue;
        }
        if ((err = sess_put(&w->val, s->start, s->end, s->fired, s->acc, s->acc_len)) != WR_OK)
            return buf_fail(err, "session list", eb);
        cnt++;
    }
    if (!changed)
        return WR_OK;
    if (cnt == 0) {
        wr_state_remove(w->st, ent);
        return WR_OK;
    }
    sess_count(&w->val, cnt);
    return wr_state_set(w->st, ent, w->val.p, w->val.len, eb);
}

/* Handles the timer namespace ns (<= W): every key in it, a chunk at a time. Sets *done
 * when the namespace was dropped. */
static wr_err session_timers(wr_window_op *w, int64_t ns, bool *done, wr_errbuf *eb)
{
    wr_state_iter *it;
    int kg;
    const void *key, *val;
    size_t klen, vlen, nk = 0;
    bool more = false;
    wr_err err, ierr = WR_OK;

    wr_buf_clear(&w->chunk);
    if ((err = wr_state_iter_new(w->st, ns, false, &it, eb)) != WR_OK)
        return err;
    while (nk < TIMER_CHUNK_KEYS && w->chunk.len < TIMER_CHUNK_BYTES) {
        if (!wr_state_iter_next(it, &kg, &key, &klen, &val, &vlen, &ierr, eb))
            break;
        if ((err = wr_buf_append(&w->chunk, key, klen)) != WR_OK) {
            wr_state_iter_free(it);
            return buf_fail(err, "timer keys", eb);
        }
        w->tkeys[nk++] = (timer_key){.kg = kg, .off = w->chunk.len - klen, .len = klen};
    }
    more = ierr == WR_OK && (nk == TIMER_CHUNK_KEYS || w->chunk.len >= TIMER_CHUNK_BYTES);
    wr_state_iter_free(it);
    if (ierr)
        return ierr;
    for (size_t i = 0; i < nk; i++) {
        err = session_key_due(w, w->tkeys[i].kg, w->chunk.p + w->tkeys[i].off, w->tkeys[i].len, eb);
        if (err)
            return err;
    }
    if (more) {
        /* a large namespace: remove what was handled and read on */
        for (size_t i = 0; i < nk; i++) {
            wr_state_entry *e;
            err = wr_state_lookup(w->st, w->tkeys[i].kg, ns, w->chunk.p + w->tkeys[i].off,
                                  w->tkeys[i].len, false, &e, eb);
            if (err)
                return err;
            if (e)
                wr_state_remove(w->st, e);
        }
        *done = false;
        return WR_OK;
    }
    *done = true;
    return wr_state_drop_ns(w->st, ns, eb);
}

/* At the end of input: fires every session not fired yet (those whose end saturated have
 * no timer), then drops them all. */
static wr_err session_sweep_all(wr_window_op *w, wr_errbuf *eb)
{
    wr_state_iter *it;
    int kg;
    const void *key, *val;
    size_t klen, vlen, n;
    wr_err err, ierr = WR_OK;

    if ((err = wr_state_iter_new(w->st, WR_STATE_NS_GLOBAL, false, &it, eb)) != WR_OK)
        return err;
    while (wr_state_iter_next(it, &kg, &key, &klen, &val, &vlen, &ierr, eb)) {
        if ((err = sess_decode(w, val, vlen, &n, eb)) != WR_OK ||
            (err = keys_from_bytes(w, key, klen, eb)) != WR_OK)
            goto out;
        for (size_t i = 0; i < n; i++) {
            const session *s = &w->sess[i];
            if (s->fired)
                continue;
            w->stats.fired++;
            if ((err = emit_result(w, s->start, s->end, s->acc, s->acc_len, false, eb)) != WR_OK)
                goto out;
        }
    }
    err = ierr;
out:
    wr_state_iter_free(it);
    if (err)
        return err;
    return wr_state_drop_ns(w->st, WR_STATE_NS_GLOBAL, eb);
}

static wr_err session_advance(wr_window_op *w, wr_errbuf *eb)
{
    int64_t ns, dropped = INT64_MIN;
    bool have_dropped = false;
    wr_err err;

    while (wr_state_min_ns(w->st, &ns) && ns <= w->wm && ns != WR_STATE_NS_GLOBAL) {
        bool done;
        if (have_dropped && ns <= dropped)
            return wr_fail(eb, WR_EIO, "window: state store still reports dropped namespace %lld",
                           (long long)ns);
        if ((err = session_timers(w, ns, &done, eb)) != WR_OK)
            return err;
        if (done) {
            dropped = ns;
            have_dropped = true;
        }
    }
    if (w->wm == INT64_MAX)
        return session_sweep_all(w, eb);
    return WR_OK;
}

/* ---- restore ---- */

typedef struct ns_collect {
    int64_t *ns;
    size_t n, cap;
} ns_collect;

static void ns_count(void *arg, int64_t ns)
{
    if (ns != WR_STATE_NS_GLOBAL)
        ((ns_collect *)arg)->cap++;
}

static void ns_add_live(void *arg, int64_t ns)
{
    ns_collect *c = arg;
    if (ns != WR_STATE_NS_GLOBAL && c->n < c->cap)
        c->ns[c->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

wr_err wr_window_restore(wr_window_op *w, int64_t wm, wr_errbuf *eb)
{
    ns_collect c = {0};

    w->wm = wm;
    w->n_live = 0;
    if (w->kind == WR_WINDOW_SESSION) /* timers are namespaces: the store knows them */
        return WR_OK;
    /* Every namespace but the global one is a slice end (namespaces are distinct). */
    wr_state_each_ns(w->st, ns_count, &c);
    if (c.cap > w->cap_live) {
        int64_t *n = realloc(w->live, sizeof *n * c.cap);
        if (!n)
            return wr_fail(eb, WR_ENOMEM, "window: out of memory restoring %zu live slices", c.cap);
        w->live = n;
        w->cap_live = c.cap;
    }
    c.ns = w->live;
    wr_state_each_ns(w->st, ns_add_live, &c);
    qsort(w->live, c.n, sizeof *w->live, cmp_i64);
    w->n_live = c.n;
    return WR_OK;
}

/* ---- entry points ---- */

wr_err wr_window_process(wr_window_op *w, const wr_value *row, int64_t event_time, wr_errbuf *eb)
{
    int kg;
    wr_err err;

    if ((err = wr_window_key_encode(row, w->key_cols, w->n_keys, &w->key)) != WR_OK)
        return wr_fail(eb, err, "window: cannot encode the record's key: %s", wr_strerror(err));
    kg = wr_keygroup_of(wr_key_hash(row, w->key_cols, w->n_keys), w->max_par);
    if (w->kind == WR_WINDOW_SESSION)
        return session_process(w, row, event_time, kg, eb);
    return sliced_process(w, row, event_time, kg, eb);
}

wr_err wr_window_advance(wr_window_op *w, int64_t wm, wr_errbuf *eb)
{
    int64_t old = w->wm;

    if (wm <= old)
        return WR_OK;
    w->wm = wm;
    if (w->kind == WR_WINDOW_SESSION)
        return session_advance(w, eb);
    return sliced_advance(w, old, wm, eb);
}
