/*
 * aligner.c — checkpoint barrier alignment over a task's input channels (contract and
 * rules in aligner.h).
 *
 * State: per channel two flags, `blocked` (it delivered the barrier being aligned, or
 * the alignment completed and its snapshot is not done yet) and `ended`; the counts of
 * blocked live channels and of ended channels, so that "every live channel delivered
 * the barrier" is one comparison: nblocked + nended == nchannels. `current` is the id
 * being aligned (0: none), `last` the newest completed one, `first_ms` the arrival of
 * `current`'s first barrier. Between a snapshot result and wr_aligner_done, `snapshotting`
 * is set and every live channel stays blocked.
 *
 * Invariants: current == 0 or current > last; a blocked channel is never ended; while
 * nothing is aligned and no snapshot is being taken, no channel is blocked.
 *
 * Barrier ids come from peers, so invalid ones (id < 1) are ignored like stale ones;
 * channel indexes are the caller's and out-of-range ones are ignored too. Memory: one
 * allocation in wr_aligner_new, none afterwards.
 */
#include "aligner.h"

#include <stdlib.h>

typedef struct aligner_chan {
    bool blocked;
    bool ended;
} aligner_chan;

struct wr_aligner {
    int nchannels;
    int nblocked; /* blocked channels (never ended ones) */
    int nended;
    bool snapshotting;
    int64_t current;
    int64_t last;
    int64_t first_ms;
    aligner_chan chans[];
};

wr_aligner *wr_aligner_new(int nchannels)
{
    wr_aligner *a;

    if (nchannels < 1)
        return NULL;
    a = calloc(1, sizeof *a + (size_t)nchannels * sizeof a->chans[0]);
    if (!a)
        return NULL;
    a->nchannels = nchannels;
    return a;
}

void wr_aligner_free(wr_aligner *a)
{
    free(a);
}

static void unblock_all(wr_aligner *a)
{
    for (int c = 0; c < a->nchannels; c++)
        a->chans[c].blocked = false;
    a->nblocked = 0;
}

/* Completes the alignment of `current` if every live channel is aligned. */
static void maybe_complete(wr_aligner *a, int64_t now, wr_align_result *r)
{
    if (a->current == 0 || a->nblocked + a->nended < a->nchannels)
        return;
    r->snapshot = true;
    r->id = a->current;
    r->alignment_ms = now - a->first_ms;
    a->last = a->current;
    a->current = 0;
    a->snapshotting = true;
    /* every live channel is blocked already: they stay so until wr_aligner_done */
}

wr_align_result wr_aligner_barrier(wr_aligner *a, int ch, int64_t id, int64_t now)
{
    wr_align_result r = {0};
    aligner_chan *c;

    if (ch < 0 || ch >= a->nchannels || id < 1)
        return r;
    c = &a->chans[ch];
    if (c->ended || id <= a->last || (a->current != 0 && id < a->current))
        return r; /* stale (or nothing can come after END) */
    if (a->snapshotting) {
        /* Only a blocked channel can be here (all live ones are), so the caller took from
         * it: it went on past the snapshot, which is as good as done. */
        wr_aligner_done(a);
    }
    if (id == a->current) {
        if (c->blocked)
            return r; /* a second barrier `current` on one channel: ignored */
    } else {
        /* id > current: a new alignment, abandoning the current one if any */
        if (a->current != 0) {
            r.aborted = a->current;
            unblock_all(a);
        }
        a->current = id;
        a->first_ms = now;
    }
    c->blocked = true;
    a->nblocked++;
    maybe_complete(a, now, &r);
    return r;
}

wr_align_result wr_aligner_end(wr_aligner *a, int ch, int64_t now)
{
    wr_align_result r = {0};
    aligner_chan *c;

    if (ch < 0 || ch >= a->nchannels || a->chans[ch].ended)
        return r;
    c = &a->chans[ch];
    if (c->blocked) {
        c->blocked = false;
        a->nblocked--;
    }
    c->ended = true;
    a->nended++;
    maybe_complete(a, now, &r);
    return r;
}

void wr_aligner_done(wr_aligner *a)
{
    if (!a->snapshotting)
        return; /* no completed alignment waits: blocked channels belong to `current` */
    a->snapshotting = false;
    unblock_all(a);
}

bool wr_aligner_blocked(const wr_aligner *a, int ch)
{
    return ch >= 0 && ch < a->nchannels && a->chans[ch].blocked;
}

int64_t wr_aligner_current(const wr_aligner *a)
{
    return a->current;
}

int64_t wr_aligner_last(const wr_aligner *a)
{
    return a->last;
}
