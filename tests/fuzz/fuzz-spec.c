/*
 * fuzz-spec.c — fuzz target for the job spec checker: arbitrary bytes through libyaml
 * and every check in common/spec.c. Valid or not, everything must be freed and every
 * diagnostic must format.
 */
#include "spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wr_job_spec *spec = NULL;
    wr_spec_diags diags = {0};
    char buf[1024];

    if (wr_spec_parse("fuzz.yaml", (const char *)data, size, &spec, &diags) == WR_OK) {
        /* a valid spec has a readable output schema and no diagnostics */
        const wr_schema *out = wr_spec_output_schema(spec);
        if (out->nfields < 0 || diags.n != 0)
            abort();
        wr_spec_free(spec);
    }
    for (int i = 0; i < diags.n; i++) {
        wr_spec_diag_format("fuzz.yaml", &diags.items[i], buf, sizeof buf);
        if (strlen(buf) >= sizeof buf)
            abort();
    }
    wr_spec_diags_fini(&diags);
    return 0;
}
