/*
 * validate.c — `weir validate JOB.yaml`: check a job offline and print its plan.
 * Shared with `weir local`: wr_cli_load_job() prints every spec error.
 */
#include "cli.h"
#include "cli-job.h"
#include "plan.h"

#include <stdio.h>
#include <string.h>

int wr_cli_load_job(const char *path, wr_job_spec **out)
{
    wr_spec_diags diags = {0};
    wr_err e = wr_spec_load(path, out, &diags);

    if (e == WR_OK)
        return 0;
    for (int i = 0; i < diags.n; i++) {
        char line[1024];
        wr_spec_diag_format(path, &diags.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    if (diags.n == 0)
        fprintf(stderr, "%s: %s\n", path, wr_strerror(e));
    else
        fprintf(stderr, "%s: %d error(s)\n", path, diags.n);
    wr_spec_diags_fini(&diags);
    return 2;
}

int wr_cli_validate(int argc, char **argv)
{
    const char *path = NULL;
    int parallelism = 0, rc;
    wr_job_spec *spec;
    wr_plan plan;
    wr_errbuf eb;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--parallelism") && i + 1 < argc) {
            if (!wr_cli_parse_int(argv[++i], 1, 32768, &parallelism)) {
                fprintf(stderr, "weir validate: --parallelism: '%s' is not 1..32768\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "usage: weir validate JOB.yaml [--parallelism N]\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: weir validate JOB.yaml [--parallelism N]\n");
        return 2;
    }
    rc = wr_cli_load_job(path, &spec);
    if (rc)
        return rc;
    if (wr_plan_build(spec, parallelism, &plan, &eb) != WR_OK) {
        fprintf(stderr, "%s: %s\n", path, eb.msg);
        wr_spec_free(spec);
        return 2;
    }
    printf("%s: valid\n", path);
    wr_plan_print(&plan, spec, stdout);
    wr_spec_free(spec);
    return 0;
}
