/*
 * cli.h — the verbs of the `weir` command, one function each (cli/<verb>.c).
 * Each returns the process exit status: 0 success, 1 failure at run time,
 * 2 bad usage or a bad job file.
 */
#ifndef WR_CLI_H
#define WR_CLI_H

#include <stdbool.h>

int wr_cli_validate(int argc, char **argv);
int wr_cli_local(int argc, char **argv);
int wr_cli_dev_kafka(int argc, char **argv);

/* The cluster verbs (cli/cluster-cmds.c): talk to a coordinator's REST API. */
int wr_cli_submit(int argc, char **argv);
int wr_cli_list(int argc, char **argv);
int wr_cli_status(int argc, char **argv);
int wr_cli_cancel(int argc, char **argv);
int wr_cli_stop(int argc, char **argv);
int wr_cli_workers(int argc, char **argv);
int wr_cli_checkpoints(int argc, char **argv);

/* Parses a decimal int in [lo, hi]. */
bool wr_cli_parse_int(const char *s, int lo, int hi, int *out);

#endif
