/*
 * checkpoint.c — the checkpoint coordinator of one job (contract and rules in
 * checkpoint.h): trigger timing, acknowledgements, failures, retention and the reference
 * counts of shared storage files.
 *
 * History. An array of entries, oldest first (ids increase along it). An entry stays while
 * it is among the newest `history` ones, is retained, or is pending; the rest are freed
 * after every event, so the array holds at most history + retained entries. Entries are
 * heap objects: a wr_ck_entry pointer stays valid until its entry is forgotten.
 *
 * Reference counts. A path's count is the number of retained checkpoints whose acks name
 * it (a path named by several tasks of one checkpoint counts once). The counts live in an
 * open-addressing hash map (linear probing, at most half full, backward-shift deletion)
 * that owns the path strings; a retained entry keeps its distinct paths as pointers into
 * the map. The pending entry keeps its own copies, in ack order, until it completes: then
 * they are sorted, made distinct and counted. A path leaves the map (and a DELETE action
 * takes its string) when its count reaches zero, so the map holds exactly the paths of
 * the retained checkpoints, except in one case: a retained checkpoint discarded while
 * another one is pending (wr_ckc_mark_corrupt) may leave a path at zero that an ack of the
 * pending one names. Deleting it would break the pending checkpoint if it completes, so
 * the path stays in the map with count zero ("deferred") until the pending checkpoint
 * ends: completed, it counts the path again; failed, the path is deleted then.
 * Files that only a failed checkpoint's acks name are never deleted here: the worker that
 * uploaded them may reference them in its next checkpoint (it does not learn which
 * checkpoints failed), so they cannot be told apart from files still in use.
 *
 * Where the header leaves a choice open:
 *   - a checkpoint times out when now - trigger_ms >= timeout_ms; an ack or decline that
 *     arrives then, before a tick saw it, is too late (the timeout is applied first);
 *   - wr_ckc_start of another attempt while a checkpoint is pending abandons it as
 *     wr_ckc_stop would (not counted); a start of the attempt already running is a no-op;
 *   - after a FAIL_JOB the next start begins a fresh failure count (the job was failed
 *     for its checkpoints and runs again); other restarts keep counting;
 *   - marking an id that is not retained (unknown, failed, discarded) corrupt is ignored;
 *   - wr_ckc_new returns NULL for ntasks < 1 or next_id < 1 as well.
 *
 * Actions. A FIFO of (kind, id, owned string). wr_ckc_next_action hands out the string;
 * taken actions are freed at the start of the next call that changes state, which gives
 * the lifetime the header promises. Running out of memory while queueing drops that
 * action (there is no caller to tell from a tick): a dropped TRIGGER makes the checkpoint
 * time out, a dropped DELETE leaves a file behind. Every other allocation failure leaves
 * the coordinator as it was: a trigger is retried at the next tick, an ack is not taken
 * (wr_ckc_ack returns false, the checkpoint times out), a completion that cannot count
 * its files fails the checkpoint with a reason saying so, wr_ckc_add_completed returns
 * WR_ENOMEM.
 */
#include "checkpoint.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ck_rec {
    wr_ck_entry e;
    /* pending: owned copies, in ack order, maybe repeated; retained: distinct, the map's
     * strings; otherwise none */
    char **paths;
    int npaths, cappaths;
    bool paths_owned;
} ck_rec;

typedef struct ref_slot {
    char *path; /* NULL: empty */
    uint64_t hash;
    int refs;
} ref_slot;

typedef struct ck_act {
    wr_cka_kind kind;
    int64_t id;
    char *str; /* DELETE: path; FAIL_JOB: reason */
} ck_act;

struct wr_ckc {
    wr_ckc_config cfg;
    int ntasks;
    int64_t next_id;

    bool running;
    bool job_failed; /* FAIL_JOB queued: no trigger until the next start */
    uint32_t attempt;
    int64_t start_ms;
    bool triggered; /* since start: last_trigger_ms is set */
    int64_t last_trigger_ms;
    bool ended; /* since start: last_end_ms is set */
    int64_t last_end_ms;
    int failures;

    ck_rec **hist; /* oldest first */
    int nhist, caphist;
    ck_rec *pending;
    int nretained;

    ref_slot *slots; /* nslots: 0 or a power of two */
    int nslots, nused, ndeferred;

    ck_act *acts; /* FIFO: [head, nacts) */
    int head, nacts, capacts;
};

/* ---- names and config ---- */

void wr_ckc_config_defaults(wr_ckc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->interval_ms = 0;
    cfg->timeout_ms = 600000;
    cfg->min_pause_ms = 0;
    cfg->retained = 3;
    cfg->tolerable_failures = 3;
    cfg->history = 50;
}

const char *wr_ck_status_name(wr_ck_status s)
{
    switch (s) {
    case WR_CK_PENDING:
        return "IN_PROGRESS";
    case WR_CK_COMPLETED:
        return "COMPLETED";
    case WR_CK_FAILED:
        return "FAILED";
    }
    return "UNKNOWN";
}

/* ---- small helpers ---- */

/* A formatted heap string, or NULL on OOM. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap, ap2;
    char *s;
    int n;

    va_start(ap, f);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, f, ap2);
    va_end(ap2);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- actions ---- */

/* Queues an action; takes str (freed if the action is dropped for lack of memory). */
static void push(wr_ckc *ck, wr_cka_kind kind, int64_t id, char *str)
{
    if (ck->nacts == ck->capacts) {
        int cap = ck->capacts ? ck->capacts * 2 : 16;
        ck_act *na = realloc(ck->acts, (size_t)cap * sizeof *na);
        if (!na) {
            free(str);
            return;
        }
        ck->acts = na;
        ck->capacts = cap;
    }
    ck->acts[ck->nacts++] = (ck_act){kind, id, str};
}

/* Frees the actions taken so far: their strings were valid until this call. */
static void gc_actions(wr_ckc *ck)
{
    if (ck->head == 0)
        return;
    for (int i = 0; i < ck->head; i++)
        free(ck->acts[i].str);
    memmove(ck->acts, ck->acts + ck->head, (size_t)(ck->nacts - ck->head) * sizeof *ck->acts);
    ck->nacts -= ck->head;
    ck->head = 0;
}

bool wr_ckc_next_action(wr_ckc *ck, wr_cka *out)
{
    const ck_act *a;

    if (ck->head == ck->nacts)
        return false;
    a = &ck->acts[ck->head++];
    out->kind = a->kind;
    out->id = a->id;
    out->path = a->kind == WR_CKA_DELETE ? a->str : NULL;
    out->reason = a->kind == WR_CKA_FAIL_JOB ? a->str : NULL;
    return true;
}

/* ---- the reference-count map ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a, then a final mix */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    return h ^ (h >> 33);
}

static int map_find(const wr_ckc *ck, const char *path, uint64_t h)
{
    size_t mask;

    if (ck->nslots == 0)
        return -1;
    mask = (size_t)ck->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (!ck->slots[i].path)
            return -1;
        if (ck->slots[i].hash == h && strcmp(ck->slots[i].path, path) == 0)
            return (int)i;
    }
}

/* Places an entry known to be absent; the map has room. */
static void map_place(ref_slot *slots, int nslots, ref_slot s)
{
    size_t mask = (size_t)nslots - 1, i = s.hash & mask;
    while (slots[i].path)
        i = (i + 1) & mask;
    slots[i] = s;
}

/* Makes room for `extra` more paths (at most half full afterwards). */
static wr_err map_reserve(wr_ckc *ck, int extra)
{
    int64_t want = ((int64_t)ck->nused + extra) * 2;
    int cap = ck->nslots ? ck->nslots : 16;
    ref_slot *ns;

    if (want <= ck->nslots)
        return WR_OK;
    while (cap < want) {
        if (cap > INT32_MAX / 2)
            return WR_ENOMEM;
        cap *= 2;
    }
    ns = calloc((size_t)cap, sizeof *ns);
    if (!ns)
        return WR_ENOMEM;
    for (int i = 0; i < ck->nslots; i++)
        if (ck->slots[i].path)
            map_place(ns, cap, ck->slots[i]);
    free(ck->slots);
    ck->slots = ns;
    ck->nslots = cap;
    return WR_OK;
}

/* Empties slot i and closes the gap (backward-shift deletion); does not free the path. */
static void map_remove(wr_ckc *ck, int idx)
{
    size_t mask = (size_t)ck->nslots - 1, i = (size_t)idx, j = i;

    for (;;) {
        size_t k;
        j = (j + 1) & mask;
        if (!ck->slots[j].path)
            break;
        k = ck->slots[j].hash & mask;
        /* the entry at j stays if its home k lies cyclically in (i, j] */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        ck->slots[i] = ck->slots[j];
        i = j;
    }
    ck->slots[i] = (ref_slot){0};
    ck->nused--;
}

/* Removes a path whose count is zero and queues its DELETE (which takes the string). */
static void delete_path(wr_ckc *ck, int idx)
{
    char *p = ck->slots[idx].path;
    map_remove(ck, idx);
    push(ck, WR_CKA_DELETE, 0, p);
}

/* Deletes the deferred paths (count zero) once no pending checkpoint can name them. */
static void sweep_deferred(wr_ckc *ck)
{
    if (ck->ndeferred == 0)
        return;
    /* A removal shifts later entries into slot i: look at i again before moving on. An
     * entry wrapped around from the start may come back to a visited slot; it is looked
     * at twice, which is harmless. */
    for (int i = 0; i < ck->nslots;) {
        if (ck->slots[i].path && ck->slots[i].refs == 0)
            delete_path(ck, i);
        else
            i++;
    }
    ck->ndeferred = 0;
}

/* Counts the distinct paths of a completed entry (rec->paths owned, sorted, distinct;
 * room reserved): afterwards they point at the map's strings. */
static void map_count(wr_ckc *ck, ck_rec *rec)
{
    for (int i = 0; i < rec->npaths; i++) {
        char *p = rec->paths[i];
        uint64_t h = hash_str(p);
        int idx = map_find(ck, p, h);
        if (idx >= 0) {
            if (ck->slots[idx].refs++ == 0)
                ck->ndeferred--;
            free(p);
            rec->paths[i] = ck->slots[idx].path;
        } else {
            map_place(ck->slots, ck->nslots, (ref_slot){p, h, 1});
            ck->nused++;
        }
    }
    rec->paths_owned = false;
}

int wr_ckc_refs(const wr_ckc *ck, const char *path)
{
    int idx = path ? map_find(ck, path, hash_str(path)) : -1;
    return idx >= 0 ? ck->slots[idx].refs : 0;
}

/* ---- entries and history ---- */

static void rec_free_paths(ck_rec *rec)
{
    if (rec->paths_owned)
        for (int i = 0; i < rec->npaths; i++)
            free(rec->paths[i]);
    free(rec->paths);
    rec->paths = NULL;
    rec->npaths = rec->cappaths = 0;
    rec->paths_owned = false;
}

static void rec_free(ck_rec *rec)
{
    if (!rec)
        return;
    if (rec->e.blobs)
        for (int t = 0; t < rec->e.ntasks; t++)
            free(rec->e.blobs[t]);
    free(rec->e.blobs);
    free(rec->e.blob_lens);
    free(rec->e.reason);
    rec_free_paths(rec);
    free(rec);
}

static ck_rec *rec_new(int ntasks)
{
    ck_rec *rec = calloc(1, sizeof *rec);
    if (!rec)
        return NULL;
    rec->e.ntasks = ntasks;
    rec->e.blobs = calloc((size_t)ntasks, sizeof *rec->e.blobs);
    rec->e.blob_lens = calloc((size_t)ntasks, sizeof *rec->e.blob_lens);
    if (!rec->e.blobs || !rec->e.blob_lens) {
        rec_free(rec);
        return NULL;
    }
    return rec;
}

static wr_err hist_reserve(wr_ckc *ck)
{
    int cap;
    ck_rec **nh;

    if (ck->nhist < ck->caphist)
        return WR_OK;
    cap = ck->caphist ? ck->caphist * 2 : 16;
    nh = realloc(ck->hist, (size_t)cap * sizeof *nh);
    if (!nh)
        return WR_ENOMEM;
    ck->hist = nh;
    ck->caphist = cap;
    return WR_OK;
}

/* Forgets the entries that are neither among the newest `history`, retained nor pending. */
static void trim_history(wr_ckc *ck)
{
    int old = ck->nhist - ck->cfg.history, n = 0;

    if (old <= 0)
        return;
    for (int i = 0; i < ck->nhist; i++) {
        ck_rec *rec = ck->hist[i];
        if (i < old && !rec->e.retained && rec != ck->pending)
            rec_free(rec);
        else
            ck->hist[n++] = rec;
    }
    ck->nhist = n;
}

static ck_rec *find_rec(const wr_ckc *ck, int64_t id)
{
    for (int i = ck->nhist - 1; i >= 0; i--)
        if (ck->hist[i]->e.id == id)
            return ck->hist[i];
    return NULL;
}

/* ---- discarding retained checkpoints ---- */

static bool pending_names(const wr_ckc *ck, const char *path)
{
    if (!ck->pending)
        return false;
    for (int i = 0; i < ck->pending->npaths; i++)
        if (strcmp(ck->pending->paths[i], path) == 0)
            return true;
    return false;
}

/* A retained checkpoint is no longer kept: DISCARD, then its files lose a reference and
 * those at zero are deleted (or deferred, see the top of the file). */
static void discard(wr_ckc *ck, ck_rec *rec)
{
    assert(rec->e.retained && !rec->paths_owned);
    rec->e.retained = false;
    ck->nretained--;
    push(ck, WR_CKA_DISCARD, rec->e.id, NULL);
    for (int i = 0; i < rec->npaths; i++) {
        const char *p = rec->paths[i];
        int idx = map_find(ck, p, hash_str(p));
        assert(idx >= 0 && ck->slots[idx].refs > 0);
        if (--ck->slots[idx].refs > 0)
            continue;
        if (pending_names(ck, p))
            ck->ndeferred++;
        else
            delete_path(ck, idx);
    }
    rec_free_paths(rec);
}

static void apply_retention(wr_ckc *ck)
{
    for (int i = 0; i < ck->nhist && ck->nretained > ck->cfg.retained; i++)
        if (ck->hist[i]->e.retained)
            discard(ck, ck->hist[i]);
}

/* ---- the pending checkpoint ---- */

/* The pending checkpoint failed with reason (taken; NULL after OOM). Counted failures
 * may fail the job. */
static void fail_pending(wr_ckc *ck, int64_t now, char *reason, bool counted)
{
    ck_rec *rec = ck->pending;

    rec->e.status = WR_CK_FAILED;
    rec->e.end_ms = now;
    free(rec->e.reason);
    rec->e.reason = reason;
    rec_free_paths(rec);
    ck->pending = NULL;
    ck->ended = true;
    ck->last_end_ms = now;
    sweep_deferred(ck);
    if (counted) {
        ck->failures++;
        if (ck->failures > ck->cfg.tolerable_failures && !ck->job_failed) {
            const char *why = reason ? reason : "out of memory";
            ck->job_failed = true;
            if (ck->failures == 1)
                push(ck, WR_CKA_FAIL_JOB, rec->e.id,
                     fmt("checkpoint %" PRId64 " failed: %s; 1 failed checkpoint exceeds "
                         "checkpoint.tolerable_failures (%d)",
                         rec->e.id, why, ck->cfg.tolerable_failures));
            else
                push(ck, WR_CKA_FAIL_JOB, rec->e.id,
                     fmt("checkpoint %" PRId64 " failed: %s; %d consecutive failed checkpoints "
                         "exceed checkpoint.tolerable_failures (%d)",
                         rec->e.id, why, ck->failures, ck->cfg.tolerable_failures));
        }
    }
    trim_history(ck);
}

/* Every task acknowledged the pending checkpoint. */
static void complete_pending(wr_ckc *ck, int64_t now)
{
    ck_rec *rec = ck->pending;
    int n = 0;

    if (rec->npaths > 1)
        qsort(rec->paths, (size_t)rec->npaths, sizeof *rec->paths, cmp_str);
    for (int i = 0; i < rec->npaths; i++) {
        if (n > 0 && strcmp(rec->paths[n - 1], rec->paths[i]) == 0)
            free(rec->paths[i]);
        else
            rec->paths[n++] = rec->paths[i];
    }
    rec->npaths = n;
    if (map_reserve(ck, n) != WR_OK) {
        fail_pending(
            ck, now,
            fmt("out of memory counting the %d shared files of checkpoint %" PRId64, n, rec->e.id),
            true);
        return;
    }
    map_count(ck, rec);
    rec->e.status = WR_CK_COMPLETED;
    rec->e.end_ms = now;
    rec->e.retained = true;
    ck->nretained++;
    ck->pending = NULL;
    ck->failures = 0;
    ck->ended = true;
    ck->last_end_ms = now;
    push(ck, WR_CKA_COMPLETE, rec->e.id, NULL);
    sweep_deferred(ck); /* every deferred path was named by rec: none is left */
    apply_retention(ck);
    trim_history(ck);
}

static void check_timeout(wr_ckc *ck, int64_t now)
{
    if (!ck->pending || now - ck->pending->e.trigger_ms < ck->cfg.timeout_ms)
        return;
    fail_pending(ck, now, fmt("timed out after %.1f s", (double)ck->cfg.timeout_ms / 1000.0), true);
}

static void trigger(wr_ckc *ck, int64_t now)
{
    ck_rec *rec;

    if (hist_reserve(ck) != WR_OK)
        return;
    rec = rec_new(ck->ntasks);
    if (!rec)
        return; /* retried at the next tick */
    rec->e.id = ck->next_id++;
    rec->e.attempt = ck->attempt;
    rec->e.status = WR_CK_PENDING;
    rec->e.trigger_ms = now;
    rec->paths_owned = true;
    ck->hist[ck->nhist++] = rec;
    ck->pending = rec;
    ck->triggered = true;
    ck->last_trigger_ms = now;
    push(ck, WR_CKA_TRIGGER, rec->e.id, NULL);
    trim_history(ck);
}

static int64_t trigger_due(const wr_ckc *ck)
{
    int64_t due = (ck->triggered ? ck->last_trigger_ms : ck->start_ms) + ck->cfg.interval_ms;
    if (ck->ended && ck->last_end_ms + ck->cfg.min_pause_ms > due)
        due = ck->last_end_ms + ck->cfg.min_pause_ms;
    return due;
}

/* ---- the public events ---- */

wr_ckc *wr_ckc_new(const wr_ckc_config *cfg, int ntasks, int64_t next_id)
{
    wr_ckc *ck;

    if (ntasks < 1 || next_id < 1)
        return NULL;
    ck = calloc(1, sizeof *ck);
    if (!ck)
        return NULL;
    if (cfg)
        ck->cfg = *cfg;
    else
        wr_ckc_config_defaults(&ck->cfg);
    if (ck->cfg.interval_ms < 0)
        ck->cfg.interval_ms = 0;
    if (ck->cfg.timeout_ms <= 0)
        ck->cfg.timeout_ms = 600000;
    if (ck->cfg.min_pause_ms < 0)
        ck->cfg.min_pause_ms = 0;
    if (ck->cfg.retained < 1)
        ck->cfg.retained = 3;
    if (ck->cfg.tolerable_failures < 0)
        ck->cfg.tolerable_failures = 0;
    if (ck->cfg.history < 1)
        ck->cfg.history = 50;
    ck->ntasks = ntasks;
    ck->next_id = next_id;
    return ck;
}

void wr_ckc_free(wr_ckc *ck)
{
    if (!ck)
        return;
    for (int i = 0; i < ck->nhist; i++)
        rec_free(ck->hist[i]);
    free(ck->hist);
    for (int i = 0; i < ck->nslots; i++)
        free(ck->slots[i].path);
    free(ck->slots);
    for (int i = 0; i < ck->nacts; i++)
        free(ck->acts[i].str);
    free(ck->acts);
    free(ck);
}

void wr_ckc_start(wr_ckc *ck, int64_t now, uint32_t attempt)
{
    gc_actions(ck);
    if (ck->running && ck->attempt == attempt)
        return;
    if (ck->pending)
        fail_pending(ck, now,
                     fmt("attempt %" PRIu32 " was replaced by attempt %" PRIu32,
                         ck->pending->e.attempt, attempt),
                     false);
    ck->running = true;
    ck->attempt = attempt;
    ck->start_ms = now;
    ck->triggered = false;
    ck->ended = false;
    if (ck->job_failed) {
        /* the job was failed for its checkpoints and runs again: a fresh count */
        ck->job_failed = false;
        ck->failures = 0;
    }
}

void wr_ckc_stop(wr_ckc *ck, int64_t now, const char *reason)
{
    gc_actions(ck);
    if (ck->pending)
        fail_pending(ck, now, strdup(reason ? reason : "the job stopped"), false);
    ck->running = false;
}

bool wr_ckc_running(const wr_ckc *ck)
{
    return ck->running;
}

void wr_ckc_tick(wr_ckc *ck, int64_t now)
{
    gc_actions(ck);
    check_timeout(ck, now);
    if (ck->running && !ck->job_failed && ck->cfg.interval_ms > 0 && !ck->pending &&
        now >= trigger_due(ck))
        trigger(ck, now);
}

bool wr_ckc_ack(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, int task, const void *blob,
                size_t blob_len, const char *const *shared, int nshared, uint64_t state_bytes,
                uint64_t uploaded_bytes)
{
    ck_rec *rec;
    void *copy;
    int had;

    gc_actions(ck);
    check_timeout(ck, now);
    rec = ck->pending;
    if (!rec || rec->e.id != id || rec->e.attempt != attempt || task < 0 || task >= ck->ntasks ||
        rec->e.blobs[task])
        return false;
    if (nshared < 0 || !shared)
        nshared = 0;

    copy = malloc(blob_len ? blob_len : 1); /* non-NULL: marks the task as acknowledged */
    if (!copy)
        return false;
    if (blob_len)
        memcpy(copy, blob, blob_len);
    if (rec->npaths + nshared > rec->cappaths) {
        int cap = rec->cappaths ? rec->cappaths : 16;
        char **np;
        while (cap < rec->npaths + nshared)
            cap *= 2;
        np = realloc(rec->paths, (size_t)cap * sizeof *np);
        if (!np) {
            free(copy);
            return false;
        }
        rec->paths = np;
        rec->cappaths = cap;
    }
    had = rec->npaths;
    for (int i = 0; i < nshared; i++) {
        char *p;
        if (!shared[i])
            continue;
        p = strdup(shared[i]);
        if (!p) {
            while (rec->npaths > had)
                free(rec->paths[--rec->npaths]);
            free(copy);
            return false;
        }
        rec->paths[rec->npaths++] = p;
    }
    rec->e.blobs[task] = copy;
    rec->e.blob_lens[task] = blob_len;
    rec->e.nacks++;
    rec->e.state_bytes += state_bytes;
    rec->e.uploaded_bytes += uploaded_bytes;
    if (rec->e.nacks == ck->ntasks)
        complete_pending(ck, now);
    return true;
}

void wr_ckc_decline(wr_ckc *ck, int64_t now, uint32_t attempt, int64_t id, const char *reason,
                    bool finished)
{
    gc_actions(ck);
    check_timeout(ck, now);
    if (!ck->pending || ck->pending->e.id != id || ck->pending->e.attempt != attempt)
        return;
    fail_pending(ck, now, strdup(reason ? reason : "declined"), !finished);
    if (finished)
        ck->running = false;
}

wr_err wr_ckc_add_completed(wr_ckc *ck, int64_t id, uint32_t attempt, int64_t trigger_ms,
                            int64_t end_ms, const void *const *blobs, const size_t *blob_lens,
                            const char *const *shared, int nshared, uint64_t state_bytes,
                            uint64_t uploaded_bytes)
{
    ck_rec *rec;
    int n = 0;

    gc_actions(ck);
    if (id < 1 || ck->pending || (ck->nhist > 0 && id <= ck->hist[ck->nhist - 1]->e.id))
        return WR_EINVAL;
    if (nshared < 0 || !shared)
        nshared = 0;
    rec = rec_new(ck->ntasks);
    if (!rec)
        return WR_ENOMEM;
    for (int t = 0; blobs && t < ck->ntasks; t++) {
        size_t len = blob_lens ? blob_lens[t] : 0;
        if (!blobs[t])
            continue;
        rec->e.blobs[t] = malloc(len ? len : 1);
        if (!rec->e.blobs[t])
            goto oom;
        if (len)
            memcpy(rec->e.blobs[t], blobs[t], len);
        rec->e.blob_lens[t] = len;
    }
    rec->paths_owned = true;
    if (nshared > 0) {
        rec->paths = calloc((size_t)nshared, sizeof *rec->paths);
        if (!rec->paths)
            goto oom;
        rec->cappaths = nshared;
    }
    for (int i = 0; i < nshared; i++) {
        if (!shared[i])
            continue;
        rec->paths[rec->npaths] = strdup(shared[i]);
        if (!rec->paths[rec->npaths])
            goto oom;
        rec->npaths++;
    }
    if (rec->npaths > 1)
        qsort(rec->paths, (size_t)rec->npaths, sizeof *rec->paths, cmp_str);
    for (int i = 0; i < rec->npaths; i++) {
        if (n > 0 && strcmp(rec->paths[n - 1], rec->paths[i]) == 0)
            free(rec->paths[i]);
        else
            rec->paths[n++] = rec->paths[i];
    }
    rec->npaths = n;
    if (map_reserve(ck, n) != WR_OK || hist_reserve(ck) != WR_OK)
        goto oom;

    map_count(ck, rec);
    rec->e.id = id;
    rec->e.attempt = attempt;
    rec->e.status = WR_CK_COMPLETED;
    rec->e.trigger_ms = trigger_ms;
    rec->e.end_ms = end_ms;
    rec->e.state_bytes = state_bytes;
    rec->e.uploaded_bytes = uploaded_bytes;
    rec->e.retained = true;
    rec->e.nacks = ck->ntasks;
    ck->hist[ck->nhist++] = rec;
    ck->nretained++;
    if (id >= ck->next_id)
        ck->next_id = id + 1;
    apply_retention(ck);
    trim_history(ck);
    return WR_OK;

oom:
    rec_free(rec);
    return WR_ENOMEM;
}

void wr_ckc_mark_corrupt(wr_ckc *ck, int64_t id, const char *reason)
{
    ck_rec *rec;
    char *why;

    gc_actions(ck);
    rec = find_rec(ck, id);
    if (!rec || !rec->e.retained)
        return;
    why = strdup(reason ? reason : "marked corrupt");
    if (why) {
        free(rec->e.reason);
        rec->e.reason = why;
    }
    rec->e.corrupt = true;
    discard(ck, rec);
    trim_history(ck);
}

/* ---- queries ---- */

const wr_ck_entry *wr_ckc_latest(const wr_ckc *ck)
{
    for (int i = ck->nhist - 1; i >= 0; i--)
        if (ck->hist[i]->e.retained && !ck->hist[i]->e.corrupt)
            return &ck->hist[i]->e;
    return NULL;
}

int64_t wr_ckc_next_id(const wr_ckc *ck)
{
    return ck->next_id;
}

int wr_ckc_failures(const wr_ckc *ck)
{
    return ck->failures;
}

int wr_ckc_count(const wr_ckc *ck)
{
    return ck->nhist;
}

const wr_ck_entry *wr_ckc_entry(const wr_ckc *ck, int i)
{
    return i >= 0 && i < ck->nhist ? &ck->hist[i]->e : NULL;
}

const wr_ck_entry *wr_ckc_find(const wr_ckc *ck, int64_t id)
{
    const ck_rec *rec = find_rec(ck, id);
    return rec ? &rec->e : NULL;
}
