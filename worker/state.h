/*
 * state.h — keyed state of one subtask: RocksDB behind a write-back cache.
 *
 * Every entry is addressed by (key group, namespace, key bytes). The namespace is an
 * int64 that the operator chooses (a window's slice end, a timer's time, or
 * WR_STATE_NS_GLOBAL); it lets the operator fire and delete a whole window at once.
 * In RocksDB an entry's key is
 *     key group (2 bytes big-endian) | namespace (8 bytes big-endian, sign bit flipped) | key
 * so a key-group range is a contiguous RocksDB range (rescaling can clip ranges), and
 * within a key group entries sort by namespace, then key bytes.
 *
 * Hot entries live in an in-memory hash table whose size (entries, keys, values and
 * bookkeeping) is held under `cache_bytes`. Writes go to the cache only and mark the
 * entry dirty. When an insert would exceed the budget, the least recently used entries
 * are evicted: dirty ones are written to RocksDB in one WriteBatch (WAL off), then
 * dropped. wr_state_flush() writes every dirty entry (the checkpoint calls it). A miss
 * reads RocksDB only if that namespace ever had an entry written there, so new windows
 * never touch the disk. State larger than the budget stays exactly right: the cache is
 * a cache, never the only copy of an evicted value.
 *
 * The store keeps, in memory, the set of namespaces that may hold entries (one small
 * record per distinct namespace), so wr_state_min_ns() finds the next window or timer
 * to fire without a scan.
 *
 * Not thread-safe: one subtask thread owns a store. Nothing here logs.
 */
#ifndef WR_STATE_H
#define WR_STATE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The namespace for state that belongs to no window or time (e.g. a key's sessions). */
#define WR_STATE_NS_GLOBAL INT64_MAX

typedef struct wr_state wr_state;
typedef struct wr_state_entry wr_state_entry;
typedef struct wr_state_iter wr_state_iter;

typedef struct wr_state_options {
    const char *dir;           /* RocksDB directory; created if missing (parents must exist) */
    const char *column_family; /* the operator's column family, e.g. "window"; NULL: default */
    size_t cache_bytes;        /* write-back cache budget; minimum 4 KiB (smaller is raised) */
    size_t write_buffer_bytes; /* RocksDB memtable size; 0: 8 MiB */
    size_t block_cache_bytes;  /* RocksDB block cache; 0: 8 MiB */
    int kg_first, kg_last;     /* the key groups this store holds, inclusive */
} wr_state_options;

typedef struct wr_state_stats {
    size_t cache_bytes;  /* bytes the cache holds now (entries + keys + values) */
    uint64_t entries;    /* entries in the cache now */
    uint64_t evictions;  /* entries dropped from the cache to stay in budget */
    uint64_t db_writes;  /* entries written to RocksDB (eviction or flush), deletes included */
    uint64_t db_reads;   /* RocksDB point lookups (cache misses in namespaces on disk) */
    uint64_t db_hits;    /* of those, how many found the entry */
    uint64_t namespaces; /* distinct namespaces that may hold entries */
} wr_state_stats;

/* Opens (creating) the store. On failure returns WR_EIO / WR_ENOMEM with a message that
 * names the directory and RocksDB's reason; *out untouched. */
wr_err wr_state_open(const wr_state_options *o, wr_state **out, wr_errbuf *eb);
/* Closes RocksDB and frees the cache, discarding dirty entries (flush first to keep
 * them). NULL is a no-op. The directory stays. */
void wr_state_close(wr_state *st);
/* Removes a store directory and everything in it (for throw-away state). */
wr_err wr_state_remove_dir(const char *dir, wr_errbuf *eb);

/* Finds (kg, ns, key). If absent and create is true, adds an entry with an empty value
 * (length 0, dirty); if absent and create is false, sets *out = NULL and returns WR_OK.
 * May evict other entries (and so write RocksDB) and read RocksDB. The entry pointer
 * and its value stay valid until the next call on st other than wr_state_value,
 * wr_state_touch, wr_state_set and wr_state_remove on this same entry.
 * Fails with WR_EIO (RocksDB) or WR_ENOMEM. kg must be in [kg_first, kg_last]. */
wr_err wr_state_lookup(wr_state *st, int kg, int64_t ns, const void *key, size_t klen, bool create,
                       wr_state_entry **out, wr_errbuf *eb);

/* The entry's value bytes (writable in place) and length. */
void *wr_state_value(wr_state_entry *e, size_t *len);
/* Marks e dirty after its value was modified in place (same length). */
void wr_state_touch(wr_state *st, wr_state_entry *e);
/* Replaces e's value with len bytes from val (which may point into e's own value) and
 * marks it dirty. May evict other entries to stay in budget; e itself stays valid.
 * Fails with WR_ENOMEM / WR_EIO, leaving e unchanged. */
wr_err wr_state_set(wr_state *st, wr_state_entry *e, const void *val, size_t len, wr_errbuf *eb);
/* Deletes e (from the cache, and from RocksDB at the next write). e is invalid after. */
void wr_state_remove(wr_state *st, wr_state_entry *e);

/* Iterates every live entry of namespace ns (all key groups), merging the cache with
 * RocksDB (cache wins). With sorted = true entries come in (key group, key bytes)
 * order; otherwise in any order (cheaper). While any iterator is open, the only calls
 * allowed on st are wr_state_iter_* (no lookups, sets or removes); several iterators may
 * be open at once. */
wr_err wr_state_iter_new(wr_state *st, int64_t ns, bool sorted, wr_state_iter **out, wr_errbuf *eb);
/* The next entry: returns true and sets the out-parameters (valid until the next call
 * on it), or false at the end. *err is set to WR_EIO (and eb filled) if RocksDB failed;
 * the iterator then returns false. */
bool wr_state_iter_next(wr_state_iter *it, int *kg, const void **key, size_t *klen,
                        const void **val, size_t *vlen, wr_err *err, wr_errbuf *eb);
void wr_state_iter_free(wr_state_iter *it);

/* Deletes every entry of namespace ns, in the cache and in RocksDB (range deletes), and
 * forgets the namespace. */
wr_err wr_state_drop_ns(wr_state *st, int64_t ns, wr_errbuf *eb);

/* The smallest namespace that may hold entries: returns true and sets *ns, or false
 * if the store is empty. WR_STATE_NS_GLOBAL counts like any other value. A namespace
 * whose entries were all removed may still be reported once (then it is empty). */
bool wr_state_min_ns(wr_state *st, int64_t *ns);

/* Writes every dirty entry to RocksDB (WriteBatches, WAL off) and keeps them cached,
 * clean. The checkpoint calls this before it snapshots RocksDB. */
wr_err wr_state_flush(wr_state *st, wr_errbuf *eb);

void wr_state_get_stats(const wr_state *st, wr_state_stats *out);

/* A snapshot of the store for a checkpoint: writes every dirty entry (wr_state_flush),
 * then creates a RocksDB checkpoint in dir (which must not exist; its parent must):
 * memtables are flushed and the live SST files hard-linked, MANIFEST, CURRENT and OPTIONS
 * copied. wr_state_open on a copy of dir gives back exactly the store's entries. No
 * iterator may be open. */
wr_err wr_state_checkpoint(wr_state *st, const char *dir, wr_errbuf *eb);

/* Calls fn for every namespace that may hold entries, in any order (WR_STATE_NS_GLOBAL
 * included). fn must not call into st. */
void wr_state_each_ns(const wr_state *st, void (*fn)(void *arg, int64_t ns), void *arg);

#endif
