/*
 * chain.h — a run of stateless operators (filter, map, key_by) applied to one record
 * at a time, fused inside a task.
 *
 * The chain owns two scratch rows and arenas; map outputs alternate between them, so a
 * record passes through any number of operators without allocating. The output row
 * stays valid until the next wr_chain_run call.
 */
#ifndef WR_CHAIN_H
#define WR_CHAIN_H

#include "buf.h"
#include "error.h"
#include "spec.h"

typedef struct wr_chain wr_chain;

typedef enum wr_chain_result {
    WR_CHAIN_EMIT,  /* *out is the record to pass on */
    WR_CHAIN_DROP,  /* a filter rejected the record */
    WR_CHAIN_ERROR, /* evaluation failed: eb says which operator and why */
} wr_chain_result;

/* A chain of spec->ops[first .. first + n). Stateful operators (window, aggregate)
 * cannot be chained: returns WR_EUNSUPPORTED naming the operator. scratch_bytes bounds
 * the string bytes one record may produce per operator. */
wr_err wr_chain_new(const wr_job_spec *spec, int first, int n, size_t scratch_bytes, wr_chain **out,
                    wr_errbuf *eb);
void wr_chain_free(wr_chain *c);

wr_chain_result wr_chain_run(wr_chain *c, const wr_value *in, const wr_value **out, wr_errbuf *eb);

#endif
