/*
 * spec.c — the job spec checker: YAML text in, a fully checked wr_job_spec out.
 *
 * Three passes over the text. First, libyaml's event parser scans the whole stream once
 * to report syntax errors (with libyaml's own line and column), anchors and aliases
 * (which weir rejects: a job file says everything where it is used) and extra documents.
 * Second, yaml_parser_load() builds the node tree; every node carries its start mark.
 * Third, the checker walks the tree top-down with a field table per mapping, keeping
 * the dotted path of the node it is in ("pipeline[2].map.total"), and records every
 * problem as a wr_spec_diag instead of stopping at the first. Pipeline operators are
 * checked in order, each against the output schema of the one before; once an
 * operator's output schema is uncertain (a map or aggregate with errors), later field
 * lookups are skipped so one typo does not cascade into a page of errors.
 *
 * Memory: the spec is built in place in one heap wr_job_spec whose arrays are allocated
 * once at their final size, because compiled expressions keep a pointer to the
 * wr_schema they were compiled against (an operator's in_schema). On any error the
 * half-built spec is freed and the caller's *out is left untouched.
 */
#include "spec.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DIAGS 100    /* the last slot is kept for "too many errors" */
#define PATH_LEN 256     /* longer paths are truncated */
#define MAX_NAME_LEN 100 /* job, source and sink names */
#define SNIP_LEN 48      /* user text quoted in messages */
#define MAX_TABLE_FIELDS 16

/* ---- durations and sizes ---------------------------------------------------------- */

/* Parses a run of decimal digits at *s; false on none or overflow. */
static bool parse_digits(const char **s, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;

    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return true;
}

static bool scale(int64_t v, int64_t mult, int64_t *out)
{
    if (v > INT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

bool wr_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    };
    int64_t v;

    if (!s || !parse_digits(&s, &v))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].unit) == 0)
            return scale(v, units[i].ms, out);
    }
    return false;
}

bool wr_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t bytes;
    } units[] = {
        {"", 1},      {"KiB", 1024},       {"MiB", 1024 * 1024},       {"GiB", 1024 * 1024 * 1024},
        {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
    };
    int64_t v;

    if (!s || !parse_digits(&s, &v))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].unit) == 0)
            return scale(v, units[i].bytes, out);
    }
    return false;
}

const char *wr_op_kind_name(wr_op_kind k)
{
    switch (k) {
    case WR_OP_FILTER:
        return "filter";
    case WR_OP_MAP:
        return "map";
    case WR_OP_KEY_BY:
        return "key_by";
    case WR_OP_WINDOW:
        return "window";
    case WR_OP_AGGREGATE:
        return "aggregate";
    }
    return "?";
}

/* ---- the checker's context and diagnostics ----------------------------------------- */

typedef struct ctx {
    yaml_document_t *doc;
    wr_spec_diag *diags; /* MAX_DIAGS slots */
    int n_diags;
    int dropped;
    bool oom;
    char path[PATH_LEN];
    size_t plen;
    const char *text; /* for locating libyaml reader errors */
    size_t text_len;
} ctx;

static int errors(const ctx *c)
{
    return c->n_diags + c->dropped;
}

static char *xstrdup(ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        c->oom = true;
    return d;
}

static void *xcalloc(ctx *c, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        c->oom = true;
    return p;
}

static int clamp_int(size_t v)
{
    return v >= INT_MAX ? INT_MAX : (int)v;
}

static wr_loc mark_loc(yaml_mark_t m)
{
    wr_loc l = {clamp_int(m.line) + 1, clamp_int(m.column) + 1};
    if (l.line <= 0)
        l.line = INT_MAX;
    if (l.col <= 0)
        l.col = INT_MAX;
    return l;
}

static wr_loc node_loc(const yaml_node_t *n)
{
    return mark_loc(n->start_mark);
}

static void add_diag(ctx *c, wr_loc loc, const char *path, const char *msg)
{
    wr_spec_diag *d;

    if (c->n_diags >= MAX_DIAGS - 1) {
        c->dropped++;
        return;
    }
    if (!c->diags) {
        c->diags = calloc(MAX_DIAGS, sizeof *c->diags);
        if (!c->diags) {
            c->oom = true;
            c->dropped++;
            return;
        }
    }
    d = &c->diags[c->n_diags];
    d->loc = loc;
    d->path = strdup(path);
    d->msg = strdup(msg);
    if (!d->path || !d->msg) {
        free(d->path);
        free(d->msg);
        c->oom = true;
        c->dropped++;
        return;
    }
    c->n_diags++;
}

static void diag_loc(ctx *c, wr_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void diag_loc(ctx *c, wr_loc loc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add_diag(c, loc, c->path, msg);
}

#define diag(c, node, ...) diag_loc((c), node_loc(node), __VA_ARGS__)

/* Path building: push returns the old length to pop back to. Text from the file is
 * appended as is (control bytes replaced); an over-long path is cut short. */
static void path_append(ctx *c, const char *s, size_t len)
{
    for (size_t i = 0; i < len && c->plen + 1 < PATH_LEN; i++) {
        unsigned char ch = (unsigned char)s[i];
        c->path[c->plen++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    c->path[c->plen] = '\0';
}

static size_t push_key(ctx *c, const char *key)
{
    size_t old = c->plen;
    if (c->plen > 0)
        path_append(c, ".", 1);
    path_append(c, key, strlen(key));
    return old;
}

static size_t push_idx(ctx *c, int i)
{
    char b[24];
    size_t old = c->plen;
    snprintf(b, sizeof b, "[%d]", i);
    path_append(c, b, strlen(b));
    return old;
}

static void pop(ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* Copies user text for a message: at most SNIP_LEN bytes (not splitting a UTF-8
 * sequence), control bytes shown as '?', "..." when cut. */
static const char *snip(char out[SNIP_LEN + 4], const char *s, size_t len)
{
    size_t n = len;
    size_t j = 0;

    if (n > SNIP_LEN) {
        n = SNIP_LEN;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[j++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (n < len) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

/* ---- node helpers ----------------------------------------------------------------- */

static yaml_node_t *get_node(ctx *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    const char *v;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = sval(n);
    return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* "a mapping", "a sequence", "an empty value" or the quoted scalar. */
static const char *describe(const yaml_node_t *n, char buf[SNIP_LEN + 8])
{
    char s[SNIP_LEN + 4];

    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_SCALAR_NODE:
        if (is_null(n))
            return "an empty value";
        snprintf(buf, SNIP_LEN + 8, "'%s'", snip(s, sval(n), n->data.scalar.length));
        return buf;
    default:
        return "nothing";
    }
}

static bool has_nul(const yaml_node_t *n)
{
    return strlen(sval(n)) != n->data.scalar.length;
}

static bool is_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    }
    return true;
}

static bool is_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME_LEN)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    }
    return true;
}

/* Reports "expected X, got Y" for node n at the current path. */
static void expected(ctx *c, const yaml_node_t *n, const char *what)
{
    char b[SNIP_LEN + 8];
    diag(c, n, "expected %s, got %s", what, describe(n, b));
}

/* The key of a mapping pair as a string, or NULL (reported) if it is not a plain text key. */
static const char *key_text(ctx *c, const yaml_node_t *k)
{
    if (k->type != YAML_SCALAR_NODE) {
        expected(c, k, "a field name");
        return NULL;
    }
    if (has_nul(k) || k->data.scalar.length == 0) {
        diag(c, k, "field names must be non-empty text without NUL bytes");
        return NULL;
    }
    return sval(k);
}

/* Reports a key that appears twice in one mapping; pairs before `upto` are searched. */
static bool dup_key(ctx *c, const yaml_node_pair_t *start, const yaml_node_pair_t *upto,
                    const yaml_node_t *k)
{
    for (const yaml_node_pair_t *p = start; p < upto; p++) {
        const yaml_node_t *o = get_node(c, p->key);
        if (o && o != k && o->type == YAML_SCALAR_NODE &&
            o->data.scalar.length == k->data.scalar.length &&
            memcmp(o->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0) {
            char s[SNIP_LEN + 4];
            size_t old = push_key(c, sval(k));
            diag(c, k, "duplicate field '%s' (first given at line %d)",
                 snip(s, sval(k), k->data.scalar.length), node_loc(o).line);
            pop(c, old);
            return true;
        }
    }
    return false;
}

/* ---- field tables ----------------------------------------------------------------- */

/* The pairs of a mapping matched against a table of known field names. A name starting
 * with '!' is recognised only so the caller can say why it is wrong here ("only sources
 * take 'start'"); it is not offered in the list of expected fields. */
typedef struct fieldset {
    yaml_node_t *key[MAX_TABLE_FIELDS];
    yaml_node_t *val[MAX_TABLE_FIELDS]; /* NULL when absent or empty (`key:` / `key: ~`) */
} fieldset;

static const char *tname(const char *name)
{
    return name[0] == '!' ? name + 1 : name;
}

static void join_names(const char *const *names, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i]; i++) {
        if (names[i][0] == '!')
            continue;
        used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%s",
                                 used ? ", " : "", names[i]);
        if (used >= size)
            break;
    }
}

/* Matches the pairs of `map` against `names` (NULL-terminated). Reports unknown and
 * duplicate fields. Returns false (reported) if map is not a mapping. */
static bool get_fields(ctx *c, yaml_node_t *map, const char *const *names, fieldset *fs)
{
    memset(fs, 0, sizeof *fs);
    if (map->type != YAML_MAPPING_NODE) {
        expected(c, map, "a mapping");
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = get_node(c, p->key);
        yaml_node_t *v = get_node(c, p->value);
        const char *key;
        int i;

        if (!k || !v || !(key = key_text(c, k)))
            continue;
        for (i = 0; names[i]; i++) {
            if (strcmp(tname(names[i]), key) == 0)
                break;
        }
        if (!names[i]) {
            char list[512], s[SNIP_LEN + 4];
            join_names(names, list, sizeof list);
            diag(c, k, "unknown field '%s' (expected one of: %s)",
                 snip(s, key, k->data.scalar.length), list);
            continue;
        }
        if (fs->key[i]) {
            size_t o = push_key(c, key);
            diag(c, k, "duplicate field '%s' (first given at line %d)", key,
                 node_loc(fs->key[i]).line);
            pop(c, o);
            continue;
        }
        fs->key[i] = k;
        fs->val[i] = is_null(v) ? NULL : v;
    }
    return true;
}

/* Returns the value of required field i, or NULL after reporting it missing or empty. */
static yaml_node_t *need(ctx *c, yaml_node_t *map, const fieldset *fs, int i, const char *name)
{
    if (fs->val[i])
        return fs->val[i];
    if (fs->key[i]) {
        size_t o = push_key(c, name);
        diag(c, fs->key[i], "'%s' needs a value", name);
        pop(c, o);
    } else {
        diag(c, map, "missing required field '%s'", name);
    }
    return NULL;
}

/* ---- scalar getters: each reports at path.key and leaves *out alone on error ------- */

static const char *scalar(ctx *c, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        expected(c, n, what);
        return NULL;
    }
    if (has_nul(n)) {
        diag(c, n, "expected %s, got text with a NUL byte", what);
        return NULL;
    }
    return sval(n);
}

static bool get_str(ctx *c, yaml_node_t *n, const char *key, char **out)
{
    size_t o = push_key(c, key);
    const char *s = scalar(c, n, "a string");
    bool ok = false;

    if (s) {
        char *d = xstrdup(c, s);
        if (d) {
            free(*out);
            *out = d;
            ok = true;
        }
    }
    pop(c, o);
    return ok;
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool get_int(ctx *c, yaml_node_t *n, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    size_t o = key ? push_key(c, key) : c->plen;
    const char *s = scalar(c, n, "an integer");
    int64_t v;
    bool ok = false;

    if (s) {
        char b[SNIP_LEN + 4];
        if (!parse_int(s, &v))
            diag(c, n, "expected an integer, got '%s'", snip(b, s, strlen(s)));
        else if (v < lo || v > hi) {
            if (hi == INT64_MAX)
                diag(c, n, "must be at least %lld, got %lld", (long long)lo, (long long)v);
            else
                diag(c, n, "must be between %lld and %lld, got %lld", (long long)lo, (long long)hi,
                     (long long)v);
        } else {
            *out = v;
            ok = true;
        }
    }
    pop(c, o);
    return ok;
}

static bool get_int32(ctx *c, yaml_node_t *n, const char *key, int lo, int hi, int *out)
{
    int64_t v;
    if (!get_int(c, n, key, lo, hi, &v))
        return false;
    *out = (int)v;
    return true;
}

/* A duration of at least min_ms (0 or 1). */
static bool get_dur(ctx *c, yaml_node_t *n, const char *key, int64_t min_ms, int64_t *out)
{
    size_t o = push_key(c, key);
    const char *s = scalar(c, n, "a duration");
    int64_t v;
    bool ok = false;

    if (s) {
        char b[SNIP_LEN + 4];
        if (!wr_parse_duration_ms(s, &v))
            diag(c, n, "'%s' is not a duration (use e.g. 500ms, 5s, 1m, 1h, 1d)",
                 snip(b, s, strlen(s)));
        else if (v < min_ms)
            diag(c, n, "must be greater than 0, got '%s'", snip(b, s, strlen(s)));
        else {
            *out = v;
            ok = true;
        }
    }
    pop(c, o);
    return ok;
}

static const char *fmt_size(int64_t v, char *buf, size_t size)
{
    if (v >= 1024 * 1024 * 1024 && v % (1024 * 1024 * 1024) == 0)
        snprintf(buf, size, "%lldGiB", (long long)(v / (1024 * 1024 * 1024)));
    else if (v >= 1024 * 1024 && v % (1024 * 1024) == 0)
        snprintf(buf, size, "%lldMiB", (long long)(v / (1024 * 1024)));
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(buf, size, "%lldKiB", (long long)(v / 1024));
    else
        snprintf(buf, size, "%lld bytes", (long long)v);
    return buf;
}

static bool get_size(ctx *c, yaml_node_t *n, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    size_t o = push_key(c, key);
    const char *s = scalar(c, n, "a size");
    int64_t v;
    bool ok = false;

    if (s) {
        char b[SNIP_LEN + 4], l[32], h[32];
        if (!wr_parse_size(s, &v))
            diag(c, n,
                 "'%s' is not a size (use e.g. 65536, 64KiB, 1MiB, 1GiB; KB, MB, GB are "
                 "powers of 1000)",
                 snip(b, s, strlen(s)));
        else if (v < lo || v > hi)
            diag(c, n, "must be between %s and %s, got '%s'", fmt_size(lo, l, sizeof l),
                 fmt_size(hi, h, sizeof h), snip(b, s, strlen(s)));
        else {
            *out = v;
            ok = true;
        }
    }
    pop(c, o);
    return ok;
}

/* ---- kafka blocks ----------------------------------------------------------------- */

enum kafka_role { KAFKA_SOURCE, KAFKA_SINK, KAFKA_SIDE };
enum { K_BROKERS, K_TOPIC, K_START, K_STOP, K_DELIVERY, K_PROPERTIES };

static const char *const kafka_source_fields[] = {"brokers",   "topic",      "start", "stop",
                                                  "!delivery", "properties", NULL};
static const char *const kafka_sink_fields[] = {"brokers",  "topic",      "!start", "!stop",
                                                "delivery", "properties", NULL};
static const char *const kafka_side_fields[] = {"brokers",   "topic",      "!start", "!stop",
                                                "!delivery", "properties", NULL};

/* {partition: offset, ...} */
static void parse_offsets(ctx *c, yaml_node_t *n, wr_partition_offset **out, int *n_out)
{
    yaml_node_pair_t *start = n->data.mapping.pairs.start;
    int cnt = (int)(n->data.mapping.pairs.top - start);
    wr_partition_offset *po;
    int k = 0;

    if (cnt == 0) {
        diag(c, n, "expected at least one partition: offset pair");
        return;
    }
    po = xcalloc(c, (size_t)cnt, sizeof *po);
    if (!po)
        return;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = get_node(c, p->key);
        yaml_node_t *vn = get_node(c, p->value);
        const char *key;
        int64_t part, off;
        size_t o;

        if (!kn || !vn || !(key = key_text(c, kn)) || dup_key(c, start, p, kn))
            continue;
        o = push_key(c, key);
        if (!parse_int(key, &part)) {
            char b[SNIP_LEN + 4];
            diag(c, kn, "expected a partition number, got '%s'", snip(b, key, strlen(key)));
        } else if (part < 0 || part > INT32_MAX) {
            diag(c, kn, "partition must be between 0 and %d, got %lld", INT32_MAX, (long long)part);
        } else if (get_int(c, vn, NULL, 0, INT64_MAX, &off)) {
            po[k].partition = (int32_t)part;
            po[k].offset = off;
            k++;
        }
        pop(c, o);
    }
    *out = po;
    *n_out = k;
}

static void parse_start_stop(ctx *c, yaml_node_t *n, const char *key, bool is_start,
                             wr_offset_kind *kind, wr_partition_offset **po, int *npo)
{
    size_t o = push_key(c, key);
    const char *what = is_start ? "earliest, latest or {partition: offset, ...}"
                                : "latest or {partition: offset, ...}";

    if (n->type == YAML_MAPPING_NODE) {
        *kind = WR_OFFSETS_EXPLICIT;
        parse_offsets(c, n, po, npo);
    } else if (n->type == YAML_SCALAR_NODE && is_start && strcmp(sval(n), "earliest") == 0) {
        *kind = WR_OFFSETS_EARLIEST;
    } else if (n->type == YAML_SCALAR_NODE && strcmp(sval(n), "latest") == 0) {
        *kind = WR_OFFSETS_LATEST;
    } else {
        expected(c, n, what);
    }
    pop(c, o);
}

static void parse_properties(ctx *c, yaml_node_t *n, wr_kafka_spec *k)
{
    size_t o = push_key(c, "properties");
    yaml_node_pair_t *start;
    int cnt;

    if (n->type != YAML_MAPPING_NODE) {
        expected(c, n, "a mapping of librdkafka properties");
        goto out;
    }
    start = n->data.mapping.pairs.start;
    cnt = (int)(n->data.mapping.pairs.top - start);
    k->prop_keys = xcalloc(c, (size_t)cnt, sizeof *k->prop_keys);
    k->prop_vals = xcalloc(c, (size_t)cnt, sizeof *k->prop_vals);
    if (!k->prop_keys || !k->prop_vals)
        goto out;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = get_node(c, p->key);
        yaml_node_t *vn = get_node(c, p->value);
        const char *key, *val;
        size_t o2;

        if (!kn || !vn || !(key = key_text(c, kn)) || dup_key(c, start, p, kn))
            continue;
        o2 = push_key(c, key);
        val = scalar(c, vn, "a property value (text or number)");
        if (val) {
            char *kd = xstrdup(c, key), *vd = xstrdup(c, val);
            if (kd && vd) {
                k->prop_keys[k->n_props] = kd;
                k->prop_vals[k->n_props] = vd;
                k->n_props++;
            } else {
                free(kd);
                free(vd);
            }
        }
        pop(c, o2);
    }
out:
    pop(c, o);
}

static void parse_kafka(ctx *c, yaml_node_t *n, enum kafka_role role, wr_kafka_spec *k)
{
    static const char *const *tables[] = {kafka_source_fields, kafka_sink_fields,
                                          kafka_side_fields};
    size_t o = push_key(c, "kafka");
    fieldset fs;
    yaml_node_t *v;

    k->loc = node_loc(n);
    if (!get_fields(c, n, tables[role], &fs))
        goto out;
    if (role != KAFKA_SIDE || fs.key[K_BROKERS]) {
        if ((v = need(c, n, &fs, K_BROKERS, "brokers")))
            get_str(c, v, "brokers", &k->brokers);
    }
    if ((v = need(c, n, &fs, K_TOPIC, "topic")))
        get_str(c, v, "topic", &k->topic);
    if (role == KAFKA_SOURCE) {
        if ((v = fs.val[K_START]))
            parse_start_stop(c, v, "start", true, &k->start, &k->start_offsets,
                             &k->n_start_offsets);
        if ((v = fs.val[K_STOP]))
            parse_start_stop(c, v, "stop", false, &k->stop, &k->stop_offsets, &k->n_stop_offsets);
    } else {
        for (int i = K_START; i <= K_STOP; i++) {
            if (fs.key[i])
                diag(c, fs.key[i], "only sources take '%s'", i == K_START ? "start" : "stop");
        }
    }
    if (role == KAFKA_SINK) {
        if ((v = fs.val[K_DELIVERY])) {
            size_t o2 = push_key(c, "delivery");
            const char *s = scalar(c, v, "at_least_once or exactly_once");
            if (s && strcmp(s, "at_least_once") == 0)
                k->delivery = WR_DELIVERY_AT_LEAST_ONCE;
            else if (s && strcmp(s, "exactly_once") == 0)
                k->delivery = WR_DELIVERY_EXACTLY_ONCE;
            else if (s)
                expected(c, v, "at_least_once or exactly_once");
            pop(c, o2);
        }
    } else if (fs.key[K_DELIVERY]) {
        diag(c, fs.key[K_DELIVERY], "only sinks take 'delivery'");
    }
    if ((v = fs.val[K_PROPERTIES]))
        parse_properties(c, v, k);
out:
    pop(c, o);
}

static void parse_format(ctx *c, yaml_node_t *n, wr_format *out)
{
    size_t o = push_key(c, "format");
    const char *s = scalar(c, n, "a format (json)");
    char b[SNIP_LEN + 4];

    if (s && strcmp(s, "json") == 0)
        *out = WR_FORMAT_JSON;
    else if (s)
        diag(c, n, "unsupported format '%s' (expected json)", snip(b, s, strlen(s)));
    pop(c, o);
}

/* Checks a job, source or sink name. */
static void check_name(ctx *c, yaml_node_t *n, const char *key, const char *name)
{
    size_t o = push_key(c, key);
    char b[SNIP_LEN + 4];

    if (!is_name(name))
        diag(c, n, "'%s' is not a valid name (use 1 to %d of the characters A-Z a-z 0-9 . _ -)",
             snip(b, name, strlen(name)), MAX_NAME_LEN);
    pop(c, o);
}

/* ---- sources ---------------------------------------------------------------------- */

enum { S_NAME, S_KAFKA, S_FORMAT, S_SCHEMA, S_EVENT_TIME };
static const char *const source_fields[] = {"name",   "kafka",      "format",
                                            "schema", "event_time", NULL};

/* Returns true if the schema is complete (no errors). */
static bool parse_schema(ctx *c, yaml_node_t *n, wr_schema *schema)
{
    size_t o = push_key(c, "schema");
    int before = errors(c);
    yaml_node_pair_t *start;

    if (n->type != YAML_MAPPING_NODE) {
        expected(c, n, "a mapping of field: type");
        goto out;
    }
    start = n->data.mapping.pairs.start;
    if (start == n->data.mapping.pairs.top)
        diag(c, n, "schema needs at least one field");
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = get_node(c, p->key);
        yaml_node_t *vn = get_node(c, p->value);
        const char *key, *tn;
        size_t o2;
        wr_type t;
        bool opt = false;

        if (!kn || !vn || !(key = key_text(c, kn)) || dup_key(c, start, p, kn))
            continue;
        o2 = push_key(c, key);
        tn = scalar(c, vn, "a type name");
        if (tn && !wr_type_parse(tn, &t, &opt)) {
            char b[SNIP_LEN + 4];
            diag(c, vn,
                 "unknown type '%s' (expected string, long, double, bool, timestamp_ms, "
                 "optionally followed by ?)",
                 snip(b, tn, strlen(tn)));
        } else if (tn && !wr_schema_add(schema, key, t, opt)) {
            c->oom = true;
        }
        pop(c, o2);
    }
out:
    pop(c, o);
    return errors(c) == before && !c->oom;
}

enum { E_FIELD, E_MAX_OOO, E_IDLE };
static const char *const event_time_fields[] = {"field", "max_out_of_orderness", "idle_timeout",
                                                NULL};

static void parse_event_time(ctx *c, yaml_node_t *n, wr_source_spec *src, bool schema_ok)
{
    size_t o = push_key(c, "event_time");
    fieldset fs;
    yaml_node_t *v;

    if (!get_fields(c, n, event_time_fields, &fs))
        goto out;
    src->has_event_time = true;
    if ((v = need(c, n, &fs, E_FIELD, "field"))) {
        size_t o2 = push_key(c, "field");
        const char *f = scalar(c, v, "a field name");
        int col = f ? wr_schema_find(&src->schema, f, strlen(f)) : -1;
        char b[SNIP_LEN + 4];

        if (f && col < 0 && schema_ok) {
            diag(c, v, "'%s' is not a field of the schema", snip(b, f, strlen(f)));
        } else if (col >= 0) {
            const wr_field *fd = &src->schema.fields[col];
            if (fd->type != WR_T_TIMESTAMP && fd->type != WR_T_LONG)
                diag(c, v, "event time field '%s' must be timestamp_ms or long, got %s", fd->name,
                     wr_type_name(fd->type));
            else if (fd->optional)
                diag(c, v, "event time field '%s' must not be optional", fd->name);
            else
                src->event_time_col = col;
        }
        pop(c, o2);
    }
    if ((v = fs.val[E_MAX_OOO]))
        get_dur(c, v, "max_out_of_orderness", 0, &src->max_out_of_orderness_ms);
    if ((v = fs.val[E_IDLE]))
        get_dur(c, v, "idle_timeout", 0, &src->idle_timeout_ms);
out:
    pop(c, o);
}

static bool parse_source(ctx *c, yaml_node_t *n, wr_source_spec *src, wr_loc *name_loc)
{
    fieldset fs;
    yaml_node_t *v;
    bool schema_ok = false;

    src->loc = node_loc(n);
    src->kafka.start = WR_OFFSETS_EARLIEST;
    src->event_time_col = -1;
    if (!get_fields(c, n, source_fields, &fs))
        return false;
    if ((v = need(c, n, &fs, S_NAME, "name")) && get_str(c, v, "name", &src->name)) {
        check_name(c, v, "name", src->name);
        *name_loc = node_loc(v);
    }
    if ((v = need(c, n, &fs, S_KAFKA, "kafka")))
        parse_kafka(c, v, KAFKA_SOURCE, &src->kafka);
    if ((v = fs.val[S_FORMAT]))
        parse_format(c, v, &src->format);
    if ((v = need(c, n, &fs, S_SCHEMA, "schema")))
        schema_ok = parse_schema(c, v, &src->schema);
    if ((v = fs.val[S_EVENT_TIME]))
        parse_event_time(c, v, src, schema_ok);
    return schema_ok;
}

/* ---- pipeline --------------------------------------------------------------------- */

typedef struct pipe_state {
    int input_source;   /* -1 if unknown */
    bool source_step;   /* the pipeline starts with `source: NAME` */
    const bool *src_ok; /* per source: its schema has no errors */
    bool schema_ok;     /* no earlier step left its output schema uncertain */
    int key_by_op;      /* op index or -1 */
    int window_op;      /* op index or -1 */
    int aggregate_op;   /* op index or -1 */
    int prev_kind;      /* kind of the previous step: wr_op_kind, -1 none, -2 unknown */
    char window_path[PATH_LEN];
    bool map_after_key_by; /* a map between key_by and window: where it is */
    wr_loc map_loc;
    char map_path[PATH_LEN];
} pipe_state;

/* True when the schema flowing through the pipeline is known exactly, so a field that
 * is not found really is unknown. */
static bool known(const pipe_state *ps)
{
    return ps->schema_ok && ps->input_source >= 0 && ps->src_ok && ps->src_ok[ps->input_source];
}

/* Where an expression error points: the scalar's start, moved to the column the
 * message names when the scalar is on one line and written without escapes. */
static wr_loc expr_loc(const yaml_node_t *n, const char *msg)
{
    wr_loc l = node_loc(n);
    const char *s = sval(n);
    size_t len = n->data.scalar.length;
    size_t raw = n->end_mark.index - n->start_mark.index;
    char *end;
    long col;

    if (strncmp(msg, "column ", 7) != 0)
        return l;
    col = strtol(msg + 7, &end, 10);
    if (end == msg + 7 || col < 1 || (size_t)col > len + 1)
        return l;
    if (n->start_mark.line != n->end_mark.line)
        return l;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return l;
    }
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && raw == len)
        l.col += (int)col - 1;
    else if ((n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
              n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
             raw == len + 2)
        l.col += (int)col;
    return l;
}

/* Compiles the expression in scalar n against in; reports at the current path. */
static wr_expr *compile(ctx *c, yaml_node_t *n, const wr_schema *in)
{
    wr_errbuf eb;
    wr_expr *e = NULL;
    wr_err err;

    eb.msg[0] = '\0';
    err = wr_expr_compile(sval(n), in, &e, &eb);
    if (err == WR_ENOMEM) {
        c->oom = true;
        return NULL;
    }
    if (err != WR_OK) {
        diag_loc(c, expr_loc(n, eb.msg), "%s", eb.msg[0] ? eb.msg : wr_strerror(err));
        return NULL;
    }
    return e;
}

static void list_fields(const wr_schema *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->nfields && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s->fields[i].name);
}

/* Looks up field name in s; reports "unknown field" at n when the schema is known. */
static int find_field(ctx *c, yaml_node_t *n, const char *name, const wr_schema *s,
                      const pipe_state *ps)
{
    int col = wr_schema_find(s, name, strlen(name));
    if (col < 0 && known(ps)) {
        char list[512], b[SNIP_LEN + 4];
        list_fields(s, list, sizeof list);
        diag(c, n, "unknown field '%s' (fields: %s)", snip(b, name, strlen(name)), list);
    }
    return col;
}

static void parse_filter(ctx *c, yaml_node_t *n, wr_op_spec *op, const pipe_state *ps)
{
    const char *s = scalar(c, n, "a filter expression");
    if (!s || !(op->filter_src = xstrdup(c, s)) || !known(ps))
        return;
    op->filter = compile(c, n, &op->in_schema);
    if (op->filter && wr_expr_type(op->filter) != WR_T_BOOL) {
        diag(c, n, "filter must be a bool expression, got %s",
             wr_type_name(wr_expr_type(op->filter)));
        wr_expr_free(op->filter);
        op->filter = NULL;
    }
}

static void parse_map(ctx *c, yaml_node_t *n, wr_op_spec *op, const pipe_state *ps)
{
    yaml_node_pair_t *start;
    int cnt;

    if (n->type != YAML_MAPPING_NODE) {
        expected(c, n, "a mapping of output field: expression");
        return;
    }
    start = n->data.mapping.pairs.start;
    cnt = (int)(n->data.mapping.pairs.top - start);
    if (cnt == 0) {
        diag(c, n, "map needs at least one output field");
        return;
    }
    op->map = xcalloc(c, (size_t)cnt, sizeof *op->map);
    if (!op->map)
        return;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = get_node(c, p->key);
        yaml_node_t *vn = get_node(c, p->value);
        const char *key, *src;
        wr_map_field *mf;
        size_t o;

        if (!kn || !vn || !(key = key_text(c, kn)) || dup_key(c, start, p, kn))
            continue;
        o = push_key(c, key);
        if (!is_ident(key)) {
            char b[SNIP_LEN + 4];
            diag(c, kn,
                 "'%s' is not a valid field name (use letters, digits and _, not "
                 "starting with a digit)",
                 snip(b, key, strlen(key)));
        }
        src = scalar(c, vn, "an expression");
        if (src) {
            mf = &op->map[op->n_map++];
            mf->loc = node_loc(vn);
            mf->name = xstrdup(c, key);
            mf->src = xstrdup(c, src);
            if (known(ps) && mf->name && mf->src) {
                mf->expr = compile(c, vn, &op->in_schema);
                if (mf->expr && !wr_schema_add(&op->out_schema, key, wr_expr_type(mf->expr),
                                               wr_expr_nullable(mf->expr)))
                    c->oom = true;
            }
        }
        pop(c, o);
    }
}

static void add_key_col(ctx *c, yaml_node_t *n, wr_op_spec *op, const pipe_state *ps)
{
    const char *f = scalar(c, n, "a field name");
    int col;

    if (!f)
        return;
    col = find_field(c, n, f, &op->in_schema, ps);
    if (col < 0)
        return;
    for (int i = 0; i < op->n_keys; i++) {
        if (op->key_cols[i] == col) {
            diag(c, n, "key field '%s' is listed twice", f);
            return;
        }
    }
    op->key_cols[op->n_keys++] = col;
}

static void parse_key_by(ctx *c, yaml_node_t *n, wr_op_spec *op, const pipe_state *ps)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        int cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        if (cnt == 0) {
            diag(c, n, "key_by needs at least one field");
            return;
        }
        op->key_cols = xcalloc(c, (size_t)cnt, sizeof *op->key_cols);
        if (!op->key_cols)
            return;
        for (int i = 0; i < cnt; i++) {
            yaml_node_t *it = get_node(c, n->data.sequence.items.start[i]);
            size_t o = push_idx(c, i);
            if (it)
                add_key_col(c, it, op, ps);
            pop(c, o);
        }
    } else if (n->type == YAML_SCALAR_NODE) {
        op->key_cols = xcalloc(c, 1, sizeof *op->key_cols);
        if (op->key_cols)
            add_key_col(c, n, op, ps);
    } else {
        expected(c, n, "a field name or a list of field names");
    }
}

enum { W_TUMBLING, W_SLIDING, W_SESSION, W_LATENESS };
static const char *const window_fields[] = {"tumbling", "sliding", "session", "allowed_lateness",
                                            NULL};
static const char *const sliding_fields[] = {"size", "slide", NULL};
static const char *const session_fields[] = {"gap", NULL};

static void parse_window(ctx *c, yaml_node_t *n, wr_op_spec *op)
{
    fieldset fs, sub;
    yaml_node_t *v;
    int kinds = 0;

    if (!get_fields(c, n, window_fields, &fs))
        return;
    for (int i = W_TUMBLING; i <= W_SESSION; i++)
        kinds += fs.key[i] != NULL;
    if (kinds == 0) {
        diag(c, n, "window needs one of tumbling, sliding or session");
        return;
    }
    if (kinds > 1) {
        diag(c, n, "window takes exactly one of tumbling, sliding or session, got %d", kinds);
        return;
    }
    if (fs.key[W_TUMBLING]) {
        op->window = WR_WINDOW_TUMBLING;
        if ((v = need(c, n, &fs, W_TUMBLING, "tumbling")))
            get_dur(c, v, "tumbling", 1, &op->size_ms);
    } else if (fs.key[W_SLIDING]) {
        op->window = WR_WINDOW_SLIDING;
        if ((v = need(c, n, &fs, W_SLIDING, "sliding"))) {
            size_t o = push_key(c, "sliding");
            yaml_node_t *size, *slide;
            if (get_fields(c, v, sliding_fields, &sub)) {
                bool ok = true;
                if ((size = need(c, v, &sub, 0, "size")))
                    ok &= get_dur(c, size, "size", 1, &op->size_ms);
                if ((slide = need(c, v, &sub, 1, "slide")))
                    ok &= get_dur(c, slide, "slide", 1, &op->slide_ms);
                if (size && slide && ok) {
                    size_t o2 = push_key(c, "slide");
                    if (op->slide_ms > op->size_ms)
                        diag(c, slide, "slide must not be longer than size");
                    else if (op->size_ms % op->slide_ms != 0)
                        diag(c, slide,
                             "size must be a whole multiple of slide (size %lldms, "
                             "slide %lldms)",
                             (long long)op->size_ms, (long long)op->slide_ms);
                    pop(c, o2);
                }
            }
            pop(c, o);
        }
    } else {
        op->window = WR_WINDOW_SESSION;
        if ((v = need(c, n, &fs, W_SESSION, "session"))) {
            size_t o = push_key(c, "session");
            yaml_node_t *gap;
            if (get_fields(c, v, session_fields, &sub) && (gap = need(c, v, &sub, 0, "gap")))
                get_dur(c, gap, "gap", 1, &op->gap_ms);
            pop(c, o);
        }
    }
    if ((v = fs.val[W_LATENESS]))
        get_dur(c, v, "allowed_lateness", 0, &op->allowed_lateness_ms);
}

static const struct {
    const char *name;
    wr_agg_func func;
} agg_funcs[] = {
    {"count", WR_AGG_COUNT}, {"sum", WR_AGG_SUM},   {"min", WR_AGG_MIN},
    {"max", WR_AGG_MAX},     {"avg", WR_AGG_AVG},   {"count_distinct", WR_AGG_COUNT_DISTINCT},
    {"first", WR_AGG_FIRST}, {"last", WR_AGG_LAST},
};
#define AGG_FUNC_LIST "count, sum, min, max, avg, count_distinct, first, last"

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static const char *scan_ident(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return s;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
           *s == '_')
        s++;
    return s;
}

/* Parses "func(field)" / "count()" into a; returns false after reporting. */
static bool parse_agg_call(ctx *c, yaml_node_t *n, const char *s, const wr_schema *in,
                           const pipe_state *ps, wr_agg_spec *a)
{
    const char *f0 = skip_ws(s), *f1 = scan_ident(f0), *p, *a0, *a1;
    char b[SNIP_LEN + 4];
    int fi = -1;
    const wr_field *fd;

    p = skip_ws(f1);
    if (f1 == f0 || *p != '(') {
        diag(c, n,
             "'%s' is not an aggregate call (expected func(field), e.g. sum(amount); "
             "functions: " AGG_FUNC_LIST ")",
             snip(b, s, strlen(s)));
        return false;
    }
    a0 = skip_ws(p + 1);
    a1 = scan_ident(a0);
    p = skip_ws(a1);
    if (*p != ')' || *skip_ws(p + 1) != '\0') {
        diag(c, n,
             "'%s' is not an aggregate call (the argument must be a single field name, "
             "e.g. sum(amount), not an expression)",
             snip(b, s, strlen(s)));
        return false;
    }
    for (size_t i = 0; i < sizeof agg_funcs / sizeof agg_funcs[0]; i++) {
        if (strlen(agg_funcs[i].name) == (size_t)(f1 - f0) &&
            memcmp(agg_funcs[i].name, f0, (size_t)(f1 - f0)) == 0)
            fi = (int)i;
    }
    if (fi < 0) {
        diag(c, n, "unknown aggregate function '%.*s' (expected one of: " AGG_FUNC_LIST ")",
             (int)(f1 - f0 > SNIP_LEN ? SNIP_LEN : f1 - f0), f0);
        return false;
    }
    a->func = agg_funcs[fi].func;
    if (a->func == WR_AGG_COUNT) {
        if (a1 != a0) {
            diag(c, n, "count() takes no argument (it counts records)");
            return false;
        }
        a->arg_col = -1;
        a->out_type = WR_T_LONG;
        return true;
    }
    if (a1 == a0) {
        diag(c, n, "%s needs a field: %s(field)", agg_funcs[fi].name, agg_funcs[fi].name);
        return false;
    }
    {
        char name[256];
        size_t len = (size_t)(a1 - a0) < sizeof name - 1 ? (size_t)(a1 - a0) : sizeof name - 1;
        memcpy(name, a0, len);
        name[len] = '\0';
        a->arg_col = find_field(c, n, name, in, ps);
    }
    if (a->arg_col < 0)
        return false;
    fd = &in->fields[a->arg_col];
    switch (a->func) {
    case WR_AGG_SUM:
    case WR_AGG_AVG:
        if (fd->type != WR_T_LONG && fd->type != WR_T_DOUBLE) {
            diag(c, n, "%s needs a numeric field (long or double), '%s' is %s", agg_funcs[fi].name,
                 fd->name, wr_type_name(fd->type));
            return false;
        }
        a->out_type = a->func == WR_AGG_AVG ? WR_T_DOUBLE : fd->type;
        break;
    case WR_AGG_MIN:
    case WR_AGG_MAX:
        if (fd->type == WR_T_BOOL) {
            diag(c, n, "%s needs a long, double, timestamp_ms or string field, '%s' is %s",
                 agg_funcs[fi].name, fd->name, wr_type_name(fd->type));
            return false;
        }
        a->out_type = fd->type;
        break;
    case WR_AGG_COUNT_DISTINCT:
        a->out_type = WR_T_LONG;
        break;
    default: /* first, last */
        a->out_type = fd->type;
        break;
    }
    return true;
}

static void parse_aggregate(ctx *c, yaml_node_t *n, wr_op_spec *op, const wr_op_spec *key_op,
                            const pipe_state *ps)
{
    yaml_node_pair_t *start;
    int cnt;

    if (key_op) {
        for (int i = 0; i < key_op->n_keys; i++) {
            const wr_field *f = &key_op->in_schema.fields[key_op->key_cols[i]];
            if (!wr_schema_add(&op->out_schema, f->name, f->type, f->optional))
                c->oom = true;
        }
    }
    if (!wr_schema_add(&op->out_schema, "window_start", WR_T_TIMESTAMP, false) ||
        !wr_schema_add(&op->out_schema, "window_end", WR_T_TIMESTAMP, false))
        c->oom = true;
    if (n->type != YAML_MAPPING_NODE) {
        expected(c, n, "a mapping of output field: \"func(field)\"");
        return;
    }
    start = n->data.mapping.pairs.start;
    cnt = (int)(n->data.mapping.pairs.top - start);
    if (cnt == 0) {
        diag(c, n, "aggregate needs at least one output field, e.g. {clicks: \"count()\"}");
        return;
    }
    op->aggs = xcalloc(c, (size_t)cnt, sizeof *op->aggs);
    if (!op->aggs)
        return;
    for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = get_node(c, p->key);
        yaml_node_t *vn = get_node(c, p->value);
        const char *key, *src;
        wr_agg_spec a = {.arg_col = -1};
        size_t o;
        char b[SNIP_LEN + 4];

        if (!kn || !vn || !(key = key_text(c, kn)) || dup_key(c, start, p, kn))
            continue;
        o = push_key(c, key);
        if (!is_ident(key)) {
            diag(c, kn,
                 "'%s' is not a valid field name (use letters, digits and _, not "
                 "starting with a digit)",
                 snip(b, key, strlen(key)));
        } else if (strcmp(key, "window_start") == 0 || strcmp(key, "window_end") == 0) {
            diag(c, kn, "'%s' is reserved for the window bounds", key);
        } else if (wr_schema_find(&op->out_schema, key, strlen(key)) >= 0) {
            diag(c, kn, "'%s' clashes with a key_by field of the same name", key);
        }
        src = scalar(c, vn, "an aggregate call such as \"count()\" or \"sum(field)\"");
        if (src && parse_agg_call(c, vn, src, &op->in_schema, ps, &a)) {
            bool nullable = a.arg_col >= 0 && a.func != WR_AGG_COUNT_DISTINCT &&
                            op->in_schema.fields[a.arg_col].optional;
            a.loc = node_loc(vn);
            a.name = xstrdup(c, key);
            if (a.name) {
                op->aggs[op->n_aggs++] = a;
                if (!wr_schema_add(&op->out_schema, key, a.out_type, nullable))
                    c->oom = true;
            }
        }
        pop(c, o);
    }
}

static const char *const op_names[] = {"source", "filter",    "map", "key_by",
                                       "window", "aggregate", NULL};

static void list_sources(const wr_job_spec *spec, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < spec->n_sources && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                 spec->sources[i].name ? spec->sources[i].name : "?");
}

/* Handles `source: NAME` at step i; sets ps->input_source. */
static void parse_source_step(ctx *c, yaml_node_t *n, int i, wr_job_spec *spec, pipe_state *ps)
{
    const char *s = scalar(c, n, "a source name");
    char b[SNIP_LEN + 4], list[512];

    if (i != 0) {
        diag(c, n, "'source' can only be the first pipeline step");
        return;
    }
    ps->input_source = -1;
    ps->source_step = true;
    if (!s)
        return;
    for (int j = 0; j < spec->n_sources; j++) {
        if (spec->sources[j].name && strcmp(spec->sources[j].name, s) == 0) {
            ps->input_source = j;
            return;
        }
    }
    list_sources(spec, list, sizeof list);
    if (spec->n_sources > 0)
        diag(c, n, "unknown source '%s' (sources: %s)", snip(b, s, strlen(s)), list);
}

/* Checks one operator step and appends it to spec->ops. */
static void parse_step(ctx *c, yaml_node_t *item, int i, wr_job_spec *spec, pipe_state *ps,
                       const wr_schema *in)
{
    yaml_node_pair_t *pair;
    yaml_node_t *kn, *vn;
    const char *key;
    int k, before = errors(c);
    wr_op_spec *op;
    size_t o;

    if (item->type != YAML_MAPPING_NODE) {
        expected(c, item, "an operator such as {filter: \"expr\"}");
        ps->prev_kind = -2;
        return;
    }
    if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (pair = item->data.mapping.pairs.start; pair < item->data.mapping.pairs.top; pair++) {
            kn = get_node(c, pair->key);
            if (kn && kn->type == YAML_SCALAR_NODE && used < sizeof list)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%.40s",
                                         used ? ", " : "", sval(kn));
        }
        if (used == 0)
            diag(c, item,
                 "expected one operator (source, filter, map, key_by, window, "
                 "aggregate), got an empty mapping");
        else
            diag(c, item,
                 "each pipeline step is a mapping with exactly one operator, got %d "
                 "(%s); write each operator as its own list item",
                 (int)(item->data.mapping.pairs.top - item->data.mapping.pairs.start), list);
        ps->prev_kind = -2;
        return;
    }
    pair = item->data.mapping.pairs.start;
    kn = get_node(c, pair->key);
    vn = get_node(c, pair->value);
    if (!kn || !vn || !(key = key_text(c, kn))) {
        ps->prev_kind = -2;
        return;
    }
    for (k = 0; op_names[k]; k++) {
        if (strcmp(op_names[k], key) == 0)
            break;
    }
    if (!op_names[k]) {
        char b[SNIP_LEN + 4];
        diag(c, kn,
             "unknown operator '%s' (expected one of: source, filter, map, key_by, "
             "window, aggregate)",
             snip(b, key, strlen(key)));
        ps->prev_kind = -2;
        ps->schema_ok = false;
        return;
    }
    o = push_key(c, key);
    if (k == 0) {
        parse_source_step(c, vn, i, spec, ps);
        pop(c, o);
        return;
    }
    if (is_null(vn)) {
        diag(c, vn, "'%s' needs a value", key);
        pop(c, o);
        if (k == 2 || k == 5)
            ps->schema_ok = false;
        ps->prev_kind = -2;
        return;
    }
    op = &spec->ops[spec->n_ops++];
    op->kind = (wr_op_kind)(k - 1);
    op->loc = node_loc(kn);
    if (!wr_schema_copy(&op->in_schema, in))
        c->oom = true;

    /* ordering rules */
    if (ps->prev_kind == WR_OP_WINDOW && op->kind != WR_OP_AGGREGATE)
        add_diag(c, spec->ops[ps->window_op].loc, ps->window_path,
                 "window must be directly followed by aggregate");
    switch (op->kind) {
    case WR_OP_MAP:
        if (ps->key_by_op >= 0 && ps->window_op < 0 && !ps->map_after_key_by) {
            ps->map_after_key_by = true;
            ps->map_loc = op->loc;
            memcpy(ps->map_path, c->path, sizeof ps->map_path);
        }
        break;
    case WR_OP_KEY_BY:
        if (ps->key_by_op >= 0)
            diag(c, kn, "only one key_by per pipeline (the first is at line %d)",
                 spec->ops[ps->key_by_op].loc.line);
        else
            ps->key_by_op = spec->n_ops - 1;
        break;
    case WR_OP_WINDOW:
        if (ps->window_op >= 0) {
            diag(c, kn, "only one window per pipeline (the first is at line %d)",
                 spec->ops[ps->window_op].loc.line);
            break;
        }
        ps->window_op = spec->n_ops - 1;
        memcpy(ps->window_path, c->path, sizeof ps->window_path);
        if (ps->key_by_op < 0)
            diag(c, kn, "window needs a key_by before it (key_by, window, aggregate)");
        if (ps->map_after_key_by)
            add_diag(c, ps->map_loc, ps->map_path,
                     "a map between key_by and window would change the key fields; move it "
                     "before key_by");
        if (ps->input_source >= 0 && !spec->sources[ps->input_source].has_event_time)
            diag(c, kn, "window needs event time: add event_time {field: ...} to source '%s'",
                 spec->sources[ps->input_source].name ? spec->sources[ps->input_source].name : "?");
        break;
    case WR_OP_AGGREGATE:
        if (ps->aggregate_op >= 0)
            diag(c, kn, "only one aggregate per pipeline (the first is at line %d)",
                 spec->ops[ps->aggregate_op].loc.line);
        else if (ps->window_op < 0)
            diag(c, kn, "aggregate needs a window before it (key_by, window, aggregate)");
        /* not right after the window: reported at the window ("must be directly
         * followed by aggregate"), once */
        if (ps->aggregate_op < 0)
            ps->aggregate_op = spec->n_ops - 1;
        break;
    default:
        break;
    }

    switch (op->kind) {
    case WR_OP_FILTER:
        parse_filter(c, vn, op, ps);
        break;
    case WR_OP_MAP:
        parse_map(c, vn, op, ps);
        break;
    case WR_OP_KEY_BY:
        parse_key_by(c, vn, op, ps);
        break;
    case WR_OP_WINDOW:
        parse_window(c, vn, op);
        break;
    case WR_OP_AGGREGATE:
        parse_aggregate(c, vn, op, ps->key_by_op >= 0 ? &spec->ops[ps->key_by_op] : NULL, ps);
        break;
    }
    if (op->kind != WR_OP_MAP && op->kind != WR_OP_AGGREGATE) {
        if (!wr_schema_copy(&op->out_schema, &op->in_schema))
            c->oom = true;
    } else if (errors(c) != before) {
        ps->schema_ok = false;
    }
    ps->prev_kind = (int)op->kind;
    pop(c, o);
}

static void parse_pipeline(ctx *c, yaml_node_t *n, wr_job_spec *spec, pipe_state *ps)
{
    size_t o = push_key(c, "pipeline");
    int cnt = 0;

    if (n && n->type != YAML_SEQUENCE_NODE) {
        expected(c, n, "a list of operators");
        ps->schema_ok = false;
        n = NULL;
    }
    if (n)
        cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    spec->ops = xcalloc(c, (size_t)cnt, sizeof *spec->ops);
    if (!spec->ops) {
        pop(c, o);
        return;
    }
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *item = get_node(c, n->data.sequence.items.start[i]);
        size_t oi = push_idx(c, i);
        const wr_schema *in;

        in = spec->n_ops > 0
                 ? &spec->ops[spec->n_ops - 1].out_schema
                 : (ps->input_source >= 0 ? &spec->sources[ps->input_source].schema : NULL);
        if (item) {
            static const wr_schema empty;
            parse_step(c, item, i, spec, ps, in ? in : &empty);
        }
        pop(c, oi);
    }
    if (ps->prev_kind == WR_OP_WINDOW)
        add_diag(c, spec->ops[ps->window_op].loc, ps->window_path,
                 "window must be directly followed by aggregate");
    pop(c, o);
}

/* ---- sinks ------------------------------------------------------------------------ */

enum { K_SINK_NAME, K_SINK_KAFKA, K_SINK_FORMAT, K_SINK_KEY };
static const char *const sink_fields[] = {"name", "kafka", "format", "key", NULL};

static void parse_sink(ctx *c, yaml_node_t *n, int idx, wr_sink_spec *sink, const wr_schema *out,
                       const pipe_state *ps, wr_loc *name_loc)
{
    fieldset fs;
    yaml_node_t *v;

    sink->loc = node_loc(n);
    sink->key_col = -1;
    if (!get_fields(c, n, sink_fields, &fs))
        return;
    if ((v = fs.val[K_SINK_NAME])) {
        if (get_str(c, v, "name", &sink->name)) {
            check_name(c, v, "name", sink->name);
            *name_loc = node_loc(v);
        }
    } else {
        char b[32];
        snprintf(b, sizeof b, "sink-%d", idx);
        sink->name = xstrdup(c, b);
    }
    if ((v = need(c, n, &fs, K_SINK_KAFKA, "kafka")))
        parse_kafka(c, v, KAFKA_SINK, &sink->kafka);
    if ((v = fs.val[K_SINK_FORMAT]))
        parse_format(c, v, &sink->format);
    if ((v = fs.val[K_SINK_KEY]) && get_str(c, v, "key", &sink->key_field) && out) {
        size_t o = push_key(c, "key");
        int col = wr_schema_find(out, sink->key_field, strlen(sink->key_field));
        if (col < 0 && known(ps)) {
            char list[512], b[SNIP_LEN + 4];
            list_fields(out, list, sizeof list);
            diag(c, v, "'%s' is not a field of the pipeline output (fields: %s)",
                 snip(b, sink->key_field, strlen(sink->key_field)), list);
        }
        sink->key_col = col;
        pop(c, o);
    }
}

/* Source and sink names are unique; `what` is "source" or "sink". */
static void check_unique_names(ctx *c, const char *what, int n, char *const *names,
                               const wr_loc *locs, const char *list_key)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; names[i] && j < i; j++) {
            if (names[j] && strcmp(names[i], names[j]) == 0) {
                size_t o = push_key(c, list_key);
                push_idx(c, i);
                push_key(c, "name");
                diag_loc(c, locs[i], "duplicate %s name '%s' (also used at line %d)", what,
                         names[i], locs[j].line);
                pop(c, o);
                break;
            }
        }
    }
}

/* ---- the job ---------------------------------------------------------------------- */

enum {
    T_NAME,
    T_PARALLELISM,
    T_MAX_PARALLELISM,
    T_CHECKPOINT,
    T_LIMITS,
    T_SOURCES,
    T_PIPELINE,
    T_SINKS,
    T_LATE_DATA,
    T_DEAD_LETTER,
    T_STATE,
};
static const char *const top_fields[] = {
    "name",     "parallelism", "max_parallelism", "checkpoint",  "limits", "sources",
    "pipeline", "sinks",       "late_data",       "dead_letter", "state",  NULL};
static const char *const state_fields[] = {"memory", "dir", "write_buffer", "block_cache", NULL};

static const char *const checkpoint_fields[] = {
    "interval", "timeout", "retained", "storage", "min_pause", "tolerable_failures", NULL};
enum { L_MAX_RECORD, L_BATCH_BYTES, L_BATCH_RECORDS, L_CHANNEL, L_CONSUMER_Q, L_PRODUCER_Q };
static const char *const limits_fields[] = {"max_record_bytes",
                                            "batch_bytes",
                                            "batch_records",
                                            "channel_batches",
                                            "consumer_queue_kbytes",
                                            "producer_queue_kbytes",
                                            NULL};
static const char *const side_fields[] = {"kafka", NULL};

#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)

static void parse_checkpoint(ctx *c, yaml_node_t *n, wr_checkpoint_spec *cp)
{
    size_t o = push_key(c, "checkpoint");
    fieldset fs;
    yaml_node_t *v;

    if (get_fields(c, n, checkpoint_fields, &fs)) {
        if ((v = fs.val[0]))
            get_dur(c, v, "interval", 0, &cp->interval_ms);
        if ((v = fs.val[1]))
            get_dur(c, v, "timeout", 1, &cp->timeout_ms);
        if ((v = fs.val[2]))
            get_int32(c, v, "retained", 1, 1000000, &cp->retained);
        if ((v = fs.val[3]))
            get_str(c, v, "storage", &cp->storage);
        if ((v = fs.val[4]))
            get_dur(c, v, "min_pause", 0, &cp->min_pause_ms);
        if ((v = fs.val[5]))
            get_int32(c, v, "tolerable_failures", 0, 1000000, &cp->tolerable_failures);
    }
    pop(c, o);
}

static void parse_limits(ctx *c, yaml_node_t *n, wr_limits_spec *l)
{
    size_t o = push_key(c, "limits");
    fieldset fs;
    yaml_node_t *v;

    if (get_fields(c, n, limits_fields, &fs)) {
        if ((v = fs.val[L_MAX_RECORD]))
            get_size(c, v, "max_record_bytes", KIB, GIB, &l->max_record_bytes);
        if ((v = fs.val[L_BATCH_BYTES]))
            get_size(c, v, "batch_bytes", KIB, GIB, &l->batch_bytes);
        if ((v = fs.val[L_BATCH_RECORDS]))
            get_int(c, v, "batch_records", 1, 65536, &l->batch_records);
        if ((v = fs.val[L_CHANNEL]))
            get_int(c, v, "channel_batches", 1, 1024, &l->channel_batches);
        if ((v = fs.val[L_CONSUMER_Q]))
            get_int(c, v, "consumer_queue_kbytes", 1, 2097151, &l->consumer_queue_kbytes);
        if ((v = fs.val[L_PRODUCER_Q]))
            get_int(c, v, "producer_queue_kbytes", 1, 2147483647, &l->producer_queue_kbytes);
    }
    pop(c, o);
}

static void parse_state(ctx *c, yaml_node_t *n, wr_state_spec *st)
{
    size_t o = push_key(c, "state");
    fieldset fs;
    yaml_node_t *v;

    if (get_fields(c, n, state_fields, &fs)) {
        if ((v = fs.val[0]))
            get_size(c, v, "memory", 4 * KIB, 1024 * GIB, &st->memory_bytes);
        if ((v = fs.val[1]))
            get_str(c, v, "dir", &st->dir);
        if ((v = fs.val[2]))
            get_size(c, v, "write_buffer", 64 * KIB, 16 * GIB, &st->write_buffer_bytes);
        if ((v = fs.val[3]))
            get_size(c, v, "block_cache", 0, 1024 * GIB, &st->block_cache_bytes);
    }
    pop(c, o);
}

static void parse_side(ctx *c, yaml_node_t *n, const char *key, wr_kafka_spec *k, bool *has)
{
    size_t o = push_key(c, key);
    fieldset fs;
    yaml_node_t *v;

    if (get_fields(c, n, side_fields, &fs) && (v = need(c, n, &fs, 0, "kafka"))) {
        *has = true;
        parse_kafka(c, v, KAFKA_SIDE, k);
    }
    pop(c, o);
}

static void parse_sources(ctx *c, yaml_node_t *n, wr_job_spec *spec, bool **src_ok)
{
    size_t o = push_key(c, "sources");
    int cnt;
    char **names;
    wr_loc *locs;

    if (n->type != YAML_SEQUENCE_NODE) {
        expected(c, n, "a list of sources");
        goto out;
    }
    cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0) {
        diag(c, n, "a job needs at least one source");
        goto out;
    }
    spec->sources = xcalloc(c, (size_t)cnt, sizeof *spec->sources);
    *src_ok = xcalloc(c, (size_t)cnt, sizeof **src_ok);
    if (!spec->sources || !*src_ok)
        goto out;
    spec->n_sources = cnt;
    names = xcalloc(c, (size_t)cnt, sizeof *names);
    locs = xcalloc(c, (size_t)cnt, sizeof *locs);
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *item = get_node(c, n->data.sequence.items.start[i]);
        size_t oi = push_idx(c, i);
        wr_loc name_loc = {0, 0};
        spec->sources[i].event_time_col = -1;
        spec->sources[i].kafka.start = WR_OFFSETS_EARLIEST;
        if (item)
            (*src_ok)[i] = parse_source(c, item, &spec->sources[i], &name_loc);
        if (names && locs) {
            names[i] = spec->sources[i].name;
            locs[i] = name_loc.line ? name_loc : spec->sources[i].loc;
        }
        pop(c, oi);
    }
    pop(c, o);
    if (names && locs)
        check_unique_names(c, "source", cnt, names, locs, "sources");
    free(names);
    free(locs);
    return;
out:
    pop(c, o);
}

static void parse_sinks(ctx *c, yaml_node_t *n, wr_job_spec *spec, const pipe_state *ps)
{
    size_t o = push_key(c, "sinks");
    int cnt;
    const wr_schema *out = NULL;
    char **names;
    wr_loc *locs;

    if (n->type != YAML_SEQUENCE_NODE) {
        expected(c, n, "a list of sinks");
        goto out;
    }
    cnt = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0) {
        diag(c, n, "a job needs at least one sink");
        goto out;
    }
    spec->sinks = xcalloc(c, (size_t)cnt, sizeof *spec->sinks);
    if (!spec->sinks)
        goto out;
    spec->n_sinks = cnt;
    if (spec->n_ops > 0)
        out = &spec->ops[spec->n_ops - 1].out_schema;
    else if (ps->input_source >= 0 && spec->n_sources > 0)
        out = &spec->sources[ps->input_source].schema;
    names = xcalloc(c, (size_t)cnt, sizeof *names);
    locs = xcalloc(c, (size_t)cnt, sizeof *locs);
    for (int i = 0; i < cnt; i++) {
        yaml_node_t *item = get_node(c, n->data.sequence.items.start[i]);
        size_t oi = push_idx(c, i);
        wr_loc name_loc = {0, 0};
        spec->sinks[i].key_col = -1;
        if (item)
            parse_sink(c, item, i, &spec->sinks[i], out, ps, &name_loc);
        if (names && locs) {
            names[i] = spec->sinks[i].name;
            locs[i] = name_loc.line ? name_loc : spec->sinks[i].loc;
        }
        pop(c, oi);
    }
    pop(c, o);
    if (names && locs)
        check_unique_names(c, "sink", cnt, names, locs, "sinks");
    free(names);
    free(locs);
    return;
out:
    pop(c, o);
}

static void check_job(ctx *c, yaml_node_t *root, wr_job_spec *spec)
{
    fieldset fs;
    yaml_node_t *v;
    bool *src_ok = NULL;
    pipe_state ps = {.input_source = -1,
                     .schema_ok = true,
                     .key_by_op = -1,
                     .window_op = -1,
                     .aggregate_op = -1,
                     .prev_kind = -1};
    int64_t par = 1, maxpar = 128;
    char list[512];

    if (root->type != YAML_MAPPING_NODE) {
        expected(c, root, "a job spec (a mapping with name, sources, pipeline and sinks)");
        return;
    }
    get_fields(c, root, top_fields, &fs);
    if ((v = need(c, root, &fs, T_NAME, "name")) && get_str(c, v, "name", &spec->name))
        check_name(c, v, "name", spec->name);
    if ((v = fs.val[T_PARALLELISM]))
        get_int(c, v, "parallelism", 1, 32768, &par);
    if ((v = fs.val[T_MAX_PARALLELISM]))
        get_int(c, v, "max_parallelism", 1, 32768, &maxpar);
    spec->parallelism = (int)par;
    spec->max_parallelism = (int)maxpar;
    if (par > maxpar) {
        yaml_node_t *at = fs.val[T_PARALLELISM] ? fs.val[T_PARALLELISM] : fs.val[T_MAX_PARALLELISM];
        size_t o = push_key(c, "parallelism");
        diag(c, at, "parallelism %lld is greater than max_parallelism %lld", (long long)par,
             (long long)maxpar);
        pop(c, o);
    }
    if ((v = fs.val[T_CHECKPOINT]))
        parse_checkpoint(c, v, &spec->checkpoint);
    if ((v = fs.val[T_LIMITS]))
        parse_limits(c, v, &spec->limits);
    if ((v = fs.val[T_STATE]))
        parse_state(c, v, &spec->state);
    if ((v = need(c, root, &fs, T_SOURCES, "sources")))
        parse_sources(c, v, spec, &src_ok);

    /* the pipeline's input: `source: NAME` as its first step, or the only source */
    if (spec->n_sources == 1)
        ps.input_source = 0;
    ps.src_ok = src_ok;
    parse_pipeline(c, fs.val[T_PIPELINE], spec, &ps);
    if (spec->n_sources > 1) {
        bool chose = ps.source_step;
        list_sources(spec, list, sizeof list);
        if (ps.input_source >= 0) {
            for (int i = 0; i < spec->n_sources; i++) {
                size_t o = push_key(c, "sources"), o2 = push_idx(c, i);
                (void)o2;
                if (i != ps.input_source)
                    diag_loc(c, spec->sources[i].loc,
                             "source '%s' is not read by the pipeline (a pipeline reads exactly "
                             "one source; remove it or give it a job of its own)",
                             spec->sources[i].name ? spec->sources[i].name : "?");
                pop(c, o);
            }
        } else if (!chose) {
            yaml_node_t *at = fs.val[T_PIPELINE] ? fs.val[T_PIPELINE] : fs.val[T_SOURCES];
            size_t o = push_key(c, fs.val[T_PIPELINE] ? "pipeline" : "sources");
            diag(c, at,
                 "the job has %d sources (%s): start the pipeline with 'source: NAME' to pick "
                 "the one it reads",
                 spec->n_sources, list);
            pop(c, o);
        }
    }
    spec->input_source = ps.input_source >= 0 ? ps.input_source : 0;
    if ((v = need(c, root, &fs, T_SINKS, "sinks")))
        parse_sinks(c, v, spec, &ps);
    if ((v = fs.val[T_LATE_DATA]))
        parse_side(c, v, "late_data", &spec->late_data, &spec->has_late_data);
    if ((v = fs.val[T_DEAD_LETTER]))
        parse_side(c, v, "dead_letter", &spec->dead_letter, &spec->has_dead_letter);
    /* side outputs default to the brokers of the source the pipeline reads */
    if (spec->n_sources > 0 && spec->sources[spec->input_source].kafka.brokers) {
        const char *b = spec->sources[spec->input_source].kafka.brokers;
        if (spec->has_late_data && !spec->late_data.brokers)
            spec->late_data.brokers = xstrdup(c, b);
        if (spec->has_dead_letter && !spec->dead_letter.brokers)
            spec->dead_letter.brokers = xstrdup(c, b);
    }
    free(src_ok);
}

/* ---- YAML front end --------------------------------------------------------------- */

static wr_loc offset_loc(const ctx *c, size_t off)
{
    wr_loc l = {1, 1};
    for (size_t i = 0; i < off && i < c->text_len; i++) {
        if (c->text[i] == '\n') {
            l.line++;
            l.col = 1;
        } else if (((unsigned char)c->text[i] & 0xc0) != 0x80) {
            l.col++;
        }
    }
    return l;
}

static void yaml_error(ctx *c, const yaml_parser_t *p)
{
    wr_loc l;

    if (p->error == YAML_MEMORY_ERROR) {
        c->oom = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        l = offset_loc(c, p->problem_offset);
        diag_loc(c, l, "not valid YAML text: %s", p->problem ? p->problem : "read error");
        return;
    }
    l = mark_loc(p->problem_mark);
    if (p->context)
        diag_loc(c, l, "YAML syntax error: %s (%s started at line %d, column %d)",
                 p->problem ? p->problem : "unknown problem", p->context,
                 mark_loc(p->context_mark).line, mark_loc(p->context_mark).col);
    else
        diag_loc(c, l, "YAML syntax error: %s", p->problem ? p->problem : "unknown problem");
}

/* Scans the event stream: syntax errors, anchors, aliases, document count. Returns
 * true if the text is one YAML document free of anchors and aliases. */
static bool prescan(ctx *c, const char *text, size_t len, bool *empty)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int docs = 0;
    bool ok = true;
    char b[SNIP_LEN + 4];

    *empty = false;
    if (!yaml_parser_initialize(&p)) {
        c->oom = true;
        return false;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_type_t t;
        const yaml_char_t *anchor = NULL;

        if (!yaml_parser_parse(&p, &ev)) {
            yaml_error(c, &p);
            ok = false;
            break;
        }
        t = ev.type;
        if (t == YAML_ALIAS_EVENT) {
            diag_loc(c, mark_loc(ev.start_mark),
                     "YAML aliases (*%s) are not supported: write the value out in full",
                     snip(b, (const char *)ev.data.alias.anchor,
                          strlen((const char *)ev.data.alias.anchor)));
            ok = false;
        } else if (t == YAML_SCALAR_EVENT) {
            anchor = ev.data.scalar.anchor;
        } else if (t == YAML_SEQUENCE_START_EVENT) {
            anchor = ev.data.sequence_start.anchor;
        } else if (t == YAML_MAPPING_START_EVENT) {
            anchor = ev.data.mapping_start.anchor;
        } else if (t == YAML_DOCUMENT_START_EVENT && ++docs == 2) {
            diag_loc(c, mark_loc(ev.start_mark),
                     "a job spec is a single YAML document; remove the second one");
            ok = false;
        }
        if (anchor) {
            diag_loc(c, mark_loc(ev.start_mark),
                     "YAML anchors (&%s) are not supported: write each value out in full",
                     snip(b, (const char *)anchor, strlen((const char *)anchor)));
            ok = false;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    if (ok && docs == 0)
        *empty = true;
    return ok;
}

static void kafka_fini(wr_kafka_spec *k)
{
    free(k->brokers);
    free(k->topic);
    free(k->start_offsets);
    free(k->stop_offsets);
    for (int i = 0; i < k->n_props; i++) {
        free(k->prop_keys[i]);
        free(k->prop_vals[i]);
    }
    free(k->prop_keys);
    free(k->prop_vals);
}

void wr_spec_free(wr_job_spec *spec)
{
    if (!spec)
        return;
    for (int i = 0; i < spec->n_sources; i++) {
        free(spec->sources[i].name);
        kafka_fini(&spec->sources[i].kafka);
        wr_schema_fini(&spec->sources[i].schema);
    }
    free(spec->sources);
    for (int i = 0; i < spec->n_ops; i++) {
        wr_op_spec *op = &spec->ops[i];
        free(op->filter_src);
        wr_expr_free(op->filter);
        for (int j = 0; j < op->n_map; j++) {
            free(op->map[j].name);
            free(op->map[j].src);
            wr_expr_free(op->map[j].expr);
        }
        free(op->map);
        free(op->key_cols);
        for (int j = 0; j < op->n_aggs; j++)
            free(op->aggs[j].name);
        free(op->aggs);
        wr_schema_fini(&op->in_schema);
        wr_schema_fini(&op->out_schema);
    }
    free(spec->ops);
    for (int i = 0; i < spec->n_sinks; i++) {
        free(spec->sinks[i].name);
        free(spec->sinks[i].key_field);
        kafka_fini(&spec->sinks[i].kafka);
    }
    free(spec->sinks);
    kafka_fini(&spec->late_data);
    kafka_fini(&spec->dead_letter);
    free(spec->checkpoint.storage);
    free(spec->state.dir);
    free(spec->name);
    free(spec->file);
    free(spec);
}

static bool loc_before(wr_loc a, wr_loc b)
{
    return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* Sorts c->diags into file order (stable: insertion sort over at most MAX_DIAGS) and
 * adds the "too many errors" note. */
static void finish_diags(ctx *c)
{
    for (int i = 1; i < c->n_diags; i++) {
        wr_spec_diag d = c->diags[i];
        int j = i;
        while (j > 0 && loc_before(d.loc, c->diags[j - 1].loc)) {
            c->diags[j] = c->diags[j - 1];
            j--;
        }
        c->diags[j] = d;
    }
    if (c->dropped > 0 && c->diags) {
        char msg[128];
        wr_loc none = {0, 0};
        snprintf(msg, sizeof msg, "too many errors: %d more not shown", c->dropped);
        c->dropped = 0; /* add_diag left the last slot free for this note */
        c->diags[c->n_diags].loc = none;
        c->diags[c->n_diags].path = strdup("");
        c->diags[c->n_diags].msg = strdup(msg);
        if (c->diags[c->n_diags].path && c->diags[c->n_diags].msg) {
            c->n_diags++;
        } else {
            free(c->diags[c->n_diags].path);
            free(c->diags[c->n_diags].msg);
        }
    }
}

static void diags_fini_raw(wr_spec_diag *items, int n)
{
    for (int i = 0; i < n; i++) {
        free(items[i].path);
        free(items[i].msg);
    }
    free(items);
}

wr_err wr_spec_parse(const char *name, const char *text, size_t len, wr_job_spec **out,
                     wr_spec_diags *diags)
{
    ctx c;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false, empty = false;
    wr_job_spec *spec = NULL;
    wr_err err;

    memset(&c, 0, sizeof c);
    c.text = text;
    c.text_len = len;
    if (diags) {
        diags->n = 0;
        diags->items = NULL;
    }
    if (!text)
        len = 0;
    if (!prescan(&c, text ? text : "", len, &empty))
        goto done;
    if (empty) {
        wr_loc l = {1, 1};
        diag_loc(&c, l,
                 "the file is empty (expected a job spec with name, sources, pipeline "
                 "and sinks)");
        goto done;
    }
    if (!yaml_parser_initialize(&parser)) {
        c.oom = true;
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_error(&c, &parser);
        yaml_parser_delete(&parser);
        goto done;
    }
    yaml_parser_delete(&parser);
    have_doc = true;
    c.doc = &doc;
    {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root || is_null(root)) {
            wr_loc l = {1, 1};
            diag_loc(&c, l,
                     "the file is empty (expected a job spec with name, sources, "
                     "pipeline and sinks)");
            goto done;
        }
        spec = calloc(1, sizeof *spec);
        if (!spec) {
            c.oom = true;
            goto done;
        }
        spec->parallelism = 1;
        spec->max_parallelism = 128;
        spec->checkpoint.timeout_ms = 10 * 60 * 1000;
        spec->checkpoint.retained = 3;
        spec->checkpoint.tolerable_failures = 3;
        spec->limits.max_record_bytes = MIB;
        spec->limits.batch_bytes = 32 * KIB;
        spec->limits.batch_records = 1024;
        spec->limits.channel_batches = 16;
        spec->limits.consumer_queue_kbytes = 65536;
        spec->state.memory_bytes = 256 * MIB;
        spec->state.write_buffer_bytes = 8 * MIB;
        spec->state.block_cache_bytes = 8 * MIB;
        spec->limits.producer_queue_kbytes = 65536;
        spec->file = xstrdup(&c, name ? name : "");
        check_job(&c, root, spec);
    }
done:
    if (have_doc)
        yaml_document_delete(&doc);
    if (c.oom)
        err = WR_ENOMEM;
    else if (c.n_diags > 0 || c.dropped > 0)
        err = WR_ESPEC;
    else
        err = WR_OK;
    if (err == WR_OK) {
        *out = spec;
    } else {
        wr_spec_free(spec);
    }
    finish_diags(&c);
    if (diags && err != WR_OK) {
        diags->n = c.n_diags;
        diags->items = c.diags;
    } else {
        diags_fini_raw(c.diags, c.n_diags);
    }
    return err;
}

wr_err wr_spec_load(const char *path, wr_job_spec **out, wr_spec_diags *diags)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    int read_errno = errno;
    wr_err err;

    if (diags) {
        diags->n = 0;
        diags->items = NULL;
    }
    if (f) {
        for (;;) {
            size_t got;
            if (len == cap) {
                size_t ncap = cap ? cap * 2 : 65536;
                char *t = realloc(text, ncap);
                if (!t) {
                    free(text);
                    fclose(f);
                    return WR_ENOMEM;
                }
                text = t;
                cap = ncap;
            }
            got = fread(text + len, 1, cap - len, f);
            len += got;
            if (got == 0)
                break;
        }
        read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
        fclose(f);
    }
    if (!f || read_errno) {
        free(text);
        if (diags) {
            char msg[256];
            diags->items = calloc(1, sizeof *diags->items);
            if (diags->items) {
                snprintf(msg, sizeof msg, "cannot read the file: %s", strerror(read_errno));
                diags->items[0].path = strdup("");
                diags->items[0].msg = strdup(msg);
                diags->n = 1;
            }
        }
        return WR_EIO;
    }
    err = wr_spec_parse(path, text, len, out, diags);
    free(text);
    return err;
}

void wr_spec_diag_format(const char *file, const wr_spec_diag *d, char *buf, size_t size)
{
    const char *path = d->path ? d->path : "";
    const char *msg = d->msg ? d->msg : "";

    if (size == 0)
        return;
    if (d->loc.line > 0)
        snprintf(buf, size, "%s:%d:%d: %s%s%s", file, d->loc.line, d->loc.col, path,
                 *path ? ": " : "", msg);
    else
        snprintf(buf, size, "%s: %s%s%s", file, path, *path ? ": " : "", msg);
}

void wr_spec_diags_fini(wr_spec_diags *d)
{
    if (!d)
        return;
    diags_fini_raw(d->items, d->n);
    d->items = NULL;
    d->n = 0;
}

const wr_schema *wr_spec_output_schema(const wr_job_spec *spec)
{
    if (spec->n_ops > 0)
        return &spec->ops[spec->n_ops - 1].out_schema;
    return &spec->sources[spec->input_source].schema;
}
