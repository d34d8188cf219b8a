/*
 * json.c — the JSON record decoder used by sources and the encoder used by sinks.
 *
 * Decoding is one hand-written pass over the bytes. Every byte of the document is
 * validated (RFC 8259: string escapes, \uXXXX surrogate pairs, UTF-8, the number
 * grammar, literals, nesting up to WR_JSON_MAX_DEPTH, only whitespace after the
 * top-level object), but only the top-level members whose key names a used field are
 * converted; everything else is skipped by an iterative validator that allocates
 * nothing. Keys are found through a small open-addressing table built once per
 * decoder, hashed on (length, first byte, last byte); keys written with escapes are
 * unescaped on the fly before the lookup so "\u0075ser" still finds "user".
 *
 * Errors have a precedence so that the sentence a person sees is the most useful one:
 * a syntax error anywhere in the document ("invalid JSON at byte N: ...", N counted
 * from 0) wins over a field error ("field 'amount': expected double, got string"),
 * which wins over an arena that is too small (WR_ETOOBIG), which wins over a missing
 * required field. So the decoder keeps validating after a field error and reports it
 * only once the whole document is known to be well-formed JSON.
 *
 * On failure the row holds only nulls and the arena is back where it was on entry, so
 * a caller never sees half a record and a rejected record costs no arena space.
 *
 * Number text is converted with the "C" numeric locale whatever the process locale
 * is: one immutable locale object is created on first use (pthread_once).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale, uselocale */
#endif
#include "json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The skipper keeps the kinds of the open containers as bits of one uint64_t. */
_Static_assert(WR_JSON_MAX_DEPTH >= 1 && WR_JSON_MAX_DEPTH <= 64, "depth must fit a uint64_t");

/* wr_value.len of a null that came from a JSON null (rather than an absent member),
 * so the missing-field check can say which. Reset to 0 before wr_json_decode returns. */
#define NULL_FROM_JSON 1u

/* How much of an offending value an error message quotes. */
#define QUOTE_MAX 64

/* ---- the "C" numeric locale ---- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale; /* written once under c_locale_once, read-only afterwards */

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Returns the "C" locale, or (locale_t)0 if it could not be created (out of memory):
 * callers then fall back to the process locale, which is "C" unless someone called
 * setlocale(LC_NUMERIC, ...) — weir's daemons do not. */
static locale_t numeric_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

static double c_strtod(const char *s)
{
    locale_t loc = numeric_locale();
    return loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
}

/* ---- byte classes and UTF-8 ---- */

/* 1 for bytes that stand for themselves inside a JSON string and need no escaping on
 * output: printable ASCII except '"' and '\\'. */
/* clang-format off */
static const uint8_t str_plain[256] = {
    ['\x20'] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f, '"' = 0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,             /* 0x30-0x3f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,             /* 0x40-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,             /* 0x50-0x5f, '\\' = 0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,             /* 0x60-0x6f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,             /* 0x70-0x7f */
};
/* clang-format on */

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Returns the length (2-4) of the well-formed UTF-8 sequence at p, whose first byte is
 * >= 0x80, or 0 if it is not one (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
    size_t avail = (size_t)(end - p);
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;

    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c == 0xF0)
        lo = 0x90; /* overlong */
    if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
               ? 4
               : 0;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Returns the value of the 4 hex digits at p, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int x;
        if (c >= '0' && c <= '9')
            x = c - '0';
        else if (c >= 'a' && c <= 'f')
            x = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            x = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | x;
    }
    return v;
}

/* Largest n' <= n that does not cut a UTF-8 sequence in s, for quoting in messages. */
static int quote_len(const char *s, size_t n)
{
    if (n <= QUOTE_MAX)
        return (int)n;
    n = QUOTE_MAX;
    while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* ---- unescaping (only ever applied to strings the scanner has validated) ---- */

/* p points just past a backslash. Writes the bytes the escape stands for to o, advances
 * *pp past the escape (both halves of a surrogate pair), returns how many bytes. */
static size_t decode_escape(const char **pp, uint8_t o[4])
{
    const char *p = *pp;
    char e = *p++;
    uint32_t cp;

    switch (e) {
    case 'b':
        o[0] = '\b';
        break;
    case 'f':
        o[0] = '\f';
        break;
    case 'n':
        o[0] = '\n';
        break;
    case 'r':
        o[0] = '\r';
        break;
    case 't':
        o[0] = '\t';
        break;
    case 'u':
        cp = (uint32_t)hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* the scanner checked "\\uDC00-DFFF" follows */
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)hex4(p + 2) - 0xDC00);
            p += 6;
        }
        *pp = p;
        return utf8_put(o, cp);
    default: /* '"', '\\', '/' */
        o[0] = (uint8_t)e;
    }
    *pp = p;
    return 1;
}

/* Unescapes the string body raw[0..len) into out[0..cap). Returns the unescaped length,
 * which may exceed cap; then only the first cap bytes were written. Never longer than
 * len: every escape is at least as long as what it stands for. */
static size_t unescape(const char *raw, size_t len, char *out, size_t cap)
{
    const char *p = raw, *end = raw + len;
    size_t o = 0;

    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((bs ? bs : end) - p);
        uint8_t tmp[4];
        size_t n;

        if (o < cap)
            memcpy(out + o, p, run < cap - o ? run : cap - o);
        o += run;
        if (!bs)
            break;
        p = bs + 1;
        n = decode_escape(&p, tmp);
        if (o < cap)
            memcpy(out + o, tmp, n < cap - o ? n : cap - o);
        o += n;
    }
    return o;
}

/* Byte-at-a-time view of an escaped string body, for matching escaped keys (rare). */
typedef struct unesc_iter {
    const char *p, *end;
    uint8_t pend[4];
    size_t npend, ipend;
} unesc_iter;

static void unesc_init(unesc_iter *it, const char *raw, size_t len)
{
    it->p = raw;
    it->end = raw + len;
    it->npend = it->ipend = 0;
}

/* Returns the next unescaped byte, or -1 at the end. */
static int unesc_next(unesc_iter *it)
{
    if (it->ipend < it->npend)
        return it->pend[it->ipend++];
    if (it->p == it->end)
        return -1;
    if (*it->p != '\\')
        return (uint8_t)*it->p++;
    it->p++;
    it->npend = decode_escape(&it->p, it->pend);
    it->ipend = 1;
    return it->pend[0];
}

/* ---- the decoder: field table ---- */

typedef struct json_slot {
    const char *name; /* the schema's field name */
    size_t len;
    int field; /* schema index; -1 marks an empty slot */
} json_slot;

struct wr_json_decoder {
    const wr_schema *schema;
    bool *used;              /* nfields entries, copied from the caller */
    json_slot *slots;        /* open addressing with linear probing, mask + 1 slots */
    size_t mask;             /* at least half the slots are empty, so probes end */
    size_t min_len, max_len; /* key lengths outside this range match no used field */
};

static inline size_t key_hash(size_t len, uint8_t first, uint8_t last)
{
    uint32_t h = (uint32_t)len * 0x9E3779B1u ^ first * 0x85EBCA6Bu ^ last * 0xC2B2AE35u;
    return h ^ h >> 15;
}

wr_json_decoder *wr_json_decoder_new(const wr_schema *schema, const bool *used)
{
    wr_json_decoder *d = calloc(1, sizeof *d);
    size_t nused = 0, nslots = 2;

    if (!d)
        return NULL;
    d->schema = schema;
    d->used = calloc(schema->nfields > 0 ? (size_t)schema->nfields : 1, sizeof *d->used);
    if (!d->used)
        goto fail;
    for (int i = 0; i < schema->nfields; i++) {
        d->used[i] = used ? used[i] : true;
        nused += d->used[i];
    }
    while (nslots < 2 * nused)
        nslots <<= 1;
    d->slots = malloc(nslots * sizeof *d->slots);
    if (!d->slots)
        goto fail;
    for (size_t i = 0; i < nslots; i++)
        d->slots[i].field = -1;
    d->mask = nslots - 1;
    d->min_len = SIZE_MAX;
    d->max_len = 0;
    for (int i = 0; i < schema->nfields; i++) {
        const char *name = schema->fields[i].name;
        size_t len = strlen(name), h;

        if (!d->used[i])
            continue;
        h = key_hash(len, len ? (uint8_t)name[0] : 0, len ? (uint8_t)name[len - 1] : 0);
        for (;; h++) {
            json_slot *s = &d->slots[h & d->mask];
            if (s->field < 0) {
                s->name = name;
                s->len = len;
                s->field = i;
                break;
            }
            if (s->len == len && memcmp(s->name, name, len) == 0)
                break; /* a duplicate name: the first field keeps it, as wr_schema_find */
        }
        if (len < d->min_len)
            d->min_len = len;
        if (len > d->max_len)
            d->max_len = len;
    }
    numeric_locale(); /* create it now rather than on the first record */
    return d;

fail:
    wr_json_decoder_free(d);
    return NULL;
}

void wr_json_decoder_free(wr_json_decoder *d)
{
    if (!d)
        return;
    free(d->slots);
    free(d->used);
    free(d);
}

/* Returns the schema index of the used field called k[0..len), or -1. */
static inline int lookup_key(const wr_json_decoder *d, const char *k, size_t len)
{
    size_t h;

    if (len < d->min_len || len > d->max_len)
        return -1;
    h = key_hash(len, len ? (uint8_t)k[0] : 0, len ? (uint8_t)k[len - 1] : 0);
    for (;; h++) {
        const json_slot *s = &d->slots[h & d->mask];
        if (s->field < 0)
            return -1;
        if (s->len == len && memcmp(s->name, k, len) == 0)
            return s->field;
    }
}

/* As lookup_key for a key whose raw text raw[0..rawlen) contains escapes. */
static int lookup_escaped_key(const wr_json_decoder *d, const char *raw, size_t rawlen)
{
    unesc_iter it;
    size_t len = 0, h;
    int c, first = 0, last = 0;

    unesc_init(&it, raw, rawlen);
    while ((c = unesc_next(&it)) >= 0) {
        if (len == 0)
            first = c;
        last = c;
        if (++len > d->max_len)
            return -1;
    }
    if (len < d->min_len)
        return -1;
    h = key_hash(len, (uint8_t)first, (uint8_t)last);
    for (;; h++) {
        const json_slot *s = &d->slots[h & d->mask];
        size_t i = 0;

        if (s->field < 0)
            return -1;
        if (s->len != len)
            continue;
        unesc_init(&it, raw, rawlen);
        while (i < len && unesc_next(&it) == (uint8_t)s->name[i])
            i++;
        if (i == len)
            return s->field;
    }
}

/* ---- the decoder: syntax ---- */

typedef struct jparse {
    const char *start, *end;
    wr_errbuf *eb;
} jparse;

/* Records a syntax error at `at` and returns NULL, so callers can `return fail(...)`. */
static const char *fail(jparse *jp, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *fail(jparse *jp, const char *at, const char *fmt, ...)
{
    char what[WR_ERRBUF_SIZE];
    size_t off = (size_t)(at - jp->start);
    va_list ap;

    if (!jp->eb)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at == jp->end)
        wr_fail(jp->eb, WR_EMALFORMED, "invalid JSON at byte %zu: unexpected end of input (%s)",
                off, what);
    else
        wr_fail(jp->eb, WR_EMALFORMED, "invalid JSON at byte %zu: %s", off, what);
    return NULL;
}

/* Validates a string whose opening quote is at q. Returns a pointer just past the
 * closing quote, or NULL. *esc tells whether the body contains escapes. */
static const char *scan_string(jparse *jp, const char *q, bool *esc)
{
    const char *p = q + 1, *end = jp->end;
    long cp, lo;

    *esc = false;
    for (;;) {
        uint8_t c;
        size_t n;

        while (p < end && str_plain[(uint8_t)*p])
            p++;
        if (p == end)
            return fail(jp, q, "unterminated string");
        c = (uint8_t)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            *esc = true;
            if (end - p < 2)
                return fail(jp, q, "unterminated string");
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u':
                break;
            default:
                if ((uint8_t)p[1] > 0x20 && (uint8_t)p[1] < 0x7f)
                    return fail(jp, p, "invalid escape '\\%c' in string", p[1]);
                return fail(jp, p, "invalid escape in string");
            }
            if (end - p < 6 || (cp = hex4(p + 2)) < 0)
                return fail(jp, p, "invalid \\u escape: expected 4 hex digits");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(jp, p, "unpaired low surrogate \\u%04lX in string", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0xDC00 ||
                    lo > 0xDFFF)
                    return fail(jp, p, "unpaired high surrogate \\u%04lX in string", cp);
                p += 6;
            }
            p += 6;
            continue;
        }
        if (c < 0x20)
            return fail(jp, p, "control character 0x%02x in string (must be escaped)", c);
        n = utf8_seq((const uint8_t *)p, (const uint8_t *)end);
        if (n == 0)
            return fail(jp, p, "invalid UTF-8 byte 0x%02x in string", c);
        p += n;
    }
}

typedef struct jnum {
    const char *s;
    size_t len;
    bool is_int; /* no fraction, no exponent */
} jnum;

/* Validates a number starting at p ('-' or a digit). Returns a pointer past it or NULL;
 * fills *num if not NULL. */
static const char *scan_number(jparse *jp, const char *p, jnum *num)
{
    const char *s = p, *end = jp->end;
    bool is_int = true;

    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return fail(jp, p, "invalid number: expected a digit after '-'");
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(jp, p, "invalid number: leading zeros are not allowed");
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return fail(jp, p, "invalid number: expected a digit after '.'");
        while (p < end && is_digit(*p))
            p++;
        is_int = false;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail(jp, p, "invalid number: expected a digit in the exponent");
        while (p < end && is_digit(*p))
            p++;
        is_int = false;
    }
    if (num) {
        num->s = s;
        num->len = (size_t)(p - s);
        num->is_int = is_int;
    }
    return p;
}

/* Validates true, false or null at p. Returns a pointer past it or NULL. */
static const char *scan_literal(jparse *jp, const char *p)
{
    size_t avail = (size_t)(jp->end - p);

    if ((*p == 't' && avail >= 4 && memcmp(p, "true", 4) == 0) ||
        (*p == 'n' && avail >= 4 && memcmp(p, "null", 4) == 0))
        return p + 4;
    if (*p == 'f' && avail >= 5 && memcmp(p, "false", 5) == 0)
        return p + 5;
    return fail(jp, p, "invalid literal (expected true, false or null)");
}

/* Validates `"key" :` at p and returns a pointer to the (whitespace-skipped) value. */
static const char *scan_key_colon(jparse *jp, const char *p, const char *what)
{
    bool esc;

    if (p == jp->end || *p != '"')
        return fail(jp, p, "%s", what);
    p = scan_string(jp, p, &esc);
    if (!p)
        return NULL;
    p = skip_ws(p, jp->end);
    if (p == jp->end || *p != ':')
        return fail(jp, p, "expected ':' after object key");
    return skip_ws(p + 1, jp->end);
}

/* Validates one value at p (whitespace skipped) that sits inside `depth` open
 * containers. Returns a pointer just past it, or NULL. Iterative, no allocation: bit k
 * of `stack` is 1 if the k-th innermost open container is an array. */
static const char *skip_value(jparse *jp, const char *p, int depth)
{
    const char *end = jp->end;
    uint64_t stack = 0;
    int n = 0;

    for (;;) {
        /* a value starts at p */
        if (p == end)
            return fail(jp, p, "expected a value");
        switch (*p) {
        case '{':
        case '[':
            if (depth + n + 1 > WR_JSON_MAX_DEPTH)
                return fail(jp, p, "nesting deeper than %d levels", WR_JSON_MAX_DEPTH);
            if (*p == '{') {
                p = skip_ws(p + 1, end);
                if (p < end && *p == '}') {
                    p++;
                    break;
                }
                p = scan_key_colon(jp, p, "expected a string key or '}'");
                if (!p)
                    return NULL;
                stack <<= 1;
            } else {
                p = skip_ws(p + 1, end);
                if (p < end && *p == ']') {
                    p++;
                    break;
                }
                stack = stack << 1 | 1;
            }
            n++;
            continue; /* the container's first value starts at p */
        case '"': {
            bool esc;
            p = scan_string(jp, p, &esc);
            break;
        }
        case 't':
        case 'f':
        case 'n':
            p = scan_literal(jp, p);
            break;
        default:
            if (*p != '-' && !is_digit(*p))
                return fail(jp, p, "expected a value");
            p = scan_number(jp, p, NULL);
        }
        if (!p)
            return NULL;
        /* p is just past a complete value: close containers until one wants another */
        for (;;) {
            bool in_array = stack & 1;

            if (n == 0)
                return p;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                if (!in_array) {
                    p = scan_key_colon(jp, p, "expected a string key after ','");
                    if (!p)
                        return NULL;
                }
                break;
            }
            if (p < end && *p == (in_array ? ']' : '}')) {
                p++;
                stack >>= 1;
                n--;
                continue;
            }
            return fail(jp, p,
                        in_array ? "expected ',' or ']' after array element"
                                 : "expected ',' or '}' after object member");
        }
    }
}

/* ---- the decoder: conversions ---- */

typedef struct dstate {
    jparse jp;
    const wr_json_decoder *d;
    wr_value *row;
    wr_arena *arena; /* may be NULL: no room for strings */
    bool field_err;  /* eb holds a field error; later ones are dropped */
    bool toobig;     /* a value did not fit the arena; eb says which unless field_err */
} dstate;

/* Records the first field error of a record in eb; later ones are dropped. */
static void field_error(dstate *ds, int idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void field_error(dstate *ds, int idx, const char *fmt, ...)
{
    char what[WR_ERRBUF_SIZE];
    va_list ap;

    if (ds->field_err)
        return;
    ds->field_err = true;
    if (!ds->jp.eb)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    wr_fail(ds->jp.eb, WR_EMALFORMED, "field '%s': %s", ds->d->schema->fields[idx].name, what);
}

static void too_big(dstate *ds, int idx, size_t need)
{
    size_t room = ds->arena ? ds->arena->cap - ds->arena->used : 0;

    if (!ds->toobig && !ds->field_err)
        wr_fail(ds->jp.eb, WR_ETOOBIG,
                "field '%s': no room in the record arena (%zu bytes needed, %zu free)",
                ds->d->schema->fields[idx].name, need, room);
    ds->toobig = true;
}

static size_t arena_room(const dstate *ds)
{
    return ds->arena ? ds->arena->cap - ds->arena->used : 0;
}

static void store_string(dstate *ds, int idx, const char *raw, size_t rawlen, bool esc)
{
    size_t room = arena_room(ds), n;
    char *dst;

    if (!esc) {
        n = rawlen;
        if (n > room) {
            too_big(ds, idx, n);
            return;
        }
        dst = n ? wr_arena_alloc(ds->arena, n) : NULL;
        if (n)
            memcpy(dst, raw, n);
    } else {
        /* unescape straight into the arena's free space, then claim what was used */
        dst = room ? ds->arena->base + ds->arena->used : NULL;
        n = unescape(raw, rawlen, dst, room);
        if (n > room) {
            too_big(ds, idx, n);
            return;
        }
        if (n)
            wr_arena_alloc(ds->arena, n);
    }
    if (n > UINT32_MAX) {
        too_big(ds, idx, n);
        return;
    }
    ds->row[idx] = wr_value_str(n ? dst : "", (uint32_t)n);
}

/* Converts an integer token to int64. Returns false if it is out of range. */
static bool parse_i64(const jnum *num, int64_t *out)
{
    const char *q = num->s, *e = num->s + num->len;
    bool neg = *q == '-';
    uint64_t u = 0;

    q += neg;
    if (e - q > 19) /* no leading zeros, so 20+ digits is >= 1e19 > 2^63 */
        return false;
    for (; q < e; q++)
        u = u * 10 + (uint64_t)(*q - '0'); /* 19 digits never overflow a uint64_t */
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)u;
    }
    return true;
}

/* Exact decimal-to-double for up to 2^53 scaled by an exact power of ten: one correctly
 * rounded IEEE operation on exact operands (Clinger's fast path). Needs double
 * arithmetic without excess precision, hence the FLT_EVAL_METHOD test. Returns false
 * if the token needs the general conversion. */
static bool fast_double(const jnum *num, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *q = num->s, *e = num->s + num->len;
    bool neg = *q == '-', in_frac = false;
    uint64_t m = 0;
    int sig = 0, frac = 0;
    long exp = 0, e10;
    double d;

    q += neg;
    for (; q < e; q++) {
        if (*q == '.') {
            in_frac = true;
            continue;
        }
        if (!is_digit(*q))
            break;
        frac += in_frac;
        if (m == 0 && *q == '0')
            continue; /* leading zeros are not significant */
        if (++sig > 19)
            return false;
        m = m * 10 + (uint64_t)(*q - '0');
    }
    if (q < e) { /* exponent */
        bool eneg;
        q++;
        eneg = *q == '-';
        q += *q == '-' || *q == '+';
        for (; q < e; q++)
            if (exp < 100000)
                exp = exp * 10 + (*q - '0');
        if (eneg)
            exp = -exp;
    }
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return true;
    }
    e10 = exp - frac;
    if (m > (UINT64_C(1) << 53) || e10 < -22 || e10 > 22)
        return false;
    d = (double)m;
    d = e10 < 0 ? d / pow10[-e10] : d * pow10[e10];
    *out = neg ? -d : d;
    return true;
#else
    (void)num;
    (void)out;
    return false;
#endif
}

static void convert_double(dstate *ds, int idx, const jnum *num)
{
    double v;

    if (!fast_double(num, &v)) {
        char small[64], *tmp = small;

        if (num->len >= sizeof small) { /* rare: borrow the arena's free space */
            if (num->len + 1 > arena_room(ds)) {
                too_big(ds, idx, num->len + 1);
                return;
            }
            tmp = ds->arena->base + ds->arena->used;
        }
        memcpy(tmp, num->s, num->len);
        tmp[num->len] = '\0';
        v = c_strtod(tmp);
        if (isinf(v)) {
            field_error(ds, idx, "number %.*s%s out of range for double",
                        quote_len(num->s, num->len), num->s, num->len > QUOTE_MAX ? "..." : "");
            return;
        }
    }
    ds->row[idx] = wr_value_double(v);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses an RFC 3339 date-time: YYYY-MM-DD('T'|'t'|' ')hh:mm:ss[.fraction]('Z'|'z'|±hh:mm).
 * Fractions beyond milliseconds are truncated (towards the past); a leap second :60
 * counts as the first second of the next minute, as POSIX time does. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, dim;
    size_t i = 19;
    int64_t t, off = 0;

    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (s[i] == '.') {
        int nd = 0;
        for (i++; i < n && is_digit(s[i]); i++, nd++)
            if (nd < 3)
                frac = frac * 10 + (s[i] - '0');
        if (nd == 0)
            return false;
        for (; nd < 3; nd++)
            frac *= 10;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (n - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (s[i] == '-' ? -1 : 1) * ((int64_t)oh * 60 + om) * 60000;
        i += 6;
    } else {
        return false;
    }
    if (i != n || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
        return false;
    dim = mdays[mo - 1] + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    if (d < 1 || d > dim)
        return false;
    t = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec;
    *ms = t * 1000 + frac - off;
    return true;
}

static void convert_ts_string(dstate *ds, int idx, const char *raw, size_t rawlen, bool esc)
{
    char tmp[48];
    const char *s = raw;
    size_t n = rawlen;
    int64_t ms;

    if (esc) { /* odd but legal: "2026-01-01T00:00:00\u005A" */
        n = unescape(raw, rawlen, tmp, sizeof tmp);
        s = tmp;
    }
    if (n > sizeof tmp || !parse_rfc3339(s, n, &ms)) {
        field_error(ds, idx, "not an RFC 3339 timestamp: '%.*s%s'", quote_len(raw, rawlen), raw,
                    rawlen > QUOTE_MAX ? "..." : "");
        return;
    }
    ds->row[idx] = wr_value_ts(ms);
}

static void convert_number(dstate *ds, int idx, const jnum *num)
{
    wr_type t = ds->d->schema->fields[idx].type;
    int64_t v;

    switch (t) {
    case WR_T_DOUBLE:
        convert_double(ds, idx, num);
        return;
    case WR_T_LONG:
    case WR_T_TIMESTAMP:
        if (!num->is_int) {
            field_error(ds, idx, "expected %s, got non-integer number %.*s%s", wr_type_name(t),
                        quote_len(num->s, num->len), num->s, num->len > QUOTE_MAX ? "..." : "");
            return;
        }
        if (!parse_i64(num, &v)) {
            field_error(ds, idx, "integer out of range for %s", wr_type_name(t));
            return;
        }
        ds->row[idx] = t == WR_T_LONG ? wr_value_long(v) : wr_value_ts(v);
        return;
    default:
        field_error(ds, idx, "expected %s, got number", wr_type_name(t));
    }
}

/* Converts the value at p into row[idx]. Returns a pointer past it, or NULL on a
 * syntax error. Field errors are recorded in ds and parsing goes on. */
static const char *convert_member(dstate *ds, const char *p, int idx)
{
    jparse *jp = &ds->jp;
    wr_type t = ds->d->schema->fields[idx].type;

    if (p == jp->end)
        return fail(jp, p, "expected a value");
    switch (*p) {
    case '"': {
        const char *q = p;
        bool esc;

        p = scan_string(jp, q, &esc);
        if (!p)
            return NULL;
        if (t == WR_T_STRING)
            store_string(ds, idx, q + 1, (size_t)(p - q - 2), esc);
        else if (t == WR_T_TIMESTAMP)
            convert_ts_string(ds, idx, q + 1, (size_t)(p - q - 2), esc);
        else
            field_error(ds, idx, "expected %s, got string", wr_type_name(t));
        return p;
    }
    case 't':
    case 'f': {
        bool b = *p == 't';

        p = scan_literal(jp, p);
        if (!p)
            return NULL;
        if (t == WR_T_BOOL)
            ds->row[idx] = wr_value_bool(b);
        else
            field_error(ds, idx, "expected %s, got boolean", wr_type_name(t));
        return p;
    }
    case 'n':
        p = scan_literal(jp, p);
        if (p) {
            ds->row[idx] = wr_value_null();
            ds->row[idx].len = NULL_FROM_JSON;
        }
        return p;
    case '{':
    case '[':
        field_error(ds, idx, "expected %s, got %s", wr_type_name(t),
                    *p == '{' ? "object" : "array");
        return skip_value(jp, p, 1);
    default: {
        jnum num;

        if (*p != '-' && !is_digit(*p))
            return fail(jp, p, "expected a value");
        p = scan_number(jp, p, &num);
        if (p)
            convert_number(ds, idx, &num);
        return p;
    }
    }
}

/* Parses the top-level object. Returns a pointer past it or NULL on a syntax error. */
static const char *decode_object(dstate *ds, const char *p)
{
    jparse *jp = &ds->jp;
    const char *end = jp->end, *what = "expected a string key or '}'";

    p = skip_ws(p, end);
    if (p == end)
        return fail(jp, p, "expected a JSON object");
    if (*p != '{')
        return fail(jp, p, "expected '{': a record must be a JSON object");
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        const char *key = p;
        bool esc;
        int idx;

        if (p == end || *p != '"')
            return fail(jp, p, "%s", what);
        p = scan_string(jp, key, &esc);
        if (!p)
            return NULL;
        idx = esc ? lookup_escaped_key(ds->d, key + 1, (size_t)(p - key - 2))
                  : lookup_key(ds->d, key + 1, (size_t)(p - key - 2));
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return fail(jp, p, "expected ':' after object key");
        p = skip_ws(p + 1, end);
        p = idx >= 0 ? convert_member(ds, p, idx) : skip_value(jp, p, 1);
        if (!p)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            what = "expected a string key after ','";
            continue;
        }
        if (p < end && *p == '}')
            return p + 1;
        return fail(jp, p, "expected ',' or '}' after object member");
    }
}

wr_err wr_json_decode(const wr_json_decoder *d, const char *buf, size_t len, wr_value *row,
                      wr_arena *arena, wr_errbuf *eb)
{
    const wr_schema *schema = d->schema;
    size_t mark = arena ? arena->used : 0;
    dstate ds;
    const char *p;
    wr_err err;

    if (!buf)
        buf = ""; /* len is 0: avoid arithmetic on a null pointer */
    ds.jp.start = buf;
    ds.jp.end = buf + len;
    ds.jp.eb = eb;
    ds.d = d;
    ds.row = row;
    ds.arena = arena;
    ds.field_err = false;
    ds.toobig = false;
    for (int i = 0; i < schema->nfields; i++)
        row[i] = wr_value_null();

    p = decode_object(&ds, buf);
    if (p) {
        p = skip_ws(p, ds.jp.end);
        if (p != ds.jp.end)
            p = fail(&ds.jp, p, "unexpected data after the top-level object");
    }
    if (!p) {
        err = WR_EMALFORMED;
        goto fail;
    }
    if (ds.field_err) {
        err = WR_EMALFORMED;
        goto fail;
    }
    if (ds.toobig) {
        err = WR_ETOOBIG;
        goto fail;
    }
    for (int i = 0; i < schema->nfields; i++) {
        const wr_field *f = &schema->fields[i];

        if (row[i].type != WR_T_NULL)
            continue;
        if (d->used[i] && !f->optional) {
            if (row[i].len == NULL_FROM_JSON)
                err = wr_fail(eb, WR_EMALFORMED, "field '%s': null for a required field", f->name);
            else
                err = wr_fail(eb, WR_EMALFORMED, "missing required field '%s'", f->name);
            goto fail;
        }
        row[i].len = 0;
    }
    return WR_OK;

fail:
    for (int i = 0; i < schema->nfields; i++)
        row[i] = wr_value_null();
    if (arena)
        arena->used = mark;
    return err;
}

/* ---- the encoder ---- */

static wr_err put_str(wr_buf *out, const char *s)
{
    return wr_buf_append(out, s, strlen(s));
}

static wr_err put_i64(wr_buf *out, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return wr_buf_append(out, p, (size_t)(tmp + sizeof tmp - p));
}

/* Shortest of %.15g, %.16g, %.17g that reads back as d (%.17g always does). Integral
 * values below 2^53 print as integers ("3", not "3.0"): still a JSON number, and a
 * double field reads it back as 3.0. */
static wr_err put_double(wr_buf *out, double d)
{
    char tmp[32];
    locale_t loc, old = (locale_t)0;

    if (!isfinite(d))
        return put_str(out, "null");
    if (d == trunc(d) && fabs(d) < 9007199254740992.0 && !(d == 0 && signbit(d)))
        return put_i64(out, (int64_t)d);
    loc = numeric_locale();
    if (loc)
        old = uselocale(loc);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (prec == 17 || c_strtod(tmp) == d)
            break;
    }
    if (loc)
        uselocale(old);
    return put_str(out, tmp);
}

wr_err wr_json_encode_string(wr_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t mark = out->len, i = 0, run = 0;
    const uint8_t *u;
    wr_err e;

    if (!s)
        s = ""; /* len is 0 */
    u = (const uint8_t *)s;
    e = wr_buf_reserve(out, len + 2); /* the least it can take */
    if (e)
        return e;
    out->p[out->len++] = '"';
    while (i < len) {
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2, seq;
        uint8_t c = u[i];

        if (str_plain[c]) {
            i++;
            continue;
        }
        if (c >= 0x80 && (seq = utf8_seq(u + i, u + len)) != 0) {
            i += seq;
            continue;
        }
        e = wr_buf_append(out, s + run, i - run);
        if (e)
            goto fail;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
            } else { /* a byte that is not part of well-formed UTF-8 */
                memcpy(esc + 1, "ufffd", 5);
            }
            n = 6;
        }
        e = wr_buf_append(out, esc, n);
        if (e)
            goto fail;
        run = ++i;
    }
    e = wr_buf_append(out, s + run, i - run);
    if (!e)
        e = wr_buf_putc(out, '"');
    if (!e)
        return WR_OK;
fail:
    out->len = mark;
    return e;
}

wr_err wr_json_encode_value(wr_buf *out, const wr_value *v)
{
    switch ((wr_type)v->type) {
    case WR_T_BOOL:
        return put_str(out, v->u.i ? "true" : "false");
    case WR_T_LONG:
    case WR_T_TIMESTAMP:
        return put_i64(out, v->u.i);
    case WR_T_DOUBLE:
        return put_double(out, v->u.d);
    case WR_T_STRING:
        return wr_json_encode_string(out, v->u.s, v->len);
    case WR_T_NULL:
        break;
    }
    return put_str(out, "null");
}

wr_err wr_json_encode(const wr_schema *schema, const wr_value *row, wr_buf *out)
{
    size_t mark = out->len;
    wr_err e = wr_buf_putc(out, '{');

    for (int i = 0; i < schema->nfields && !e; i++) {
        const char *name = schema->fields[i].name;

        if (i > 0)
            e = wr_buf_putc(out, ',');
        if (!e)
            e = wr_json_encode_string(out, name, strlen(name));
        if (!e)
            e = wr_buf_putc(out, ':');
        if (!e)
            e = wr_json_encode_value(out, &row[i]);
    }
    if (!e)
        e = wr_buf_putc(out, '}');
    if (e)
        out->len = mark;
    return e;
}
