/*
 * spec.h — the job spec: YAML in, a fully checked wr_job_spec out.
 *
 * wr_spec_load() parses the file with libyaml, checks every field (unknown fields,
 * types, durations, sizes, names, expressions) and collects every error it finds,
 * each naming file, line, column and field path:
 *     job.yaml:12:14: pipeline[0].filter: column 8: unknown field 'amout'
 * Nothing runs unless the whole spec is valid. The reference for every field, its
 * type and its default is docs/job-spec.md; keep the two in step.
 *
 * After loading, each pipeline operator knows its input and output schema, so the
 * planner and the runtime never re-derive types.
 */
#ifndef WR_SPEC_H
#define WR_SPEC_H

#include "error.h"
#include "expr.h"
#include "value.h"

#include <stdint.h>

typedef struct wr_loc {
    int line; /* 1-based; 0 when unknown */
    int col;  /* 1-based */
} wr_loc;

typedef enum wr_offset_kind {
    WR_OFFSETS_NONE = 0, /* stop: not set → unbounded */
    WR_OFFSETS_EARLIEST, /* start: earliest */
    WR_OFFSETS_LATEST,   /* start: latest / stop: latest (end offsets found at job start) */
    WR_OFFSETS_EXPLICIT, /* {partition: offset, ...} */
} wr_offset_kind;

typedef struct wr_partition_offset {
    int32_t partition;
    int64_t offset;
} wr_partition_offset;

typedef enum wr_delivery {
    WR_DELIVERY_AT_LEAST_ONCE = 0,
    WR_DELIVERY_EXACTLY_ONCE,
} wr_delivery;

/* One `kafka:` block, as used by sources, sinks, late_data and dead_letter. */
typedef struct wr_kafka_spec {
    char *brokers; /* required */
    char *topic;   /* required */
    /* sources only */
    wr_offset_kind start; /* default EARLIEST */
    wr_partition_offset *start_offsets;
    int n_start_offsets;
    wr_offset_kind stop; /* default NONE */
    wr_partition_offset *stop_offsets;
    int n_stop_offsets;
    /* sinks only */
    wr_delivery delivery; /* default at_least_once */
    /* extra librdkafka properties, `properties: {key: value}` (any Kafka client) */
    int n_props;
    char **prop_keys;
    char **prop_vals;
    wr_loc loc;
} wr_kafka_spec;

typedef enum wr_format {
    WR_FORMAT_JSON = 0,
} wr_format;

typedef struct wr_source_spec {
    char *name; /* required, unique among sources */
    wr_kafka_spec kafka;
    wr_format format; /* default json */
    wr_schema schema; /* required, at least one field */
    /* event_time: optional */
    bool has_event_time;
    int event_time_col;              /* index into schema; field must be timestamp_ms or long */
    int64_t max_out_of_orderness_ms; /* default 0 */
    int64_t idle_timeout_ms;         /* default 0 = never idle */
    wr_loc loc;
} wr_source_spec;

typedef enum wr_op_kind {
    WR_OP_FILTER,
    WR_OP_MAP,
    WR_OP_KEY_BY,
    WR_OP_WINDOW,
    WR_OP_AGGREGATE,
} wr_op_kind;

/* Returns "filter", "map", "key_by", "window", "aggregate". */
const char *wr_op_kind_name(wr_op_kind k);

typedef struct wr_map_field {
    char *name;
    char *src; /* expression text */
    wr_expr *expr;
    wr_loc loc;
} wr_map_field;

typedef enum wr_window_kind {
    WR_WINDOW_TUMBLING,
    WR_WINDOW_SLIDING,
    WR_WINDOW_SESSION,
} wr_window_kind;

typedef enum wr_agg_func {
    WR_AGG_COUNT,
    WR_AGG_SUM,
    WR_AGG_MIN,
    WR_AGG_MAX,
    WR_AGG_AVG,
    WR_AGG_COUNT_DISTINCT,
    WR_AGG_FIRST, /* by event time */
    WR_AGG_LAST,
} wr_agg_func;

typedef struct wr_agg_spec {
    char *name; /* output field name */
    wr_agg_func func;
    int arg_col; /* input field index; -1 for count() */
    wr_type out_type;
    wr_loc loc;
} wr_agg_spec;

typedef struct wr_op_spec {
    wr_op_kind kind;
    wr_loc loc;
    /* FILTER */
    char *filter_src;
    wr_expr *filter;
    /* MAP: the output record is exactly these fields, in this order (a projection,
     * like SQL SELECT) */
    int n_map;
    wr_map_field *map;
    /* KEY_BY: one or more fields of the input */
    int n_keys;
    int *key_cols;
    /* WINDOW */
    wr_window_kind window;
    int64_t size_ms;  /* tumbling, sliding */
    int64_t slide_ms; /* sliding */
    int64_t gap_ms;   /* session */
    int64_t allowed_lateness_ms;
    /* AGGREGATE: output = key fields, window_start, window_end, then the aggregates */
    int n_aggs;
    wr_agg_spec *aggs;
    /* set by the checker for every operator */
    wr_schema in_schema;
    wr_schema out_schema;
} wr_op_spec;

typedef struct wr_sink_spec {
    char *name; /* optional; default "sink-<index>" */
    wr_kafka_spec kafka;
    wr_format format;
    char *key_field; /* optional `key: field` for the Kafka message key; -1 col if unset */
    int key_col;
    wr_loc loc;
} wr_sink_spec;

typedef struct wr_checkpoint_spec {
    int64_t interval_ms;    /* default 0 = off */
    int64_t timeout_ms;     /* default 600000 */
    int retained;           /* default 3 */
    char *storage;          /* default NULL: the coordinator's --checkpoint-storage */
    int64_t min_pause_ms;   /* default 0: least time from one checkpoint's end to the next */
    int tolerable_failures; /* default 3: consecutive failed checkpoints before the job fails */
} wr_checkpoint_spec;

/* `limits:` — the bounds on every place data can pile up. Defaults in docs/job-spec.md. */
typedef struct wr_limits_spec {
    int64_t max_record_bytes;      /* default 1 MiB: larger input records are dead-lettered */
    int64_t batch_bytes;           /* default 32 KiB: string bytes per record batch */
    int64_t batch_records;         /* default 1024: records per batch */
    int64_t channel_batches;       /* default 16: batches queued per channel (credits) */
    int64_t consumer_queue_kbytes; /* default 16384: librdkafka queued.max.messages.kbytes */
    int64_t producer_queue_kbytes; /* default 65536: queue.buffering.max.kbytes */
} wr_limits_spec;

/* `state:` — keyed state (windows): RocksDB per subtask behind a write-back cache. */
typedef struct wr_state_spec {
    int64_t memory_bytes;       /* default 256 MiB: the job's cache budget, split over subtasks */
    char *dir;                  /* default NULL: $TMPDIR or /tmp */
    int64_t write_buffer_bytes; /* default 8 MiB: RocksDB memtable per subtask */
    int64_t block_cache_bytes;  /* default 8 MiB: RocksDB block cache per subtask */
} wr_state_spec;

typedef struct wr_job_spec {
    char *file;          /* path as given */
    char *name;          /* required */
    int parallelism;     /* default 1 */
    int max_parallelism; /* default 128; key groups */
    wr_checkpoint_spec checkpoint;
    wr_limits_spec limits;
    wr_state_spec state;
    int n_sources;
    wr_source_spec *sources;
    int input_source; /* index of the source the pipeline reads */
    int n_ops;
    wr_op_spec *ops;
    int n_sinks;
    wr_sink_spec *sinks;
    bool has_late_data;
    wr_kafka_spec late_data;
    bool has_dead_letter;
    wr_kafka_spec dead_letter;
} wr_job_spec;

/* One error found in a spec. */
typedef struct wr_spec_diag {
    wr_loc loc;
    char *path; /* "pipeline[0].filter" */
    char *msg;
} wr_spec_diag;

typedef struct wr_spec_diags {
    int n;
    wr_spec_diag *items;
} wr_spec_diags;

/* Parses and checks the job spec in `path`. On success returns WR_OK and *out (free
 * with wr_spec_free). On failure returns WR_ESPEC (or WR_EIO if the file cannot be
 * read) and fills diags with every error found, in file order; *out is untouched.
 * diags may be NULL. */
wr_err wr_spec_load(const char *path, wr_job_spec **out, wr_spec_diags *diags);

/* The same, from text in memory; `name` stands for the file name in errors. */
wr_err wr_spec_parse(const char *name, const char *text, size_t len, wr_job_spec **out,
                     wr_spec_diags *diags);

/* Formats d as "file:line:col: path: msg" into buf (always NUL-terminated). */
void wr_spec_diag_format(const char *file, const wr_spec_diag *d, char *buf, size_t size);

void wr_spec_diags_fini(wr_spec_diags *d);
void wr_spec_free(wr_job_spec *spec);

/* The schema records have when they leave the pipeline (the last operator's output,
 * or the source schema if the pipeline is empty). */
const wr_schema *wr_spec_output_schema(const wr_job_spec *spec);

/* Parses "250ms", "5s", "1m", "2h", "1d" (a non-negative integer and a unit).
 * Returns false if malformed or out of range. */
bool wr_parse_duration_ms(const char *s, int64_t *out);
/* Parses "1024", "32KiB", "1MiB", "1GiB", "10KB", "5MB" (KB/MB/GB are powers of 1000). */
bool wr_parse_size(const char *s, int64_t *out);

#endif
