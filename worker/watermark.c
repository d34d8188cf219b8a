/*
 * watermark.c — per-partition watermark generation and per-input watermark merging
 * (see watermark.h). Pure state machines: time comes in as arguments.
 *
 * Arithmetic saturates: a partition's watermark max_ts − bound stops at WR_WM_MIN (and,
 * for a negative bound, at WR_WM_MAX), and idleness compares elapsed time without
 * overflowing, so extreme event times and clocks never wrap.
 */
#include "watermark.h"

#include <assert.h>
#include <stdlib.h>

typedef struct wm_part {
    bool seen;         /* a record has arrived */
    bool finished;     /* reached the end of a bounded source */
    int64_t max_ts;    /* the largest event time seen (when seen) */
    int64_t active_ms; /* creation or the last record */
} wm_part;

struct wr_wm_source {
    int nparts;
    int64_t bound;
    int64_t idle_timeout;
    wr_wm last; /* the previous result: outputs never decrease */
    wm_part parts[];
};

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b > 0 ? INT64_MIN : INT64_MAX;
    return r;
}

wr_wm_source *wr_wm_source_new(int nparts, int64_t max_out_of_orderness_ms, int64_t idle_timeout_ms,
                               int64_t now_ms)
{
    wr_wm_source *w;

    assert(nparts >= 0);
    w = calloc(1, sizeof *w + (size_t)nparts * sizeof w->parts[0]);
    if (!w)
        return NULL;
    w->nparts = nparts;
    w->bound = max_out_of_orderness_ms;
    w->idle_timeout = idle_timeout_ms;
    w->last.time = WR_WM_MIN;
    w->last.idle = false;
    for (int i = 0; i < nparts; i++)
        w->parts[i].active_ms = now_ms;
    return w;
}

void wr_wm_source_free(wr_wm_source *w)
{
    free(w);
}

void wr_wm_source_observe(wr_wm_source *w, int part, int64_t ts, int64_t now_ms)
{
    wm_part *p;

    assert(part >= 0 && part < w->nparts);
    p = &w->parts[part];
    if (!p->seen || ts > p->max_ts)
        p->max_ts = ts;
    p->seen = true;
    p->active_ms = now_ms;
}

void wr_wm_source_finish(wr_wm_source *w, int part)
{
    assert(part >= 0 && part < w->nparts);
    w->parts[part].finished = true;
}

/* True if p has had no record for idle_timeout ms at now. */
static bool part_idle(const wr_wm_source *w, const wm_part *p, int64_t now_ms)
{
    return w->idle_timeout > 0 && sat_sub(now_ms, p->active_ms) >= w->idle_timeout;
}

wr_wm wr_wm_source_current(wr_wm_source *w, int64_t now_ms)
{
    int64_t lo = WR_WM_MAX, hi = WR_WM_MIN;
    bool any_active = false, any_open = false;
    wr_wm r;

    for (int i = 0; i < w->nparts; i++) {
        const wm_part *p = &w->parts[i];
        int64_t t;

        if (p->finished)
            continue;
        any_open = true;
        t = p->seen ? sat_sub(p->max_ts, w->bound) : WR_WM_MIN;
        if (part_idle(w, p, now_ms)) {
            if (t > hi)
                hi = t;
        } else {
            any_active = true;
            if (t < lo)
                lo = t;
        }
    }
    if (!any_open) {
        r.time = WR_WM_MAX;
        r.idle = false;
    } else if (any_active) {
        r.time = lo;
        r.idle = false;
    } else {
        r.time = hi;
        r.idle = true;
    }
    if (r.time < w->last.time)
        r.time = w->last.time;
    w->last = r;
    return r;
}

/* ---- merging channels ---------------------------------------------------------------- */

typedef struct wm_chan {
    int64_t time;
    bool idle;
    bool ended;
} wm_chan;

struct wr_wm_merge {
    int n;
    int64_t cur;
    wm_chan ch[];
};

wr_wm_merge *wr_wm_merge_new(int nchannels)
{
    wr_wm_merge *m;

    assert(nchannels >= 0);
    m = calloc(1, sizeof *m + (size_t)nchannels * sizeof m->ch[0]);
    if (!m)
        return NULL;
    m->n = nchannels;
    m->cur = WR_WM_MIN;
    for (int i = 0; i < nchannels; i++)
        m->ch[i].time = WR_WM_MIN;
    return m;
}

void wr_wm_merge_free(wr_wm_merge *m)
{
    free(m);
}

/* Recomputes the combined watermark; returns true and sets *out if it advanced. */
static bool recompute(wr_wm_merge *m, wr_wm *out)
{
    int64_t lo = WR_WM_MAX, hi = WR_WM_MIN, t;
    bool any_active = false, any_open = false;

    for (int i = 0; i < m->n; i++) {
        const wm_chan *c = &m->ch[i];
        if (c->ended)
            continue;
        any_open = true;
        if (c->idle) {
            if (c->time > hi)
                hi = c->time;
        } else {
            any_active = true;
            if (c->time < lo)
                lo = c->time;
        }
    }
    if (!any_open)
        return false; /* every channel ended: stay put */
    t = any_active ? lo : hi;
    if (t <= m->cur)
        return false;
    m->cur = t;
    if (out) {
        out->time = t;
        out->idle = !any_active;
    }
    return true;
}

bool wr_wm_merge_update(wr_wm_merge *m, int ch, wr_wm in, wr_wm *out)
{
    wm_chan *c;

    assert(ch >= 0 && ch < m->n);
    c = &m->ch[ch];
    if (c->ended)
        return false;
    /* A channel's own watermark never goes back either (its sender's never does). */
    if (in.time > c->time)
        c->time = in.time;
    c->idle = in.idle;
    return recompute(m, out);
}

bool wr_wm_merge_end(wr_wm_merge *m, int ch, wr_wm *out)
{
    assert(ch >= 0 && ch < m->n);
    if (m->ch[ch].ended)
        return false;
    m->ch[ch].ended = true;
    return recompute(m, out);
}

int64_t wr_wm_merge_current(const wr_wm_merge *m)
{
    return m->cur;
}
