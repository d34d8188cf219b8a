/*
 * cli-job.h — loading a job file for the CLI verbs.
 */
#ifndef WR_CLI_JOB_H
#define WR_CLI_JOB_H

#include "spec.h"

/* Loads and checks path; on failure prints every error to stderr ("file:line:col:
 * field: message") and returns 2; on success sets *out and returns 0. */
int wr_cli_load_job(const char *path, wr_job_spec **out);

#endif
