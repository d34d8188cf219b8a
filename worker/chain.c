/*
 * chain.c — fused stateless operators.
 */
#include "chain.h"

#include <stdlib.h>

struct wr_chain {
    const wr_job_spec *spec;
    int first, n;
    wr_value *rows[2];
    char *mem[2];
    wr_arena arena[2];
    char *tmp_mem; /* scratch for filter evaluation */
    wr_arena tmp;
};

wr_err wr_chain_new(const wr_job_spec *spec, int first, int n, size_t scratch_bytes, wr_chain **out,
                    wr_errbuf *eb)
{
    wr_chain *c;
    int width = 1;

    for (int i = first; i < first + n; i++) {
        const wr_op_spec *op = &spec->ops[i];
        if (op->kind != WR_OP_FILTER && op->kind != WR_OP_MAP && op->kind != WR_OP_KEY_BY)
            return wr_fail(eb, WR_EUNSUPPORTED,
                           "pipeline[%d]: '%s' is stateful and cannot run in a stateless chain", i,
                           wr_op_kind_name(op->kind));
        if (op->out_schema.nfields > width)
            width = op->out_schema.nfields;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    c->spec = spec;
    c->first = first;
    c->n = n;
    for (int k = 0; k < 2; k++) {
        c->rows[k] = calloc((size_t)width, sizeof(wr_value));
        c->mem[k] = malloc(scratch_bytes);
        if (!c->rows[k] || !c->mem[k])
            goto oom;
        wr_arena_init(&c->arena[k], c->mem[k], scratch_bytes);
    }
    c->tmp_mem = malloc(scratch_bytes);
    if (!c->tmp_mem)
        goto oom;
    wr_arena_init(&c->tmp, c->tmp_mem, scratch_bytes);
    *out = c;
    return WR_OK;
oom:
    wr_chain_free(c);
    return wr_fail(eb, WR_ENOMEM, "out of memory");
}

void wr_chain_free(wr_chain *c)
{
    if (!c)
        return;
    for (int k = 0; k < 2; k++) {
        free(c->rows[k]);
        free(c->mem[k]);
    }
    free(c->tmp_mem);
    free(c);
}

wr_chain_result wr_chain_run(wr_chain *c, const wr_value *in, const wr_value **out, wr_errbuf *eb)
{
    const wr_value *row = in;
    int flip = 0;

    for (int i = c->first; i < c->first + c->n; i++) {
        const wr_op_spec *op = &c->spec->ops[i];
        wr_value v;
        switch (op->kind) {
        case WR_OP_FILTER:
            wr_arena_reset(&c->tmp);
            if (wr_expr_eval(op->filter, row, &c->tmp, &v, eb) != WR_OK) {
                wr_errbuf_prefix(eb, "pipeline[%d].filter: ", i);
                return WR_CHAIN_ERROR;
            }
            if (v.type != WR_T_BOOL || !v.u.i)
                return WR_CHAIN_DROP; /* false or null */
            break;
        case WR_OP_MAP: {
            wr_value *dst = c->rows[flip];
            wr_arena_reset(&c->arena[flip]);
            for (int f = 0; f < op->n_map; f++) {
                if (wr_expr_eval(op->map[f].expr, row, &c->arena[flip], &dst[f], eb) != WR_OK) {
                    wr_errbuf_prefix(eb, "pipeline[%d].map.%s: ", i, op->map[f].name);
                    return WR_CHAIN_ERROR;
                }
            }
            row = dst;
            flip ^= 1;
            break;
        }
        default: /* key_by: routing happens at the exchange */
            break;
        }
    }
    *out = row;
    return WR_CHAIN_EMIT;
}
