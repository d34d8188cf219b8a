/*
 * wire.c — frames and record batches on the wire (see wire.h for the layout).
 *
 * Decoding trusts nothing: every length is compared with the bytes that are really
 * there before anything is read or allocated, so a peer can make us allocate at most
 * about as much as it sent (protobuf-c's own allocations are bounded by the header
 * length; a batch is allocated only once its declared rows, columns and string bytes
 * are known to fit in the body and under the caller's limits). Then the semantic
 * checks protobuf cannot do: a Control has a body, ids are short printable tokens
 * (they end up in JSON, log lines and file names), counts are in range, a Deploy
 * places every subtask exactly once. Anything wrong is WR_EMALFORMED with one sentence
 * naming the message and the field, and the frame is freed before returning.
 *
 * Integers in the prefix are big endian (header length), in the batch little endian;
 * both are written and read byte by byte, so the code does not depend on the host's
 * byte order or on alignment.
 */
#include "wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest parallelism of a job and so bound of every subtask index in a frame. */
#define MAX_PARALLELISM 32768
#define MAX_SLOTS 4096
#define MAX_CREDITS 65536
#define MAX_BATCH_COLS 4096
#define MAX_BATCH_ROWS (1 << 20) /* what wr_batch_new accepts */
#define BATCH_HEAD 19            /* kind 1 + value 8 + ncols 2 + nrows 4 + string_bytes 4 */

/* ---------------------------------------------------------------- byte helpers */

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---------------------------------------------------------------- semantic checks */

/* An id (job, worker): 1..WR_WIRE_MAX_ID bytes of printable ASCII other than space,
 * quotes, slashes and backslashes, and not "." or ".." (ids become file names). */
static wr_err check_id(const char *what, const char *field, const char *s, wr_errbuf *eb)
{
    size_t n = strlen(s);

    if (n == 0)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s is empty", what, field);
    if (n > WR_WIRE_MAX_ID)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s is %zu bytes long, more than %d", what, field, n,
                       WR_WIRE_MAX_ID);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '/' || c == '\\')
            return wr_fail(eb, WR_EMALFORMED,
                           "%s: %s has byte 0x%02x at offset %zu, not allowed in an id", what,
                           field, c, i);
    }
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) /* names a directory in a path */
        return wr_fail(eb, WR_EMALFORMED, "%s: %s \"%s\" is not allowed as an id", what, field, s);
    return WR_OK;
}

/* An nng address (tcp://host:port): like an id, but slashes are part of it. */
static wr_err check_address(const char *what, const char *field, const char *s, wr_errbuf *eb)
{
    size_t n = strlen(s);

    if (n == 0)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s is empty", what, field);
    if (n > WR_WIRE_MAX_ID)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s is %zu bytes long, more than %d", what, field, n,
                       WR_WIRE_MAX_ID);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\')
            return wr_fail(eb, WR_EMALFORMED,
                           "%s: %s has byte 0x%02x at offset %zu, not allowed in an address", what,
                           field, c, i);
    }
    return WR_OK;
}

/* Free text for people (host name, version): only its length is bounded. */
static wr_err check_short_text(const char *what, const char *field, const char *s, wr_errbuf *eb)
{
    size_t n = strlen(s);
    if (n > WR_WIRE_MAX_ID)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s is %zu bytes long, more than %d", what, field, n,
                       WR_WIRE_MAX_ID);
    return WR_OK;
}

static wr_err check_subtask(const char *what, const char *field, uint32_t v, uint32_t bound,
                            wr_errbuf *eb)
{
    if (v >= bound)
        return wr_fail(eb, WR_EMALFORMED, "%s: %s %u is out of range (0..%u)", what, field, v,
                       bound - 1);
    return WR_OK;
}

static wr_err check_register(const Weir__Register *m, wr_errbuf *eb)
{
    wr_err e;
    if ((e = check_id("Register", "worker_id", m->worker_id, eb)) ||
        (e = check_address("Register", "data_address", m->data_address, eb)) ||
        (e = check_short_text("Register", "host", m->host, eb)) ||
        (e = check_short_text("Register", "version", m->version, eb)))
        return e;
    if (m->slots < 1 || m->slots > MAX_SLOTS)
        return wr_fail(eb, WR_EMALFORMED, "Register: slots %u is out of range (1..%d)", m->slots,
                       MAX_SLOTS);
    return WR_OK;
}

static wr_err check_task_report(const char *what, const Weir__TaskReport *m, wr_errbuf *eb)
{
    wr_err e = check_id(what, "job_id", m->job_id, eb);
    if (e)
        return e;
    if ((int)m->state < WEIR__TASK_STATE__TASK_UNKNOWN ||
        (int)m->state > WEIR__TASK_STATE__TASK_CANCELED)
        return wr_fail(eb, WR_EMALFORMED, "%s: unknown task state %d", what, (int)m->state);
    return WR_OK;
}

static wr_err check_heartbeat(const Weir__Heartbeat *m, wr_errbuf *eb)
{
    wr_err e = check_id("Heartbeat", "worker_id", m->worker_id, eb);
    if (e)
        return e;
    if (*m->data_address &&
        ((e = check_address("Heartbeat", "data_address", m->data_address, eb)) ||
         (e = check_short_text("Heartbeat", "host", m->host, eb)) ||
         (e = check_short_text("Heartbeat", "version", m->version, eb))))
        return e;
    if (m->slots > MAX_SLOTS)
        return wr_fail(eb, WR_EMALFORMED, "Heartbeat: slots %u is out of range (0..%d)", m->slots,
                       MAX_SLOTS);
    for (size_t i = 0; i < m->n_tasks; i++) {
        char what[48];
        snprintf(what, sizeof what, "Heartbeat: task %zu", i);
        if ((e = check_task_report(what, m->tasks[i], eb)) != WR_OK)
            return e;
    }
    return WR_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static wr_err check_deploy(const Weir__Deploy *m, wr_errbuf *eb)
{
    uint8_t seen[MAX_PARALLELISM / 8];
    int32_t *parts;
    wr_err e;

    if ((e = check_id("Deploy", "job_id", m->job_id, eb)) != WR_OK)
        return e;
    if (m->parallelism < 1 || m->parallelism > MAX_PARALLELISM)
        return wr_fail(eb, WR_EMALFORMED, "Deploy: parallelism %u is out of range (1..%d)",
                       m->parallelism, MAX_PARALLELISM);
    if (m->n_placement != m->parallelism)
        return wr_fail(eb, WR_EMALFORMED,
                       "Deploy: placement has %zu entries for a parallelism of %u", m->n_placement,
                       m->parallelism);
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < m->n_placement; i++) {
        const Weir__SubtaskPlacement *p = m->placement[i];
        if ((e = check_subtask("Deploy", "placement subtask", p->subtask, m->parallelism, eb)) ||
            (e = check_id("Deploy", "placement worker_id", p->worker_id, eb)) ||
            (e = check_address("Deploy", "placement data_address", p->data_address, eb)))
            return e;
        if (seen[p->subtask / 8] & (1u << (p->subtask % 8)))
            return wr_fail(eb, WR_EMALFORMED, "Deploy: placement lists subtask %u twice",
                           p->subtask);
        seen[p->subtask / 8] |= (uint8_t)(1u << (p->subtask % 8));
    }
    /* n_placement == parallelism and no subtask twice: every subtask is there once */

    for (size_t i = 0; i < m->n_partitions; i++) {
        const Weir__PartitionAssignment *p = m->partitions[i];
        if (p->partition < 0)
            return wr_fail(eb, WR_EMALFORMED, "Deploy: partition %d is negative",
                           (int)p->partition);
        if ((e = check_subtask("Deploy", "partition subtask", p->subtask, m->parallelism, eb)))
            return e;
    }
    if (m->n_partitions < 2)
        return WR_OK;
    /* Sorted, so that a peer cannot make this quadratic. */
    parts = malloc(m->n_partitions * sizeof *parts);
    if (!parts)
        return wr_fail(eb, WR_ENOMEM, "Deploy: out of memory checking %zu partitions",
                       m->n_partitions);
    for (size_t i = 0; i < m->n_partitions; i++)
        parts[i] = m->partitions[i]->partition;
    qsort(parts, m->n_partitions, sizeof *parts, cmp_i32);
    for (size_t i = 1; i < m->n_partitions; i++) {
        if (parts[i] == parts[i - 1]) {
            e = wr_fail(eb, WR_EMALFORMED, "Deploy: partitions list partition %d twice",
                        (int)parts[i]);
            break;
        }
    }
    free(parts);
    return e;
}

/* A stage-1 ack's state: file names and storage paths that could never escape the
 * directories they are used in, and key groups in range. */
static wr_err check_ack(const char *what, const Weir__CheckpointAck *m, uint32_t parallelism,
                        wr_errbuf *eb)
{
    wr_err e;

    if ((e = check_id(what, "job_id", m->job_id, eb)) ||
        (e = check_subtask(what, "subtask", m->subtask, parallelism, eb)))
        return e;
    if (m->checkpoint_id < 1)
        return wr_fail(eb, WR_EMALFORMED, "%s: checkpoint_id 0", what);
    if (m->stage > 1)
        return wr_fail(eb, WR_EMALFORMED, "%s: stage %u is not 0 or 1", what, m->stage);
    if (m->has_state && (m->kg_first < 0 || m->kg_first > m->kg_last || m->kg_last > 65535))
        return wr_fail(eb, WR_EMALFORMED, "%s: key groups [%d, %d] out of range", what,
                       (int)m->kg_first, (int)m->kg_last);
    for (size_t i = 0; i < m->n_files; i++) {
        const Weir__StateFile *f = m->files[i];
        const char *n = f->name ? f->name : "", *p = f->path ? f->path : "";
        if (!*n || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, "..") || strlen(n) > 255)
            return wr_fail(eb, WR_EMALFORMED, "%s: file %zu has a bad name '%.64s'", what, i, n);
        if (!*p || *p == '/' || strstr(p, "..") || strlen(p) > 1024)
            return wr_fail(eb, WR_EMALFORMED, "%s: file '%s' has a bad storage path '%.64s'", what,
                           n, p);
    }
    return WR_OK;
}

static wr_err check_restore(const Weir__Deploy *m, wr_errbuf *eb)
{
    wr_err e;

    if (m->n_restore > m->parallelism)
        return wr_fail(eb, WR_EMALFORMED, "Deploy: %zu restore entries for a parallelism of %u",
                       m->n_restore, m->parallelism);
    if (m->n_restore > 0 && m->restore_checkpoint == 0)
        return wr_fail(eb, WR_EMALFORMED, "Deploy: restore entries without restore_checkpoint");
    for (size_t i = 0; i < m->n_restore; i++) {
        if ((e = check_ack("Deploy: restore", m->restore[i], m->parallelism, eb)))
            return e;
        if (m->restore[i]->checkpoint_id != m->restore_checkpoint || m->restore[i]->stage != 1)
            return wr_fail(eb, WR_EMALFORMED,
                           "Deploy: restore entry %zu is not stage 1 of checkpoint %llu", i,
                           (unsigned long long)m->restore_checkpoint);
    }
    if (strlen(m->checkpoint_storage) > 1024)
        return wr_fail(eb, WR_EMALFORMED, "Deploy: checkpoint_storage is longer than 1024 bytes");
    return WR_OK;
}

static wr_err check_control(const Weir__Control *c, wr_errbuf *eb)
{
    switch (c->body_case) {
    case WEIR__CONTROL__BODY_REGISTER:
        return check_register(c->register_, eb);
    case WEIR__CONTROL__BODY_HEARTBEAT:
        return check_heartbeat(c->heartbeat, eb);
    case WEIR__CONTROL__BODY_TASK_REPORT:
        return check_task_report("TaskReport", c->task_report, eb);
    case WEIR__CONTROL__BODY_REGISTER_ACK:
        return check_id("RegisterAck", "worker_id", c->register_ack->worker_id, eb);
    case WEIR__CONTROL__BODY_DEPLOY: {
        wr_err e = check_deploy(c->deploy, eb);
        return e ? e : check_restore(c->deploy, eb);
    }
    case WEIR__CONTROL__BODY_TRIGGER_CHECKPOINT:
        if (c->trigger_checkpoint->checkpoint_id < 1)
            return wr_fail(eb, WR_EMALFORMED, "TriggerCheckpoint: checkpoint_id 0");
        return check_id("TriggerCheckpoint", "job_id", c->trigger_checkpoint->job_id, eb);
    case WEIR__CONTROL__BODY_CHECKPOINT_COMPLETE:
        return check_id("CheckpointComplete", "job_id", c->checkpoint_complete->job_id, eb);
    case WEIR__CONTROL__BODY_CHECKPOINT_ACK:
        return check_ack("CheckpointAck", c->checkpoint_ack, MAX_PARALLELISM, eb);
    case WEIR__CONTROL__BODY_CHECKPOINT_DECLINE: {
        const Weir__CheckpointDecline *d = c->checkpoint_decline;
        wr_err e = check_id("CheckpointDecline", "job_id", d->job_id, eb);
        if (!e)
            e = check_subtask("CheckpointDecline", "subtask", d->subtask, MAX_PARALLELISM, eb);
        if (!e && strlen(d->reason) > 4096)
            e = wr_fail(eb, WR_EMALFORMED, "CheckpointDecline: reason longer than 4096 bytes");
        return e;
    }
    case WEIR__CONTROL__BODY_CANCEL:
        return check_id("Cancel", "job_id", c->cancel->job_id, eb);
    case WEIR__CONTROL__BODY_STOP:
        return check_id("Stop", "job_id", c->stop->job_id, eb);
    case WEIR__CONTROL__BODY_REREGISTER:
        return WR_OK;
    default:
        return wr_fail(eb, WR_EMALFORMED, "Control: no body");
    }
}

static wr_err check_data_header(const Weir__DataHeader *h, wr_errbuf *eb)
{
    wr_err e;
    if ((e = check_id("DataHeader", "job_id", h->job_id, eb)) ||
        (e = check_subtask("DataHeader", "from_subtask", h->from_subtask, MAX_PARALLELISM, eb)) ||
        (e = check_subtask("DataHeader", "to_subtask", h->to_subtask, MAX_PARALLELISM, eb)) ||
        (e = check_address("DataHeader", "reply_address", h->reply_address, eb)))
        return e;
    return WR_OK;
}

static wr_err check_credit(const Weir__Credit *c, wr_errbuf *eb)
{
    wr_err e;
    if ((e = check_id("Credit", "job_id", c->job_id, eb)) ||
        (e = check_subtask("Credit", "from_subtask", c->from_subtask, MAX_PARALLELISM, eb)) ||
        (e = check_subtask("Credit", "to_subtask", c->to_subtask, MAX_PARALLELISM, eb)))
        return e;
    if (c->credits < 1 || c->credits > MAX_CREDITS)
        return wr_fail(eb, WR_EMALFORMED, "Credit: credits %u is out of range (1..%d)", c->credits,
                       MAX_CREDITS);
    return WR_OK;
}

/* protobuf-c keeps fields it does not know (newer peers may send them) and packs them
 * again, but it accepts a field number 0 written as a multi-byte varint and numbers
 * beyond 2^29-1, which it then cannot parse in its own output. Such a message is not
 * valid protobuf: refuse it. Our messages do not nest recursively, so neither does this. */
static bool has_invalid_unknown_field(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;

    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        uint32_t tag = m->unknown_fields[i].tag;
        if (tag == 0 || tag > 0x1fffffff)
            return true;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + fd->quantifier_offset) != fd->id)
            continue;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + fd->quantifier_offset);
            ProtobufCMessage *const *sub =
                *(ProtobufCMessage *const *const *)(const void *)(base + fd->offset);
            for (size_t k = 0; k < n; k++)
                if (has_invalid_unknown_field(sub[k]))
                    return true;
        } else {
            const ProtobufCMessage *sub =
                *(const ProtobufCMessage *const *)(const void *)(base + fd->offset);
            if (sub && has_invalid_unknown_field(sub))
                return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- frames */

static const char *type_name(int type)
{
    switch (type) {
    case WR_FRAME_CONTROL:
        return "CONTROL";
    case WR_FRAME_DATA:
        return "DATA";
    default:
        return "CREDIT";
    }
}

wr_err wr_wire_decode(const void *buf, size_t len, size_t max_len, wr_frame *out, wr_errbuf *eb)
{
    const uint8_t *p = buf;
    wr_frame f = {0};
    uint32_t hlen;
    size_t rest;
    wr_err e;

    if (len > max_len)
        return wr_fail(eb, WR_EMALFORMED, "frame: %zu bytes exceed the limit of %zu", len, max_len);
    if (len < WR_WIRE_PREFIX)
        return wr_fail(eb, WR_EMALFORMED, "frame: %zu bytes, shorter than the %d-byte prefix", len,
                       WR_WIRE_PREFIX);
    if (p[0] != 'W' || p[1] != 'R')
        return wr_fail(eb, WR_EMALFORMED, "frame: bad magic 0x%02x%02x (expected \"WR\")", p[0],
                       p[1]);
    if (p[2] != WR_WIRE_VERSION)
        return wr_fail(eb, WR_EMALFORMED, "frame: unsupported version %u (expected %d)", p[2],
                       WR_WIRE_VERSION);
    if (p[3] != WR_FRAME_CONTROL && p[3] != WR_FRAME_DATA && p[3] != WR_FRAME_CREDIT)
        return wr_fail(eb, WR_EMALFORMED, "frame: unknown type %u", p[3]);
    f.type = (wr_frame_type)p[3];
    hlen = get_u32be(p + 4);
    rest = len - WR_WIRE_PREFIX;
    if (hlen > rest)
        return wr_fail(eb, WR_EMALFORMED,
                       "frame: header length %u exceeds the %zu bytes received after the prefix",
                       hlen, rest);
    f.body_len = rest - hlen;
    f.body = f.body_len ? p + WR_WIRE_PREFIX + hlen : NULL;
    if (f.type == WR_FRAME_DATA && f.body_len == 0)
        return wr_fail(eb, WR_EMALFORMED, "frame: DATA frame without a batch after its header");
    if (f.type != WR_FRAME_DATA && f.body_len != 0)
        return wr_fail(eb, WR_EMALFORMED, "frame: %zu bytes after the header of a %s frame",
                       f.body_len, type_name(f.type));

    /* protobuf-c returns NULL on malformed input (and on OOM, which we cannot tell apart) */
    switch (f.type) {
    case WR_FRAME_CONTROL:
        f.control = weir__control__unpack(NULL, hlen, p + WR_WIRE_PREFIX);
        if (!f.control)
            return wr_fail(eb, WR_EMALFORMED, "frame: Control header does not parse (%u bytes)",
                           hlen);
        e = check_control(f.control, eb);
        break;
    case WR_FRAME_DATA:
        f.data = weir__data_header__unpack(NULL, hlen, p + WR_WIRE_PREFIX);
        if (!f.data)
            return wr_fail(eb, WR_EMALFORMED, "frame: DataHeader header does not parse (%u bytes)",
                           hlen);
        e = check_data_header(f.data, eb);
        break;
    default:
        f.credit = weir__credit__unpack(NULL, hlen, p + WR_WIRE_PREFIX);
        if (!f.credit)
            return wr_fail(eb, WR_EMALFORMED, "frame: Credit header does not parse (%u bytes)",
                           hlen);
        e = check_credit(f.credit, eb);
        break;
    }
    if (e == WR_OK && has_invalid_unknown_field(f.control ? &f.control->base
                                                : f.data  ? &f.data->base
                                                          : &f.credit->base))
        e = wr_fail(eb, WR_EMALFORMED, "frame: %s header has a field with an invalid number",
                    type_name(f.type));
    if (e != WR_OK) {
        wr_frame_fini(&f);
        return e;
    }
    *out = f;
    return WR_OK;
}

void wr_frame_fini(wr_frame *f)
{
    if (!f)
        return;
    if (f->control)
        weir__control__free_unpacked(f->control, NULL);
    if (f->data)
        weir__data_header__free_unpacked(f->data, NULL);
    if (f->credit)
        weir__credit__free_unpacked(f->credit, NULL);
    f->control = NULL;
    f->data = NULL;
    f->credit = NULL;
    f->body = NULL;
    f->body_len = 0;
}

/* Clears out and writes prefix and header; the packed size is asked for first so the
 * header is packed straight into the buffer. */
static wr_err encode_frame(wr_frame_type type, const ProtobufCMessage *m, wr_buf *out)
{
    size_t hlen = protobuf_c_message_get_packed_size(m);
    uint8_t *p;
    wr_err e;

    wr_buf_clear(out);
    if (hlen > UINT32_MAX)
        return WR_ETOOBIG;
    if ((e = wr_buf_reserve(out, WR_WIRE_PREFIX + hlen)) != WR_OK)
        return e;
    p = (uint8_t *)out->p;
    p[0] = 'W';
    p[1] = 'R';
    p[2] = WR_WIRE_VERSION;
    p[3] = (uint8_t)type;
    put_u32be(p + 4, (uint32_t)hlen);
    protobuf_c_message_pack(m, p + WR_WIRE_PREFIX);
    out->len = WR_WIRE_PREFIX + hlen;
    return WR_OK;
}

wr_err wr_wire_encode_control(const Weir__Control *c, wr_buf *out)
{
    return encode_frame(WR_FRAME_CONTROL, &c->base, out);
}

wr_err wr_wire_encode_credit(const Weir__Credit *c, wr_buf *out)
{
    return encode_frame(WR_FRAME_CREDIT, &c->base, out);
}

wr_err wr_wire_encode_data(const Weir__DataHeader *h, const wr_batch *b, wr_buf *out)
{
    wr_err e = encode_frame(WR_FRAME_DATA, &h->base, out);
    if (e == WR_OK)
        e = wr_batch_encode(b, out);
    if (e != WR_OK)
        wr_buf_clear(out);
    return e;
}

/* ---------------------------------------------------------------- batches */

/* Bytes the body of b takes and the total of its string lengths; false if b cannot be
 * encoded (a value of unknown type, or counts beyond what the layout can carry). */
static bool batch_size(const wr_batch *b, size_t *size, uint64_t *string_bytes)
{
    size_t n = BATCH_HEAD;
    uint64_t sb = 0;

    *size = n;
    *string_bytes = 0;
    if (b->kind != WR_BATCH_DATA)
        return true;
    if (b->ncols < 0 || b->ncols > 0xffff || b->nrows < 0)
        return false;
    for (int r = 0; r < b->nrows; r++) {
        const wr_value *row = b->values + (size_t)r * (size_t)b->ncols;
        n += 8;
        for (int c = 0; c < b->ncols; c++) {
            n += 1;
            switch (row[c].type) {
            case WR_T_NULL:
                break;
            case WR_T_BOOL:
                n += 1;
                break;
            case WR_T_LONG:
            case WR_T_TIMESTAMP:
            case WR_T_DOUBLE:
                n += 8;
                break;
            case WR_T_STRING:
                n += 4 + (size_t)row[c].len;
                sb += row[c].len;
                break;
            default:
                return false;
            }
        }
    }
    if (sb > UINT32_MAX)
        return false;
    *size = n;
    *string_bytes = sb;
    return true;
}

wr_err wr_batch_encode(const wr_batch *b, wr_buf *out)
{
    size_t size;
    uint64_t sb, bits;
    uint8_t *p;
    bool data = b->kind == WR_BATCH_DATA;
    wr_err e;

    if (!batch_size(b, &size, &sb))
        return WR_EINVAL;
    if ((e = wr_buf_reserve(out, size)) != WR_OK)
        return e;
    p = (uint8_t *)out->p + out->len;
    *p++ = (uint8_t)b->kind;
    p = put_le(p, (uint64_t)b->value, 8);
    p = put_le(p, data ? (uint64_t)b->ncols : 0, 2);
    p = put_le(p, data ? (uint64_t)b->nrows : 0, 4);
    p = put_le(p, sb, 4);
    for (int r = 0; data && r < b->nrows; r++) {
        const wr_value *row = b->values + (size_t)r * (size_t)b->ncols;
        p = put_le(p, (uint64_t)b->event_time[r], 8);
        for (int c = 0; c < b->ncols; c++) {
            *p++ = row[c].type;
            switch (row[c].type) {
            case WR_T_BOOL:
                *p++ = row[c].u.i != 0;
                break;
            case WR_T_LONG:
            case WR_T_TIMESTAMP:
                p = put_le(p, (uint64_t)row[c].u.i, 8);
                break;
            case WR_T_DOUBLE:
                memcpy(&bits, &row[c].u.d, sizeof bits);
                p = put_le(p, bits, 8);
                break;
            case WR_T_STRING:
                p = put_le(p, row[c].len, 4);
                if (row[c].len)
                    memcpy(p, row[c].u.s, row[c].len);
                p += row[c].len;
                break;
            default: /* WR_T_NULL; batch_size rejected the rest */
                break;
            }
        }
    }
    out->len += size;
    return WR_OK;
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {"DATA", "WATERMARK", "IDLE", "BARRIER", "END"};
    return names[kind];
}

/* Reads the rows of a data batch into b (sized by the caller from the header). */
static wr_err decode_rows(wr_batch *b, const uint8_t *p, size_t len, size_t pos, int nrows,
                          uint32_t string_bytes, wr_errbuf *eb)
{
    uint64_t strings = 0;

#define NEED(n, what)                                                                              \
    do {                                                                                           \
        if ((size_t)(n) > len - pos)                                                               \
            return wr_fail(eb, WR_EMALFORMED,                                                      \
                           "batch: truncated in row %d column %d (%s at byte %zu of %zu)", r, c,   \
                           what, pos, len);                                                        \
    } while (0)

    for (int r = 0; r < nrows; r++) {
        wr_value *row = wr_batch_row(b, r);
        int c = -1;
        NEED(8, "event time");
        b->event_time[r] = (int64_t)get_le(p + pos, 8);
        pos += 8;
        for (c = 0; c < b->ncols; c++) {
            wr_value *v = &row[c];
            uint64_t bits;
            uint32_t slen;
            char *s;

            memset(v, 0, sizeof *v);
            NEED(1, "type");
            v->type = p[pos++];
            switch (v->type) {
            case WR_T_NULL:
                break;
            case WR_T_BOOL:
                NEED(1, "bool");
                if (p[pos] > 1)
                    return wr_fail(eb, WR_EMALFORMED,
                                   "batch: row %d column %d: bool byte %u is not 0 or 1", r, c,
                                   p[pos]);
                v->u.i = p[pos++];
                break;
            case WR_T_LONG:
            case WR_T_TIMESTAMP:
                NEED(8, "integer");
                v->u.i = (int64_t)get_le(p + pos, 8);
                pos += 8;
                break;
            case WR_T_DOUBLE:
                NEED(8, "double");
                bits = get_le(p + pos, 8);
                memcpy(&v->u.d, &bits, sizeof bits);
                pos += 8;
                break;
            case WR_T_STRING:
                NEED(4, "string length");
                slen = (uint32_t)get_le(p + pos, 4);
                pos += 4;
                NEED(slen, "string bytes");
                if (slen > string_bytes - strings)
                    return wr_fail(eb, WR_EMALFORMED,
                                   "batch: row %d column %d: strings exceed the %u string bytes "
                                   "declared",
                                   r, c, string_bytes);
                strings += slen;
                if (slen) {
                    s = wr_arena_alloc(&b->arena, slen);
                    memcpy(s, p + pos, slen); /* room checked: the arena holds string_bytes */
                    v->u.s = s;
                } else {
                    v->u.s = "";
                }
                v->len = slen;
                pos += slen;
                break;
            default:
                return wr_fail(eb, WR_EMALFORMED, "batch: row %d column %d: unknown value type %u",
                               r, c, v->type);
            }
        }
    }
#undef NEED
    if (strings != string_bytes)
        return wr_fail(eb, WR_EMALFORMED, "batch: strings take %llu bytes, the header declares %u",
                       (unsigned long long)strings, string_bytes);
    if (pos != len)
        return wr_fail(eb, WR_EMALFORMED, "batch: %zu trailing bytes after the last row",
                       len - pos);
    return WR_OK;
}

wr_err wr_batch_decode(const void *buf, size_t len, int expect_ncols, int max_rows,
                       size_t max_string_bytes, wr_batch **out, wr_errbuf *eb)
{
    const uint8_t *p = buf;
    unsigned kind, ncols;
    uint32_t nrows, string_bytes;
    int64_t value;
    uint64_t min_bytes;
    wr_batch *b;
    wr_err e;

    if (len < BATCH_HEAD)
        return wr_fail(eb, WR_EMALFORMED, "batch: %zu bytes, shorter than the %d-byte header", len,
                       BATCH_HEAD);
    kind = p[0];
    value = (int64_t)get_le(p + 1, 8);
    ncols = (unsigned)get_le(p + 9, 2);
    nrows = (uint32_t)get_le(p + 11, 4);
    string_bytes = (uint32_t)get_le(p + 15, 4);
    if (kind > WR_BATCH_END)
        return wr_fail(eb, WR_EMALFORMED, "batch: unknown kind %u", kind);

    if (kind != WR_BATCH_DATA) {
        if (ncols || nrows || string_bytes)
            return wr_fail(eb, WR_EMALFORMED,
                           "batch: %s batch declares %u columns, %u rows and %u string bytes "
                           "(must be 0)",
                           kind_name((int)kind), ncols, nrows, string_bytes);
        if (len != BATCH_HEAD)
            return wr_fail(eb, WR_EMALFORMED, "batch: %zu trailing bytes after a %s batch",
                           len - BATCH_HEAD, kind_name((int)kind));
        b = wr_batch_new_control((wr_batch_kind)kind, value);
        if (!b)
            return wr_fail(eb, WR_ENOMEM, "batch: out of memory");
        *out = b;
        return WR_OK;
    }

    if (ncols > MAX_BATCH_COLS)
        return wr_fail(eb, WR_EMALFORMED, "batch: %u columns, more than %d", ncols, MAX_BATCH_COLS);
    if (expect_ncols >= 0 && ncols != (unsigned)expect_ncols)
        return wr_fail(eb, WR_EMALFORMED, "batch: %u columns, expected %d", ncols, expect_ncols);
    if (nrows > (uint32_t)(max_rows < 0 ? 0 : max_rows) || nrows > MAX_BATCH_ROWS)
        return wr_fail(eb, WR_EMALFORMED, "batch: %u rows, more than the limit of %d", nrows,
                       max_rows < 0 ? 0 : (max_rows > MAX_BATCH_ROWS ? MAX_BATCH_ROWS : max_rows));
    if (string_bytes > max_string_bytes)
        return wr_fail(eb, WR_EMALFORMED, "batch: %u string bytes, more than the limit of %zu",
                       string_bytes, max_string_bytes);
    /* Every row takes at least its event time and a type byte per column, and every
     * string byte is in the body: check before allocating anything. */
    min_bytes = (uint64_t)nrows * (8 + (uint64_t)ncols) + string_bytes;
    if (min_bytes > len - BATCH_HEAD)
        return wr_fail(eb, WR_EMALFORMED,
                       "batch: %u rows of %u columns and %u string bytes cannot fit in the %zu "
                       "bytes received",
                       nrows, ncols, string_bytes, len);

    b = wr_batch_new((int)ncols, nrows ? (int)nrows : 1, string_bytes);
    if (!b)
        return wr_fail(eb, WR_ENOMEM, "batch: out of memory for %u rows of %u columns", nrows,
                       ncols);
    b->kind = WR_BATCH_DATA;
    b->value = value;
    e = decode_rows(b, p, len, BATCH_HEAD, (int)nrows, string_bytes, eb);
    if (e != WR_OK) {
        wr_batch_free(b);
        return e;
    }
    b->nrows = (int)nrows;
    *out = b;
    return WR_OK;
}
