/*
 * state.c — keyed state: a write-back cache in front of RocksDB (contract in state.h).
 *
 * Cache. Each cached entry is one allocation: a cold part (its namespace's list links
 * and the value capacities, 24 bytes) right before the entry pointer, then the hot part
 * (namespace, value pointer and length, key length, key group, flags: 28 bytes), the key
 * bytes and an inline value area (at least the value's size for entries read from
 * RocksDB, at least INLINE_ROOM bytes for new ones, grown to fill malloc's rounding). A
 * hit reads one contiguous run of 28 + key + value bytes. A value that outgrows the
 * inline area moves to its own heap buffer, so an entry never moves and pointers to it
 * survive wr_state_set. Values are at most 4 GiB (as in RocksDB).
 *
 * The hash table is an array of (hash, entry) slots, linear probing, at most 5/8 full,
 * backward-shift deletion; a hit compares the stored hash, then namespace, key group,
 * key length and bytes. The hash is the cache's own (wyhash-style mixing inline for keys
 * up to 16 bytes, XXH3 beyond); entries do not store it, a removal recomputes it.
 *
 * Eviction is CLOCK over the slot array: a hit sets the entry's reference bit (no list
 * surgery, no extra links per entry). When an insert or a value growth would exceed the
 * budget, a hand sweeps the slots, clearing set bits and choosing entries whose bit is
 * clear, until the cache would be at 90% of its budget; the entry being returned or set
 * is never chosen. Dirty victims go to RocksDB in one WriteBatch (WAL off), and only then
 * are the victims freed; if the write fails nothing is dropped. A new entry starts with
 * its bit set. The table never shrinks, so after the cache shrank a lot (values grew) a
 * sweep reads more empty slots.
 *
 * Accounting (stats.cache_bytes): the slot array plus, per entry, its allocation (both
 * parts, key, inline area) and heap value capacity; malloc's own overhead is not
 * counted. After every call cache_bytes <= budget, except when the one entry being
 * returned or set (plus the slot array) is larger than the budget by itself: then it
 * stays, alone, until the next insert evicts it. Per-namespace records are not counted:
 * they cannot be evicted (they say where RocksDB may hold entries); there is one small
 * record (about 50 bytes plus map and heap slots) per distinct namespace.
 *
 * Entry flags: DIRTY (the cache differs from RocksDB), IN_DB (RocksDB may hold this key:
 * read from there, or written by a flush), DELETED (a tombstone). wr_state_remove frees
 * an entry that RocksDB cannot hold; otherwise it turns it into a dirty tombstone (key
 * only) that a lookup sees as absent and the next eviction or flush turns into a RocksDB
 * delete. A clean entry implies its namespace is on disk, so eviction never has to
 * forget a namespace. stats.entries counts tombstones too. wr_state_flush writes in two
 * passes over the slots: batches of dirty entries (nothing moves meanwhile), then it
 * drops the tombstones it wrote.
 *
 * Namespaces. A hash map ns -> record {cache entries (count and intrusive list), "may
 * have entries in RocksDB"}, and a binary min-heap of the records for wr_state_min_ns.
 * A record lives while it has cache entries or is on disk; wr_state_drop_ns forgets it.
 * A miss reads RocksDB only when the record is on disk. On open the set of namespaces
 * on disk is rebuilt with one seek per (key group, namespace): seek kg|ns+1 from each
 * namespace found, never a full scan.
 *
 * RocksDB keys: kg (2 bytes BE) | ns (8 bytes BE, sign bit flipped) | key bytes. Key
 * groups are limited to [0, 65534] so that the 10-byte prefix always has a successor
 * (the end of a range that holds exactly one (kg, ns)).
 *
 * wr_state_drop_ns on disk scans the namespace (one seek per key group that holds it,
 * empty key groups are jumped over) and deletes what it finds: point deletes for up to
 * DROP_POINT_MAX keys of a key group, then one range delete for the rest of that key
 * group. Writing a range delete for every key group of the range instead would leave
 * (key groups) range tombstones per dropped namespace in the memtable, and RocksDB 7.x
 * re-fragments the memtable's range tombstones after each DeleteRange, which makes reads
 * slow when namespaces are dropped at timer rates.
 *
 * Checkpoints (wr_state_checkpoint): the cache's dirty entries go to RocksDB
 * (wr_state_flush), then RocksDB's checkpoint runs with log_size_for_flush = 0, which
 * always flushes the memtables to SST files first. With the WAL off that flush is what
 * puts the memtable's entries into the checkpoint at all: the WAL files it would
 * otherwise copy are empty.
 */
#include "state.h"

#include <rocksdb/c.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_LEN 10
#define KG_MAX 65534
#define SIGN64 ((uint64_t)1 << 63)
#define MIN_BUDGET 4096
#define INLINE_ROOM 16         /* inline value bytes of a new entry, at least */
#define INLINE_MAX (64u << 10) /* values read from RocksDB above this go to the heap */
#define TABLE_MIN 16           /* slots */
#define NS_MIN 16              /* namespace map slots */
#define FLUSH_BATCH_BYTES (4u << 20)
#define DROP_POINT_MAX 16
#define DEFAULT_RDB_BYTES ((size_t)8 << 20)

enum { F_DIRTY = 1, F_IN_DB = 2, F_DELETED = 4, F_VICTIM = 8 };

typedef struct lnode {
    struct lnode *prev, *next;
} lnode;

typedef struct nsrec {
    int64_t ns;
    uint64_t ncache; /* cache entries, tombstones included */
    lnode entries;   /* sentinel of the list of those entries (through entry.nsl) */
    size_t heap_idx;
    bool on_disk;
} nsrec;

/* An entry is one allocation: the cold part (its namespace's list, capacities) right
 * before the entry pointer, then the hot part (what a hit reads), the key and the inline
 * value, so a hit reads one contiguous run of 28 + key + value bytes. */
typedef struct ecold {
    lnode nsl;     /* its namespace's list */
    uint32_t hcap; /* capacity of the heap value buffer; 0 while the value is inline */
    uint32_t icap; /* inline value bytes after the key */
} ecold;

struct wr_state_entry {
    int64_t ns;
    char *val; /* the inline area or a heap buffer */
    uint32_t vlen;
    uint32_t klen;
    uint16_t kg;
    uint8_t flags;
    uint8_t ref; /* CLOCK reference bit */
    char data[]; /* klen key bytes, then icap inline value bytes */
};

#define ENTRY_FIXED (sizeof(ecold) + offsetof(wr_state_entry, data))
#define VALUE_MAX UINT32_MAX

static inline ecold *C(const wr_state_entry *e)
{
    return (ecold *)(void *)e - 1;
}

typedef struct slot {
    uint64_t hash;
    wr_state_entry *e; /* NULL: empty */
} slot;

struct wr_state {
    slot *slots;
    size_t tmask; /* slots - 1 (a power of two minus one) */
    size_t count; /* entries in the table (tombstones included) */
    size_t bytes;
    size_t budget;
    int kg_first, kg_last;
    int open_iters;
    size_t hand;              /* the slot the CLOCK hand looks at next */
    wr_state_entry **victims; /* entries chosen by one eviction */
    size_t victims_cap;

    nsrec **nsmap; /* open addressing, NULL: empty */
    size_t nsmask;
    size_t nscount;
    nsrec **heap; /* min-heap by ns, nscount long */
    size_t heap_cap;
    nsrec *last_nsr; /* the namespace found last (misses often repeat a namespace) */

    rocksdb_t *db;
    rocksdb_column_family_handle_t **handles; /* every column family opened */
    int nhandles;
    rocksdb_column_family_handle_t *cf; /* ours, one of handles */
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *block_cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writebatch_t *batch;
    char *kbuf; /* an encoded RocksDB key */
    size_t kbuf_cap;
    char *dir;

    uint64_t evictions, db_writes, db_reads, db_hits;
};

struct wr_state_iter {
    wr_state *st;
    nsrec *nsr; /* NULL: the namespace is unknown, nothing to iterate */
    int64_t ns;
    bool sorted;
    lnode *cpos;          /* unsorted: the next cache entry */
    wr_state_entry **arr; /* sorted: the namespace's cache entries in (kg, key) order */
    size_t n, i;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *dit; /* NULL: no RocksDB side */
    unsigned char ub[PREFIX_LEN];
    int dkg;       /* key group of the RocksDB position */
    bool dstarted; /* the first seek happened */
    bool dstep;    /* step RocksDB before looking at it again (its entry was used) */
    bool dpos;     /* RocksDB is positioned on an entry of ns */
    bool failed;
};

/* ---- small helpers ---- */

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
/* The entry whose cold part holds lnode ptr as member. */
#define ENTRY_OF(ptr, member) ((wr_state_entry *)(void *)(CONTAINER(ptr, ecold, member) + 1))

static void ln_init(lnode *h)
{
    h->prev = h->next = h;
}

static void ln_insert_before(lnode *pos, lnode *n)
{
    n->prev = pos->prev;
    n->next = pos;
    pos->prev->next = n;
    pos->prev = n;
}

static void ln_unlink(lnode *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static inline uint64_t load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t load32(const char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

__extension__ typedef unsigned __int128 u128;

/* 64x64 -> 128-bit multiply, folded (wyhash's "mum"). */
static inline uint64_t mum(uint64_t a, uint64_t b)
{
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The cache's hash of (kg, ns, key). Keys of up to 16 bytes (the common case) are mixed
 * inline, wyhash-style; longer ones go through XXH3. Only the cache uses it (it is never
 * persisted), so it may change. */
static inline uint64_t key_hash(int kg, int64_t ns, const void *key, size_t klen)
{
    const char *k = key;
    uint64_t seed = (uint64_t)ns * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)kg, a, b;

    if (klen > 16)
        return XXH3_64bits_withSeed(key, klen, seed);
    if (klen >= 8) {
        a = load64(k);
        b = load64(k + klen - 8);
    } else if (klen >= 4) {
        a = load32(k);
        b = load32(k + klen - 4);
    } else if (klen) {
        a = ((uint64_t)(unsigned char)k[0] << 16) | ((uint64_t)(unsigned char)k[klen / 2] << 8) |
            (unsigned char)k[klen - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    return mum(mum(a ^ UINT64_C(0xa0761d6478bd642f) ^ seed, b ^ UINT64_C(0xe7037ed1a0b428db)) ^
                   klen,
               seed ^ UINT64_C(0x8ebc6af09c88c6e3));
}

static inline uint64_t ns_hash(int64_t ns)
{
    uint64_t h = (uint64_t)ns;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static inline char *inline_val(wr_state_entry *e)
{
    return e->data + e->klen;
}

static inline size_t entry_bytes(const wr_state_entry *e)
{
    return ENTRY_FIXED + e->klen + C(e)->icap + C(e)->hcap;
}

static void enc_prefix(unsigned char *p, int kg, int64_t ns)
{
    uint64_t u = (uint64_t)ns ^ SIGN64;
    p[0] = (unsigned char)(kg >> 8);
    p[1] = (unsigned char)kg;
    for (int i = 0; i < 8; i++)
        p[2 + i] = (unsigned char)(u >> (56 - 8 * i));
}

static int dec_kg(const unsigned char *p)
{
    return (p[0] << 8) | p[1];
}

static int64_t dec_ns(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[2 + i];
    return (int64_t)(u ^ SIGN64);
}

/* The smallest byte string greater than every string that starts with p[0, n):
 * p + 1 as a big-endian number. False if p is all 0xff (no such string). */
static bool prefix_succ(unsigned char *p, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (++p[i] != 0)
            return true;
    }
    return false;
}

static wr_err rdb_fail(wr_state *st, wr_errbuf *eb, const char *what, char *err)
{
    wr_fail(eb, WR_EIO, "state store '%s': %s: %s", st->dir, what, err);
    rocksdb_free(err);
    return WR_EIO;
}

/* st->kbuf = the RocksDB key of (kg, ns, key); NULL if out of memory. */
static char *encode_key(wr_state *st, int kg, int64_t ns, const void *key, size_t klen)
{
    if (PREFIX_LEN + klen > st->kbuf_cap) {
        size_t cap = (PREFIX_LEN + klen) * 2;
        char *p = realloc(st->kbuf, cap);
        if (!p)
            return NULL;
        st->kbuf = p;
        st->kbuf_cap = cap;
    }
    enc_prefix((unsigned char *)st->kbuf, kg, ns);
    if (klen)
        memcpy(st->kbuf + PREFIX_LEN, key, klen);
    return st->kbuf;
}

/* ---- the entry table ---- */

/* a[0, n) == b[0, n), inline for short keys (memcmp is a call). */
static inline bool key_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        size_t i;
        for (i = 0; i + 8 <= n; i += 8) {
            if (load64(a + i) != load64(b + i))
                return false;
        }
        return i == n || load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4)
        return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

static inline wr_state_entry *tbl_find(const wr_state *st, uint64_t h, int kg, int64_t ns,
                                       const void *key, size_t klen)
{
    size_t i = h & st->tmask;
    for (;;) {
        const slot *s = &st->slots[i];
        wr_state_entry *e = s->e;
        if (!e)
            return NULL;
        if (s->hash == h && e->ns == ns && e->kg == kg && e->klen == klen &&
            key_eq(e->data, key, klen))
            return e;
        i = (i + 1) & st->tmask;
    }
}

static void tbl_put(slot *slots, size_t mask, uint64_t h, wr_state_entry *e)
{
    size_t i = h & mask;
    while (slots[i].e)
        i = (i + 1) & mask;
    slots[i].hash = h;
    slots[i].e = e;
}

/* Removes e from the table. Entries after it in its cluster may move back, possibly
 * into the slot e had (never into a slot before that, unless wrapping around). */
static void tbl_remove(wr_state *st, wr_state_entry *e)
{
    size_t mask = st->tmask, i = key_hash(e->kg, e->ns, e->data, e->klen) & mask, j;

    while (st->slots[i].e != e)
        i = (i + 1) & mask;
    j = i;
    for (;;) {
        size_t k;
        j = (j + 1) & mask;
        if (!st->slots[j].e)
            break;
        k = st->slots[j].hash & mask; /* home of the entry at j */
        /* It may move to the hole at i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            st->slots[i] = st->slots[j];
            i = j;
        }
    }
    st->slots[i].e = NULL;
    st->slots[i].hash = 0;
    st->count--;
}

static bool tbl_needs_grow(const wr_state *st)
{
    return (st->count + 1) * 8 > (st->tmask + 1) * 5;
}

static wr_err tbl_grow(wr_state *st, wr_errbuf *eb)
{
    size_t ncap = (st->tmask + 1) * 2;
    slot *ns = calloc(ncap, sizeof *ns);

    if (!ns)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    for (size_t i = 0; i <= st->tmask; i++) {
        if (st->slots[i].e)
            tbl_put(ns, ncap - 1, st->slots[i].hash, st->slots[i].e);
    }
    st->bytes += (ncap - (st->tmask + 1)) * sizeof(slot);
    free(st->slots);
    st->slots = ns;
    st->tmask = ncap - 1;
    return WR_OK;
}

/* ---- namespaces: map and min-heap ---- */

static nsrec *ns_find(wr_state *st, int64_t ns)
{
    size_t i;

    if (st->last_nsr && st->last_nsr->ns == ns)
        return st->last_nsr;
    for (i = ns_hash(ns) & st->nsmask; st->nsmap[i]; i = (i + 1) & st->nsmask) {
        if (st->nsmap[i]->ns == ns)
            return st->last_nsr = st->nsmap[i];
    }
    return NULL;
}

static void heap_set(wr_state *st, size_t i, nsrec *r)
{
    st->heap[i] = r;
    r->heap_idx = i;
}

static void heap_up(wr_state *st, size_t i)
{
    nsrec *r = st->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (st->heap[p]->ns <= r->ns)
            break;
        heap_set(st, i, st->heap[p]);
        i = p;
    }
    heap_set(st, i, r);
}

static void heap_down(wr_state *st, size_t i)
{
    nsrec *r = st->heap[i];
    size_t n = st->nscount;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && st->heap[c + 1]->ns < st->heap[c]->ns)
            c++;
        if (r->ns <= st->heap[c]->ns)
            break;
        heap_set(st, i, st->heap[c]);
        i = c;
    }
    heap_set(st, i, r);
}

static wr_err ns_grow_map(wr_state *st, wr_errbuf *eb)
{
    size_t ncap = (st->nsmask + 1) * 2;
    nsrec **m = calloc(ncap, sizeof *m);

    if (!m)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    for (size_t i = 0; i <= st->nsmask; i++) {
        nsrec *r = st->nsmap[i];
        size_t j;
        if (!r)
            continue;
        for (j = ns_hash(r->ns) & (ncap - 1); m[j]; j = (j + 1) & (ncap - 1))
            ;
        m[j] = r;
    }
    free(st->nsmap);
    st->nsmap = m;
    st->nsmask = ncap - 1;
    return WR_OK;
}

/* Adds a record for ns (which must be unknown). */
static wr_err ns_add(wr_state *st, int64_t ns, nsrec **out, wr_errbuf *eb)
{
    nsrec *r;
    size_t i;
    wr_err err;

    if ((st->nscount + 1) * 2 > st->nsmask + 1 && (err = ns_grow_map(st, eb)) != WR_OK)
        return err;
    if (st->nscount == st->heap_cap) {
        size_t cap = st->heap_cap * 2;
        nsrec **h = realloc(st->heap, cap * sizeof *h);
        if (!h)
            return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        st->heap = h;
        st->heap_cap = cap;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    r->ns = ns;
    ln_init(&r->entries);
    for (i = ns_hash(ns) & st->nsmask; st->nsmap[i]; i = (i + 1) & st->nsmask)
        ;
    st->nsmap[i] = r;
    st->heap[st->nscount] = r;
    r->heap_idx = st->nscount++;
    heap_up(st, r->heap_idx);
    st->last_nsr = r;
    *out = r;
    return WR_OK;
}

/* Forgets r (which must have no cache entries). */
static void ns_forget(wr_state *st, nsrec *r)
{
    size_t mask = st->nsmask, i = ns_hash(r->ns) & mask, j, hi;
    nsrec *last;

    assert(r->ncache == 0);
    while (st->nsmap[i] != r)
        i = (i + 1) & mask;
    j = i;
    for (;;) {
        size_t k;
        j = (j + 1) & mask;
        if (!st->nsmap[j])
            break;
        k = ns_hash(st->nsmap[j]->ns) & mask;
        if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
            st->nsmap[i] = st->nsmap[j];
            i = j;
        }
    }
    st->nsmap[i] = NULL;

    hi = r->heap_idx;
    last = st->heap[--st->nscount];
    if (last != r) {
        heap_set(st, hi, last);
        heap_up(st, hi);
        heap_down(st, last->heap_idx);
    }
    if (st->last_nsr == r)
        st->last_nsr = NULL;
    free(r);
}

static void ns_maybe_forget(wr_state *st, nsrec *r)
{
    if (r->ncache == 0 && !r->on_disk)
        ns_forget(st, r);
}

/* ---- entries ---- */

/* Removes e (of namespace record r) from the table and r's list, and frees it. The
 * record stays (see ns_maybe_forget). */
static void entry_free(wr_state *st, wr_state_entry *e, nsrec *r)
{
    tbl_remove(st, e);
    ln_unlink(&C(e)->nsl);
    r->ncache--;
    st->bytes -= entry_bytes(e);
    if (C(e)->hcap)
        free(e->val);
    free(C(e));
}

/* Adds e's put or delete to batch b. */
static wr_err batch_add(wr_state *st, rocksdb_writebatch_t *b, const wr_state_entry *e,
                        wr_errbuf *eb)
{
    char *k = encode_key(st, e->kg, e->ns, e->data, e->klen);

    if (!k)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    if (e->flags & F_DELETED)
        rocksdb_writebatch_delete_cf(b, st->cf, k, PREFIX_LEN + e->klen);
    else
        rocksdb_writebatch_put_cf(b, st->cf, k, PREFIX_LEN + e->klen, e->val, e->vlen);
    return WR_OK;
}

static wr_err db_write(wr_state *st, rocksdb_writebatch_t *b, const char *what, wr_errbuf *eb)
{
    char *err = NULL;
    rocksdb_write(st->db, st->wopts, b, &err);
    if (err)
        return rdb_fail(st, eb, what, err);
    return WR_OK;
}

/* Evicts entries other than protect until `need` more bytes fit in 90% of the budget
 * (or nothing else is left), if they do not fit in the budget now. The CLOCK hand
 * sweeps the slot array. */
static wr_err make_room(wr_state *st, size_t need, wr_state_entry *protect, wr_errbuf *eb)
{
    size_t target, freed = 0, candidates, nv = 0;
    int nwrites = 0;
    wr_err err = WR_OK;

    if (st->bytes + need <= st->budget)
        return WR_OK;
    target = st->budget / 10 * 9;
    candidates = st->count - (protect ? 1 : 0);
    while (candidates > 0 && st->bytes - freed + need > target) {
        wr_state_entry *e = st->slots[st->hand].e;
        st->hand = (st->hand + 1) & st->tmask;
        if (!e || e == protect || (e->flags & F_VICTIM))
            continue;
        if (e->ref) {
            e->ref = 0;
            continue;
        }
        if (nv == st->victims_cap) {
            size_t cap = st->victims_cap ? st->victims_cap * 2 : 64;
            wr_state_entry **v = realloc(st->victims, cap * sizeof *v);
            if (!v) {
                err = wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
                goto fail;
            }
            st->victims = v;
            st->victims_cap = cap;
        }
        st->victims[nv++] = e;
        e->flags |= F_VICTIM;
        freed += entry_bytes(e);
        candidates--;
    }

    rocksdb_writebatch_clear(st->batch);
    for (size_t i = 0; i < nv; i++) {
        wr_state_entry *e = st->victims[i];
        if (!(e->flags & F_DIRTY))
            continue;
        if ((err = batch_add(st, st->batch, e, eb)) != WR_OK)
            goto fail;
        nwrites++;
    }
    if (nwrites) {
        if ((err = db_write(st, st->batch, "evict", eb)) != WR_OK)
            goto fail;
        rocksdb_writebatch_clear(st->batch);
        st->db_writes += (uint64_t)nwrites;
    }
    for (size_t i = 0; i < nv; i++) {
        wr_state_entry *e = st->victims[i];
        nsrec *r = ns_find(st, e->ns);
        if (e->flags & F_DIRTY)
            r->on_disk = true;
        assert(r->on_disk); /* a clean entry's namespace is on disk */
        entry_free(st, e, r);
        st->evictions++;
    }
    return WR_OK;

fail:
    for (size_t i = 0; i < nv; i++)
        st->victims[i]->flags &= (uint8_t)~F_VICTIM;
    rocksdb_writebatch_clear(st->batch);
    return err;
}

/* Not inlined: keeps the hit path of wr_state_lookup short. */
__attribute__((noinline)) static wr_err lookup_miss(wr_state *st, int kg, int64_t ns,
                                                    const void *key, size_t klen, uint64_t h,
                                                    bool create, wr_state_entry **out,
                                                    wr_errbuf *eb)
{
    nsrec *nsr = ns_find(st, ns);
    rocksdb_pinnableslice_t *ps = NULL;
    const char *v = NULL;
    size_t vlen = 0, want, block, icap, hcap = 0, need;
    void *blk;
    wr_state_entry *e;
    wr_err err = WR_OK;

    if (nsr && nsr->on_disk) {
        char *dberr = NULL, *k = encode_key(st, kg, ns, key, klen);
        if (!k)
            return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        st->db_reads++;
        ps = rocksdb_get_pinned_cf(st->db, st->ropts, st->cf, k, PREFIX_LEN + klen, &dberr);
        if (dberr)
            return rdb_fail(st, eb, "read", dberr);
        if (ps) {
            st->db_hits++;
            v = rocksdb_pinnableslice_value(ps, &vlen);
            if (vlen > VALUE_MAX) {
                rocksdb_pinnableslice_destroy(ps);
                return wr_fail(eb, WR_EIO, "state store '%s': a value of %zu bytes", st->dir, vlen);
            }
        }
    }
    if (!ps && !create) {
        *out = NULL;
        return WR_OK;
    }
    if (!ps)
        want = INLINE_ROOM;
    else if (vlen <= INLINE_MAX)
        want = vlen;
    else
        want = 0, hcap = vlen;
    /* Fill what malloc hands out anyway (glibc: 16-byte chunks with an 8-byte header). */
    block = (ENTRY_FIXED + klen + want + 8 + 15) / 16 * 16 - 8;
    icap = block - ENTRY_FIXED - klen;

    need = block + hcap;
    if (tbl_needs_grow(st))
        need += (st->tmask + 1) * sizeof(slot);
    if ((err = make_room(st, need, NULL, eb)) != WR_OK)
        goto out;
    if (tbl_needs_grow(st) && (err = tbl_grow(st, eb)) != WR_OK)
        goto out;
    nsr = ns_find(st, ns);
    if (!nsr && (err = ns_add(st, ns, &nsr, eb)) != WR_OK)
        goto out;
    if (!(blk = malloc(block))) {
        ns_maybe_forget(st, nsr);
        err = wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        goto out;
    }
    e = (wr_state_entry *)(void *)((ecold *)blk + 1);
    C(e)->hcap = (uint32_t)hcap;
    C(e)->icap = (uint32_t)icap;
    e->klen = (uint32_t)klen;
    e->val = hcap ? malloc(hcap) : inline_val(e);
    if (!e->val) {
        free(blk);
        ns_maybe_forget(st, nsr);
        err = wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        goto out;
    }
    if (klen)
        memcpy(e->data, key, klen);
    if (vlen)
        memcpy(e->val, v, vlen);
    e->vlen = (uint32_t)vlen;
    e->ns = ns;
    e->kg = (uint16_t)kg;
    e->flags = ps ? F_IN_DB : F_DIRTY;
    e->ref = 1; /* the hand's next pass spares it */
    tbl_put(st->slots, st->tmask, h, e);
    st->count++;
    ln_insert_before(&nsr->entries, &C(e)->nsl);
    nsr->ncache++;
    st->bytes += entry_bytes(e);
    *out = e;
out:
    if (ps)
        rocksdb_pinnableslice_destroy(ps);
    return err;
}

wr_err wr_state_lookup(wr_state *st, int kg, int64_t ns, const void *key, size_t klen, bool create,
                       wr_state_entry **out, wr_errbuf *eb)
{
    uint64_t h;
    wr_state_entry *e;

    assert(st->open_iters == 0);
    if (kg < st->kg_first || kg > st->kg_last)
        return wr_fail(eb, WR_EINVAL, "state store '%s': key group %d outside [%d, %d]", st->dir,
                       kg, st->kg_first, st->kg_last);
    if (klen > UINT32_MAX - PREFIX_LEN)
        return wr_fail(eb, WR_EINVAL, "state store '%s': key of %zu bytes", st->dir, klen);
    h = key_hash(kg, ns, key, klen);
    e = tbl_find(st, h, kg, ns, key, klen);
    if (!e)
        return lookup_miss(st, kg, ns, key, klen, h, create, out, eb);
    if (e->flags & F_DELETED) {
        if (!create) {
            *out = NULL;
            return WR_OK;
        }
        e->flags = F_DIRTY | F_IN_DB; /* a tombstone comes back, empty */
        e->vlen = 0;
    }
    if (!e->ref)
        e->ref = 1;
    *out = e;
    return WR_OK;
}

void *wr_state_value(wr_state_entry *e, size_t *len)
{
    if (len)
        *len = e->vlen;
    return e->val;
}

void wr_state_touch(wr_state *st, wr_state_entry *e)
{
    (void)st;
    assert(!(e->flags & F_DELETED));
    e->flags |= F_DIRTY;
}

wr_err wr_state_set(wr_state *st, wr_state_entry *e, const void *val, size_t len, wr_errbuf *eb)
{
    ecold *c = C(e);

    assert(st->open_iters == 0);
    assert(!(e->flags & F_DELETED));
    if (len > VALUE_MAX)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': a value of %zu bytes (4 GiB at most)",
                       st->dir, len);
    if (len <= c->icap) {
        char *in = inline_val(e);
        if (len)
            memmove(in, val, len);
        if (c->hcap) {
            free(e->val);
            st->bytes -= c->hcap;
            c->hcap = 0;
        }
        e->val = in;
    } else if (len <= c->hcap) {
        memmove(e->val, val, len);
        if (c->hcap > 256 && len < c->hcap / 4) { /* give most of a shrunk buffer back */
            char *p = realloc(e->val, len);
            if (p) {
                st->bytes -= c->hcap - len;
                e->val = p;
                c->hcap = (uint32_t)len;
            }
        }
    } else {
        size_t grown = (size_t)c->hcap + c->hcap / 2;
        size_t ncap = c->hcap && grown > len ? (grown < VALUE_MAX ? grown : VALUE_MAX) : len;
        char *p;
        wr_err err;
        if ((err = make_room(st, ncap - c->hcap, e, eb)) != WR_OK)
            return err;
        if (!(p = malloc(ncap)))
            return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        memcpy(p, val, len); /* val may point into the old buffer: copy, then free */
        if (c->hcap)
            free(e->val);
        st->bytes += ncap - c->hcap;
        e->val = p;
        c->hcap = (uint32_t)ncap;
    }
    e->vlen = (uint32_t)len;
    e->flags |= F_DIRTY;
    e->ref = 1;
    return WR_OK;
}

void wr_state_remove(wr_state *st, wr_state_entry *e)
{
    nsrec *nsr;

    assert(st->open_iters == 0);
    assert(!(e->flags & F_DELETED));
    if (e->flags & F_IN_DB) {
        /* RocksDB may hold the key: keep a tombstone until the next write. */
        if (C(e)->hcap) {
            free(e->val);
            st->bytes -= C(e)->hcap;
            C(e)->hcap = 0;
        }
        e->val = inline_val(e);
        e->vlen = 0;
        e->flags = F_DELETED | F_DIRTY | F_IN_DB;
        e->ref = 0;
        return;
    }
    nsr = ns_find(st, e->ns);
    entry_free(st, e, nsr);
    ns_maybe_forget(st, nsr);
}

/* ---- RocksDB iteration over one namespace ---- */

/* Moves it forward to the next key of namespace ns in a key group <= kg_last, jumping
 * over key groups without ns. True if positioned there (*kg set); false at the end or
 * on error (rocksdb_iter_get_error tells). */
static bool db_settle(rocksdb_iterator_t *it, int64_t ns, int kg_last, int *kg)
{
    unsigned char seek[PREFIX_LEN];

    while (rocksdb_iter_valid(it)) {
        size_t kl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        int kkg;
        int64_t kns;
        if (kl < PREFIX_LEN) { /* not written by this module */
            rocksdb_iter_next(it);
            continue;
        }
        kkg = dec_kg(k);
        if (kkg > kg_last)
            return false;
        kns = dec_ns(k);
        if (kns == ns) {
            *kg = kkg;
            return true;
        }
        if (kns < ns) {
            enc_prefix(seek, kkg, ns);
        } else {
            if (kkg >= kg_last)
                return false;
            enc_prefix(seek, kkg + 1, ns);
        }
        rocksdb_iter_seek(it, (const char *)seek, PREFIX_LEN);
    }
    return false;
}

/* A RocksDB iterator bounded above by the end of (kg_last, ns); ro and ub (PREFIX_LEN
 * bytes, which must outlive the iterator) are set up here. */
static rocksdb_iterator_t *db_ns_iter(wr_state *st, int64_t ns, rocksdb_readoptions_t *ro,
                                      unsigned char *ub)
{
    enc_prefix(ub, st->kg_last, ns);
    prefix_succ(ub, PREFIX_LEN); /* kg_last <= KG_MAX: never overflows */
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, PREFIX_LEN);
    return rocksdb_create_iterator_cf(st->db, ro, st->cf);
}

static int cmp_kk(int akg, const char *a, size_t al, int bkg, const char *b, size_t bl)
{
    int r;
    if (akg != bkg)
        return akg < bkg ? -1 : 1;
    r = al && bl ? memcmp(a, b, al < bl ? al : bl) : 0;
    if (r)
        return r;
    return al < bl ? -1 : al > bl;
}

static int cmp_entries(const void *x, const void *y)
{
    const wr_state_entry *a = *(wr_state_entry *const *)x, *b = *(wr_state_entry *const *)y;
    return cmp_kk(a->kg, a->data, a->klen, b->kg, b->data, b->klen);
}

wr_err wr_state_iter_new(wr_state *st, int64_t ns, bool sorted, wr_state_iter **out, wr_errbuf *eb)
{
    wr_state_iter *it = calloc(1, sizeof *it);

    if (!it)
        goto nomem;
    it->st = st;
    it->ns = ns;
    it->sorted = sorted;
    it->nsr = ns_find(st, ns);
    if (it->nsr) {
        it->cpos = it->nsr->entries.next;
        if (sorted && it->nsr->ncache) {
            it->arr = malloc(it->nsr->ncache * sizeof *it->arr);
            if (!it->arr)
                goto nomem;
            for (lnode *nd = it->nsr->entries.next; nd != &it->nsr->entries; nd = nd->next)
                it->arr[it->n++] = ENTRY_OF(nd, nsl);
            qsort(it->arr, it->n, sizeof *it->arr, cmp_entries);
        }
        if (it->nsr->on_disk) {
            if (!(it->ro = rocksdb_readoptions_create()))
                goto nomem;
            it->dit = db_ns_iter(st, ns, it->ro, it->ub);
        }
    }
    st->open_iters++;
    *out = it;
    return WR_OK;
nomem:
    if (it) {
        free(it->arr);
        if (it->ro)
            rocksdb_readoptions_destroy(it->ro);
        free(it);
    }
    return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
}

/* Brings the RocksDB side to its current entry; true if there is one. */
static bool db_head(wr_state_iter *it)
{
    if (!it->dit)
        return false;
    if (!it->dstarted) {
        unsigned char seek[PREFIX_LEN];
        enc_prefix(seek, it->st->kg_first, it->ns);
        rocksdb_iter_seek(it->dit, (const char *)seek, PREFIX_LEN);
        it->dstarted = true;
    } else if (it->dstep) {
        it->dstep = false;
        if (!it->dpos)
            return false;
        rocksdb_iter_next(it->dit);
    } else {
        return it->dpos;
    }
    it->dpos = db_settle(it->dit, it->ns, it->st->kg_last, &it->dkg);
    return it->dpos;
}

bool wr_state_iter_next(wr_state_iter *it, int *kg, const void **key, size_t *klen,
                        const void **val, size_t *vlen, wr_err *err, wr_errbuf *eb)
{
    if (it->failed || !it->nsr) {
        *err = it->failed ? WR_EIO : WR_OK;
        return false;
    }
    for (;;) {
        wr_state_entry *c = NULL;
        const char *dk = NULL;
        size_t dkl = 0;
        bool d;
        int cmp;

        if (!it->sorted && it->cpos != &it->nsr->entries) {
            c = ENTRY_OF(it->cpos, nsl);
            it->cpos = it->cpos->next;
            if (c->flags & F_DELETED)
                continue;
            goto cache;
        }
        if (it->sorted && it->i < it->n)
            c = it->arr[it->i];
        d = db_head(it);
        if (!d && it->dit) {
            char *dberr = NULL;
            rocksdb_iter_get_error(it->dit, &dberr);
            if (dberr) {
                it->failed = true;
                *err = rdb_fail(it->st, eb, "iterate", dberr);
                return false;
            }
        }
        if (!c && !d) {
            *err = WR_OK;
            return false;
        }
        if (d) {
            dk = rocksdb_iter_key(it->dit, &dkl);
            dk += PREFIX_LEN;
            dkl -= PREFIX_LEN;
        }
        if (it->sorted) {
            cmp = !c ? 1 : !d ? -1 : cmp_kk(c->kg, c->data, c->klen, it->dkg, dk, dkl);
            if (cmp <= 0) {
                it->i++;
                if (cmp == 0) /* the cache wins */
                    it->dstep = true;
                if (c->flags & F_DELETED)
                    continue;
                goto cache;
            }
        } else if (it->nsr->ncache &&
                   tbl_find(it->st, key_hash(it->dkg, it->ns, dk, dkl), it->dkg, it->ns, dk, dkl)) {
            it->dstep = true; /* the cache had it (or its tombstone) */
            continue;
        }
        it->dstep = true;
        *kg = it->dkg;
        *key = dk;
        *klen = dkl;
        *val = rocksdb_iter_value(it->dit, vlen);
        *err = WR_OK;
        return true;
    cache:
        *kg = c->kg;
        *key = c->data;
        *klen = c->klen;
        *val = c->val;
        *vlen = c->vlen;
        *err = WR_OK;
        return true;
    }
}

void wr_state_iter_free(wr_state_iter *it)
{
    if (!it)
        return;
    if (it->dit)
        rocksdb_iter_destroy(it->dit);
    if (it->ro)
        rocksdb_readoptions_destroy(it->ro);
    it->st->open_iters--;
    free(it->arr);
    free(it);
}

/* ---- namespaces as a whole ---- */

/* Deletes namespace ns from RocksDB (see the file comment). */
static wr_err drop_on_disk(wr_state *st, int64_t ns, wr_errbuf *eb)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it;
    unsigned char ub[PREFIX_LEN], seek[PREFIX_LEN], end[PREFIX_LEN];
    char *dberr = NULL;
    int kg = -1, nkeys = 0;
    uint64_t ndel = 0;
    wr_err err = WR_OK;

    if (!ro)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    it = db_ns_iter(st, ns, ro, ub);
    rocksdb_writebatch_clear(st->batch);
    enc_prefix(seek, st->kg_first, ns);
    rocksdb_iter_seek(it, (const char *)seek, PREFIX_LEN);
    for (;;) {
        size_t kl;
        const char *k;
        int kkg;
        if (!db_settle(it, ns, st->kg_last, &kkg))
            break;
        if (kkg != kg) {
            kg = kkg;
            nkeys = 0;
        }
        if (nkeys == DROP_POINT_MAX) {
            /* A big key group: one range delete for all of it, then the next one. */
            enc_prefix(seek, kg, ns);
            memcpy(end, seek, PREFIX_LEN);
            prefix_succ(end, PREFIX_LEN);
            rocksdb_writebatch_delete_range_cf(st->batch, st->cf, (const char *)seek, PREFIX_LEN,
                                               (const char *)end, PREFIX_LEN);
            ndel++;
            if (kg >= st->kg_last)
                break;
            enc_prefix(seek, kg + 1, ns);
            rocksdb_iter_seek(it, (const char *)seek, PREFIX_LEN);
            continue;
        }
        k = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete_cf(st->batch, st->cf, k, kl);
        nkeys++;
        ndel++;
        rocksdb_iter_next(it);
    }
    rocksdb_iter_get_error(it, &dberr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (dberr)
        err = rdb_fail(st, eb, "drop namespace: read", dberr);
    else if (ndel && (err = db_write(st, st->batch, "drop namespace", eb)) == WR_OK)
        st->db_writes += ndel;
    rocksdb_writebatch_clear(st->batch);
    return err;
}

wr_err wr_state_drop_ns(wr_state *st, int64_t ns, wr_errbuf *eb)
{
    nsrec *r;
    wr_err err;

    assert(st->open_iters == 0);
    if (!(r = ns_find(st, ns)))
        return WR_OK;
    if (r->on_disk && (err = drop_on_disk(st, ns, eb)) != WR_OK)
        return err;
    while (r->entries.next != &r->entries)
        entry_free(st, ENTRY_OF(r->entries.next, nsl), r);
    ns_forget(st, r);
    return WR_OK;
}

bool wr_state_min_ns(wr_state *st, int64_t *ns)
{
    if (!st->nscount)
        return false;
    *ns = st->heap[0]->ns;
    return true;
}

/* RocksDB key order: key group, namespace (signed), key bytes. */
static int entry_key_cmp(const void *pa, const void *pb)
{
    const wr_state_entry *a = *(const wr_state_entry *const *)pa;
    const wr_state_entry *b = *(const wr_state_entry *const *)pb;
    size_t n;
    int c;

    if (a->kg != b->kg)
        return a->kg < b->kg ? -1 : 1;
    if (a->ns != b->ns)
        return a->ns < b->ns ? -1 : 1;
    n = a->klen < b->klen ? a->klen : b->klen;
    if ((c = memcmp(a->data, b->data, n)) != 0)
        return c;
    return (a->klen > b->klen) - (a->klen < b->klen);
}

wr_err wr_state_flush(wr_state *st, wr_errbuf *eb)
{
    size_t cap = st->tmask + 1, ndirty = 0, start = 0;
    wr_state_entry **dirty;
    wr_err err = WR_OK;

    assert(st->open_iters == 0);
    /* The dirty entries, written in key order: RocksDB's memtable (a skip list) takes
     * sorted inserts about three times faster than inserts in hash order. */
    for (size_t i = 0; i < cap; i++)
        ndirty += st->slots[i].e && (st->slots[i].e->flags & F_DIRTY);
    if (ndirty == 0)
        goto tombstones;
    dirty = malloc(ndirty * sizeof *dirty);
    if (!dirty)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    ndirty = 0;
    for (size_t i = 0; i < cap; i++) {
        wr_state_entry *e = st->slots[i].e;
        if (e && (e->flags & F_DIRTY))
            dirty[ndirty++] = e;
    }
    qsort(dirty, ndirty, sizeof *dirty, entry_key_cmp);
    /* In batches of FLUSH_BATCH_BYTES; nothing moves in the table meanwhile. */
    while (start < ndirty && !err) {
        size_t i, end, bytes = 0;

        rocksdb_writebatch_clear(st->batch);
        for (i = start; i < ndirty && bytes < FLUSH_BATCH_BYTES; i++) {
            if ((err = batch_add(st, st->batch, dirty[i], eb)) != WR_OK)
                break;
            bytes += PREFIX_LEN + dirty[i]->klen + dirty[i]->vlen + 16;
        }
        end = i;
        if (!err)
            err = db_write(st, st->batch, "flush", eb);
        rocksdb_writebatch_clear(st->batch);
        if (err)
            break;
        st->db_writes += (uint64_t)(end - start);
        for (i = start; i < end; i++) {
            wr_state_entry *e = dirty[i];
            ns_find(st, e->ns)->on_disk = true;
            e->flags = (uint8_t)((e->flags & F_DELETED) | F_IN_DB);
        }
        start = end;
    }
    free(dirty);
    if (err)
        return err;
tombstones:
    /* Then drop the tombstones just written: RocksDB no longer holds their keys. A
     * removal may pull a later entry into slot i, so look at i again. */
    for (size_t i = 0; i <= st->tmask;) {
        wr_state_entry *e = st->slots[i].e;
        if (e && (e->flags & (F_DELETED | F_DIRTY)) == F_DELETED) {
            entry_free(st, e, ns_find(st, e->ns));
            continue;
        }
        i++;
    }
    return WR_OK;
}

wr_err wr_state_checkpoint(wr_state *st, const char *dir, wr_errbuf *eb)
{
    rocksdb_checkpoint_t *cp;
    char *dberr = NULL;
    wr_err err;

    assert(st->open_iters == 0);
    if (!dir || !dir[0])
        return wr_fail(eb, WR_EINVAL, "state store '%s': checkpoint: no directory", st->dir);
    if ((err = wr_state_flush(st, eb)) != WR_OK)
        return err;
    cp = rocksdb_checkpoint_object_create(st->db, &dberr);
    if (dberr)
        return rdb_fail(st, eb, "checkpoint", dberr);
    /* log_size_for_flush = 0: RocksDB always flushes the memtables first. That matters:
     * with the WAL off, the memtable's entries are in no file at all, and a checkpoint
     * that copied the (empty) WAL instead of flushing would lose them. */
    rocksdb_checkpoint_create(cp, dir, 0, &dberr);
    rocksdb_checkpoint_object_destroy(cp);
    if (dberr) {
        char what[512];
        snprintf(what, sizeof what, "checkpoint into '%s'", dir);
        return rdb_fail(st, eb, what, dberr);
    }
    return WR_OK;
}

void wr_state_each_ns(const wr_state *st, void (*fn)(void *arg, int64_t ns), void *arg)
{
    for (size_t i = 0; i < st->nscount; i++)
        fn(arg, st->heap[i]->ns);
}

void wr_state_get_stats(const wr_state *st, wr_state_stats *out)
{
    out->cache_bytes = st->bytes;
    out->entries = st->count;
    out->evictions = st->evictions;
    out->db_writes = st->db_writes;
    out->db_reads = st->db_reads;
    out->db_hits = st->db_hits;
    out->namespaces = st->nscount;
}

/* ---- open, close, remove ---- */

static wr_err open_db(wr_state *st, const wr_state_options *o, wr_errbuf *eb)
{
    const char *cfname = o->column_family ? o->column_family : "default";
    char **listed = NULL, *dberr = NULL;
    size_t nlisted = 0;
    const char **names = NULL;
    const rocksdb_options_t **cfopts = NULL;
    int n = 0, ours = -1;
    wr_err err = WR_OK;

    listed = rocksdb_list_column_families(st->opts, st->dir, &nlisted, &dberr);
    if (dberr) { /* a new store (or a broken one: the open below says why) */
        rocksdb_free(dberr);
        dberr = NULL;
        if (listed) /* RocksDB returns malloc(0) even then */
            rocksdb_list_column_families_destroy(listed, nlisted);
        listed = NULL;
        nlisted = 0;
    }
    names = calloc(nlisted + 2, sizeof *names);
    cfopts = calloc(nlisted + 2, sizeof *cfopts);
    st->handles = calloc(nlisted + 2, sizeof *st->handles);
    if (!names || !cfopts || !st->handles) {
        err = wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
        goto cleanup;
    }
    if (!listed)
        names[n++] = "default";
    for (size_t i = 0; i < nlisted; i++)
        names[n++] = listed[i];
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], cfname) == 0)
            ours = i;
    }
    if (ours < 0) {
        ours = n;
        names[n++] = cfname;
    }
    for (int i = 0; i < n; i++)
        cfopts[i] = st->opts;
    st->db = rocksdb_open_column_families(st->opts, st->dir, n, names, cfopts, st->handles, &dberr);
    if (dberr) {
        st->db = NULL;
        err = rdb_fail(st, eb, "open", dberr);
        goto cleanup;
    }
    st->nhandles = n;
    st->cf = st->handles[ours];
cleanup:
    if (listed)
        rocksdb_list_column_families_destroy(listed, nlisted);
    free(names);
    free(cfopts);
    return err;
}

/* Marks every namespace that has an entry in RocksDB (in our key groups) as on disk:
 * per key group, seek kg|min, read the namespace, seek kg|ns+1, and so on. */
static wr_err rebuild_namespaces(wr_state *st, wr_errbuf *eb)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it;
    unsigned char ub[2], seek[PREFIX_LEN];
    char *dberr = NULL;
    wr_err err = WR_OK;

    if (!ro)
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", st->dir);
    ub[0] = (unsigned char)((st->kg_last + 1) >> 8);
    ub[1] = (unsigned char)(st->kg_last + 1);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, sizeof ub);
    it = rocksdb_create_iterator_cf(st->db, ro, st->cf);
    enc_prefix(seek, st->kg_first, INT64_MIN);
    rocksdb_iter_seek(it, (const char *)seek, PREFIX_LEN);
    while (rocksdb_iter_valid(it)) {
        size_t kl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        int kg;
        int64_t ns;
        nsrec *r;
        if (kl < PREFIX_LEN) {
            rocksdb_iter_next(it);
            continue;
        }
        kg = dec_kg(k);
        ns = dec_ns(k);
        if (!(r = ns_find(st, ns)) && (err = ns_add(st, ns, &r, eb)) != WR_OK)
            goto cleanup;
        r->on_disk = true;
        if (ns == INT64_MAX) {
            if (kg >= st->kg_last)
                break;
            enc_prefix(seek, kg + 1, INT64_MIN);
        } else {
            enc_prefix(seek, kg, ns + 1);
        }
        rocksdb_iter_seek(it, (const char *)seek, PREFIX_LEN);
    }
    rocksdb_iter_get_error(it, &dberr);
    if (dberr)
        err = rdb_fail(st, eb, "reading namespaces", dberr);
cleanup:
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return err;
}

wr_err wr_state_open(const wr_state_options *o, wr_state **out, wr_errbuf *eb)
{
    wr_state *st;
    wr_err err;

    if (!o || !o->dir || !o->dir[0])
        return wr_fail(eb, WR_EINVAL, "state store: no directory");
    if (o->kg_first < 0 || o->kg_first > o->kg_last || o->kg_last > KG_MAX)
        return wr_fail(eb, WR_EINVAL, "state store '%s': key groups [%d, %d] outside [0, %d]",
                       o->dir, o->kg_first, o->kg_last, KG_MAX);
    if (!(st = calloc(1, sizeof *st)))
        return wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", o->dir);
    st->kg_first = o->kg_first;
    st->kg_last = o->kg_last;
    st->budget = o->cache_bytes < MIN_BUDGET ? MIN_BUDGET : o->cache_bytes;
    st->dir = strdup(o->dir);
    st->slots = calloc(TABLE_MIN, sizeof *st->slots);
    st->tmask = TABLE_MIN - 1;
    st->bytes = TABLE_MIN * sizeof(slot);
    st->nsmap = calloc(NS_MIN, sizeof *st->nsmap);
    st->nsmask = NS_MIN - 1;
    st->heap = malloc(NS_MIN * sizeof *st->heap);
    st->heap_cap = NS_MIN;
    st->kbuf_cap = 256;
    st->kbuf = malloc(st->kbuf_cap);
    st->opts = rocksdb_options_create();
    st->bbto = rocksdb_block_based_options_create();
    st->block_cache =
        rocksdb_cache_create_lru(o->block_cache_bytes ? o->block_cache_bytes : DEFAULT_RDB_BYTES);
    st->ropts = rocksdb_readoptions_create();
    st->wopts = rocksdb_writeoptions_create();
    st->batch = rocksdb_writebatch_create();
    if (!st->dir || !st->slots || !st->nsmap || !st->heap || !st->kbuf || !st->opts || !st->bbto ||
        !st->block_cache || !st->ropts || !st->wopts || !st->batch) {
        err = wr_fail(eb, WR_ENOMEM, "state store '%s': out of memory", o->dir);
        goto fail;
    }

    rocksdb_block_based_options_set_block_cache(st->bbto, st->block_cache);
    /* The table options take ownership of the filter policy. */
    rocksdb_block_based_options_set_filter_policy(st->bbto, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_block_based_options_set_whole_key_filtering(st->bbto, 1);
    rocksdb_options_set_block_based_table_factory(st->opts, st->bbto);
    rocksdb_options_set_create_if_missing(st->opts, 1);
    rocksdb_options_set_create_missing_column_families(st->opts, 1);
    rocksdb_options_set_write_buffer_size(st->opts, o->write_buffer_bytes ? o->write_buffer_bytes
                                                                          : DEFAULT_RDB_BYTES);
    rocksdb_options_set_max_open_files(st->opts, 256);
    rocksdb_options_set_compression(st->opts, rocksdb_lz4_compression);
    rocksdb_options_set_info_log_level(st->opts, 2); /* WARN: keep LOG small */
    rocksdb_options_set_keep_log_file_num(st->opts, 2);
    /* avoid_flush_during_shutdown stays false (RocksDB's default): with the WAL off,
     * rocksdb_close flushes the memtables, so flushed entries survive a reopen. */
    rocksdb_writeoptions_disable_WAL(st->wopts, 1);

    if ((err = open_db(st, o, eb)) != WR_OK)
        goto fail;
    if ((err = rebuild_namespaces(st, eb)) != WR_OK)
        goto fail;
    *out = st;
    return WR_OK;
fail:
    wr_state_close(st);
    return err;
}

void wr_state_close(wr_state *st)
{
    if (!st)
        return;
    assert(st->open_iters == 0);
    for (size_t i = 0; st->slots && i <= st->tmask; i++) {
        wr_state_entry *e = st->slots[i].e;
        if (!e)
            continue;
        if (C(e)->hcap)
            free(e->val);
        free(C(e));
    }
    free(st->victims);
    for (size_t i = 0; st->nsmap && i <= st->nsmask; i++)
        free(st->nsmap[i]);
    free(st->nsmap);
    free(st->heap);
    free(st->slots);
    free(st->kbuf);
    for (int i = 0; i < st->nhandles; i++)
        rocksdb_column_family_handle_destroy(st->handles[i]);
    free(st->handles);
    if (st->db)
        rocksdb_close(st->db);
    if (st->batch)
        rocksdb_writebatch_destroy(st->batch);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->bbto)
        rocksdb_block_based_options_destroy(st->bbto);
    if (st->block_cache)
        rocksdb_cache_destroy(st->block_cache);
    free(st->dir);
    free(st);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

wr_err wr_state_remove_dir(const char *dir, wr_errbuf *eb)
{
    int rc;

    if (!dir || !dir[0])
        return wr_fail(eb, WR_EINVAL, "state store: no directory");
    rc = nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0 || (rc == -1 && errno == ENOENT))
        return WR_OK;
    return wr_fail(eb, WR_EIO, "removing state directory '%s': %s", dir,
                   strerror(rc > 0 ? rc : errno));
}
