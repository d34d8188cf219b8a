/*
 * plan.c — physical planning: stage split, fields the source must decode, printing.
 */
#include "plan.h"
#include "keygroup.h"

#include <stdlib.h>
#include <string.h>

wr_err wr_plan_build(const wr_job_spec *spec, int parallelism, wr_plan *out, wr_errbuf *eb)
{
    wr_plan p;
    int key_op = -1;
    const wr_schema *src_schema = &spec->sources[spec->input_source].schema;

    memset(&p, 0, sizeof p);
    if (parallelism == 0)
        parallelism = spec->parallelism;
    if (parallelism < 1 || parallelism > spec->max_parallelism)
        return wr_fail(eb, WR_EINVAL, "parallelism %d is out of range (1..max_parallelism %d)",
                       parallelism, spec->max_parallelism);
    p.parallelism = parallelism;
    p.max_parallelism = spec->max_parallelism;
    for (int i = 0; i < spec->n_ops; i++) {
        if (spec->ops[i].kind == WR_OP_KEY_BY) {
            key_op = i;
            break;
        }
    }
    p.nstages = 2;
    p.stages[0].parallelism = p.stages[1].parallelism = parallelism;
    p.stages[0].reads_source = true;
    p.stages[1].writes_sinks = true;
    p.stages[0].first_op = 0;
    p.stages[0].in_schema = src_schema;
    if (key_op >= 0) {
        p.exchange = WR_EXCHANGE_HASH;
        p.key_cols = spec->ops[key_op].key_cols;
        p.n_keys = spec->ops[key_op].n_keys;
        p.stages[0].n_ops = key_op + 1;
    } else {
        p.exchange = WR_EXCHANGE_FORWARD;
        p.stages[0].n_ops = spec->n_ops;
    }
    p.stages[0].out_schema =
        p.stages[0].n_ops ? &spec->ops[p.stages[0].n_ops - 1].out_schema : src_schema;
    p.stages[1].first_op = p.stages[0].n_ops;
    p.stages[1].n_ops = spec->n_ops - p.stages[0].n_ops;
    p.stages[1].in_schema = p.stages[0].out_schema;
    p.stages[1].out_schema = wr_spec_output_schema(spec);
    *out = p;
    return WR_OK;
}

void wr_plan_used_source_fields(const wr_job_spec *spec, bool *used)
{
    const wr_source_spec *src = &spec->sources[spec->input_source];
    const wr_schema *out = wr_spec_output_schema(spec);
    int max_fields = src->schema.nfields;
    bool *need;

    for (int i = 0; i < spec->n_ops; i++) {
        if (spec->ops[i].out_schema.nfields > max_fields)
            max_fields = spec->ops[i].out_schema.nfields;
        if (spec->ops[i].in_schema.nfields > max_fields)
            max_fields = spec->ops[i].in_schema.nfields;
    }
    if (out->nfields > max_fields)
        max_fields = out->nfields;
    need = calloc((size_t)max_fields + 1, sizeof *need);
    if (!need) {
        /* Without memory to plan, decoding everything is still correct. */
        for (int i = 0; i < src->schema.nfields; i++)
            used[i] = true;
        return;
    }
    /* Every field that leaves the pipeline is needed; walk back to the source. */
    for (int i = 0; i < out->nfields; i++)
        need[i] = true;
    for (int k = spec->n_ops - 1; k >= 0; k--) {
        const wr_op_spec *op = &spec->ops[k];
        bool *in = calloc((size_t)max_fields + 1, sizeof *in);
        if (!in) {
            free(need);
            for (int i = 0; i < src->schema.nfields; i++)
                used[i] = true;
            return;
        }
        switch (op->kind) {
        case WR_OP_FILTER:
            memcpy(in, need, sizeof *in * (size_t)op->in_schema.nfields);
            wr_expr_mark_fields(op->filter, in);
            break;
        case WR_OP_MAP:
            for (int j = 0; j < op->n_map; j++)
                wr_expr_mark_fields(op->map[j].expr, in);
            break;
        case WR_OP_KEY_BY:
            memcpy(in, need, sizeof *in * (size_t)op->in_schema.nfields);
            for (int j = 0; j < op->n_keys; j++)
                in[op->key_cols[j]] = true;
            break;
        case WR_OP_WINDOW:
            memcpy(in, need, sizeof *in * (size_t)op->in_schema.nfields);
            /* records too late for the window go to late_data whole */
            if (spec->has_late_data) {
                for (int j = 0; j < op->in_schema.nfields; j++)
                    in[j] = true;
            }
            break;
        case WR_OP_AGGREGATE:
            /* the aggregate's input carries the keys of the preceding key_by */
            for (int j = k - 1; j >= 0; j--) {
                if (spec->ops[j].kind == WR_OP_KEY_BY) {
                    for (int q = 0; q < spec->ops[j].n_keys; q++)
                        in[spec->ops[j].key_cols[q]] = true;
                    break;
                }
            }
            for (int j = 0; j < op->n_aggs; j++) {
                if (op->aggs[j].arg_col >= 0)
                    in[op->aggs[j].arg_col] = true;
            }
            break;
        }
        free(need);
        need = in;
    }
    for (int i = 0; i < src->schema.nfields; i++)
        used[i] = need[i];
    if (src->has_event_time)
        used[src->event_time_col] = true;
    free(need);
}

static const char *offsets_text(wr_offset_kind k, char *buf, size_t size,
                                const wr_partition_offset *po, int n)
{
    size_t len = 0;
    switch (k) {
    case WR_OFFSETS_NONE:
        return "none (unbounded)";
    case WR_OFFSETS_EARLIEST:
        return "earliest";
    case WR_OFFSETS_LATEST:
        return "latest";
    case WR_OFFSETS_EXPLICIT:
        buf[0] = '\0';
        for (int i = 0; i < n && len + 32 < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s%d:%lld", i ? ", " : "",
                                    (int)po[i].partition, (long long)po[i].offset);
        return buf;
    }
    return "?";
}

static void print_op(const wr_op_spec *op, FILE *f)
{
    static const char *const wkind[] = {"tumbling", "sliding", "session"};
    static const char *const agg[] = {"count",          "sum",   "min", "max", "avg",
                                      "count_distinct", "first", "last"};

    fprintf(f, "    -> %s", wr_op_kind_name(op->kind));
    switch (op->kind) {
    case WR_OP_FILTER:
        fprintf(f, " \"%s\"", op->filter_src);
        break;
    case WR_OP_MAP:
        for (int i = 0; i < op->n_map; i++)
            fprintf(f, "%s %s = %s", i ? "," : "", op->map[i].name, op->map[i].src);
        break;
    case WR_OP_KEY_BY:
        for (int i = 0; i < op->n_keys; i++)
            fprintf(f, "%s %s", i ? "," : "", op->in_schema.fields[op->key_cols[i]].name);
        break;
    case WR_OP_WINDOW:
        fprintf(f, " %s", wkind[op->window]);
        if (op->window == WR_WINDOW_SESSION)
            fprintf(f, " gap %lldms", (long long)op->gap_ms);
        else
            fprintf(f, " size %lldms", (long long)op->size_ms);
        if (op->window == WR_WINDOW_SLIDING)
            fprintf(f, " slide %lldms", (long long)op->slide_ms);
        fprintf(f, ", allowed lateness %lldms", (long long)op->allowed_lateness_ms);
        break;
    case WR_OP_AGGREGATE:
        for (int i = 0; i < op->n_aggs; i++) {
            const wr_agg_spec *a = &op->aggs[i];
            fprintf(f, "%s %s = %s(%s)", i ? "," : "", a->name, agg[a->func],
                    a->arg_col >= 0 ? op->in_schema.fields[a->arg_col].name : "");
        }
        break;
    }
    fputc('\n', f);
}

static void print_schema(const char *label, const wr_schema *s, FILE *f)
{
    fprintf(f, "    %s {", label);
    for (int i = 0; i < s->nfields; i++)
        fprintf(f, "%s%s: %s%s", i ? ", " : "", s->fields[i].name, wr_type_name(s->fields[i].type),
                s->fields[i].optional ? "?" : "");
    fprintf(f, "}\n");
}

void wr_plan_print(const wr_plan *plan, const wr_job_spec *spec, FILE *f)
{
    const wr_source_spec *src = &spec->sources[spec->input_source];
    char a[256], b[256];

    fprintf(f, "job %s: parallelism %d, max_parallelism %d (key groups)\n", spec->name,
            plan->parallelism, plan->max_parallelism);
    fprintf(f, "stage 0 (%d subtasks):\n", plan->stages[0].parallelism);
    fprintf(f, "    source '%s': kafka topic '%s' at %s, format json, start %s, stop %s\n",
            src->name, src->kafka.topic, src->kafka.brokers,
            offsets_text(src->kafka.start, a, sizeof a, src->kafka.start_offsets,
                         src->kafka.n_start_offsets),
            offsets_text(src->kafka.stop, b, sizeof b, src->kafka.stop_offsets,
                         src->kafka.n_stop_offsets));
    fprintf(f, "    partitions: partition p is read by subtask p mod %d\n", plan->parallelism);
    print_schema("schema", &src->schema, f);
    for (int i = 0; i < plan->stages[0].n_ops; i++)
        print_op(&spec->ops[plan->stages[0].first_op + i], f);
    if (plan->exchange == WR_EXCHANGE_HASH) {
        fprintf(f, "exchange: hash by key group (%d key groups)\n", plan->max_parallelism);
        for (int s = 0; s < plan->parallelism; s++) {
            int lo, hi;
            wr_keygroup_range(s, plan->max_parallelism, plan->parallelism, &lo, &hi);
            fprintf(f, "    subtask %d: key groups %d-%d\n", s, lo, hi);
        }
    } else {
        fprintf(f, "exchange: forward (subtask i -> subtask i)\n");
    }
    fprintf(f, "stage 1 (%d subtasks):\n", plan->stages[1].parallelism);
    for (int i = 0; i < plan->stages[1].n_ops; i++)
        print_op(&spec->ops[plan->stages[1].first_op + i], f);
    for (int i = 0; i < spec->n_sinks; i++) {
        const wr_sink_spec *s = &spec->sinks[i];
        fprintf(f, "    -> sink '%s': kafka topic '%s' at %s, format json, %s%s%s\n", s->name,
                s->kafka.topic, s->kafka.brokers,
                s->kafka.delivery == WR_DELIVERY_EXACTLY_ONCE ? "exactly_once" : "at_least_once",
                s->key_field ? ", key " : "", s->key_field ? s->key_field : "");
    }
    print_schema("output", plan->stages[1].out_schema, f);
    if (spec->has_dead_letter)
        fprintf(f, "dead letters: kafka topic '%s' at %s\n", spec->dead_letter.topic,
                spec->dead_letter.brokers);
    else
        fprintf(f, "dead letters: none configured (a record that cannot be processed fails "
                   "the job)\n");
    if (spec->has_late_data)
        fprintf(f, "late data: kafka topic '%s' at %s\n", spec->late_data.topic,
                spec->late_data.brokers);
}

wr_err wr_plan_check_supported(const wr_job_spec *spec, wr_errbuf *eb)
{
    for (int i = 0; i < spec->n_sinks; i++) {
        if (spec->sinks[i].kafka.delivery == WR_DELIVERY_EXACTLY_ONCE)
            return wr_fail(eb, WR_EUNSUPPORTED,
                           "sinks[%d].kafka.delivery: exactly_once needs checkpoints, which this "
                           "build of weir does not have yet; use at_least_once",
                           i);
    }
    return WR_OK;
}
