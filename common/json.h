/*
 * json.h — JSON records: decoding at the source, encoding at the sink.
 *
 * The decoder is a single pass over the document that validates the whole of it
 * (RFC 8259 syntax, nesting depth bounded by WR_JSON_MAX_DEPTH) but converts only
 * the top-level members the job uses; everything else is skipped without
 * allocating. Strings (unescaped, UTF-8 validated) are copied into the caller's arena,
 * so decoded values stay valid after the input buffer is gone.
 */
#ifndef WR_JSON_H
#define WR_JSON_H

#include "buf.h"
#include "error.h"
#include "value.h"

#define WR_JSON_MAX_DEPTH 64

typedef struct wr_json_decoder wr_json_decoder;

/* Builds a decoder for `schema` (which must outlive it). Only fields with used[i]
 * true are converted; used may be NULL, meaning all fields. Returns NULL on OOM. */
wr_json_decoder *wr_json_decoder_new(const wr_schema *schema, const bool *used);
void wr_json_decoder_free(wr_json_decoder *d);

/* Decodes one JSON object into row[0..nfields). Unused fields are set to null.
 * Conversions: long ← JSON integer within int64 range; double ← any JSON number;
 * bool ← true/false; string ← JSON string; timestamp_ms ← JSON integer (epoch ms) or
 * an RFC 3339 string ("2026-11-21T10:00:00.123Z", "...+02:00").
 * A used field that is absent or JSON null is null if the field is optional, else an
 * error. If a member appears twice, the last one wins.
 * Returns WR_OK, WR_EMALFORMED (eb: "invalid JSON at byte 17: expected ':'",
 * "missing required field 'user'", "field 'amount': expected double, got string"),
 * or WR_ETOOBIG if the arena has no room for the strings. Never reads past buf[len). */
wr_err wr_json_decode(const wr_json_decoder *d, const char *buf, size_t len, wr_value *row,
                      wr_arena *arena, wr_errbuf *eb);

/* Appends one JSON object with every field of `schema` (in schema order) to out.
 * Doubles are written in the shortest form that reads back to the same value;
 * NaN and infinities become null. Timestamps are written as integer milliseconds.
 * Returns WR_OK or the wr_buf error (WR_ETOOBIG past the buffer's cap, WR_ENOMEM). */
wr_err wr_json_encode(const wr_schema *schema, const wr_value *row, wr_buf *out);

/* Appends one value as JSON (as wr_json_encode writes it) to out. */
wr_err wr_json_encode_value(wr_buf *out, const wr_value *v);

/* Appends s[0..len) as a JSON string literal (with quotes and escapes) to out. */
wr_err wr_json_encode_string(wr_buf *out, const char *s, size_t len);

#endif
