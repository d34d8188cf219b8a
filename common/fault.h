/*
 * fault.h — fault-injection points for the failure tests.
 *
 * WEIR_FAULT_KILL_AT="<point>[:<n>][,<point>[:<n>]...]" makes the process SIGKILL itself
 * (exactly like `kill -9`) the n-th time (default 1) execution reaches that point. Points:
 *   align    a window/sink subtask blocked a channel and waits for barriers on others
 *   upload   a snapshot copied its first file to storage and has more to copy
 *   snapshot a subtask finished the synchronous part of its snapshot
 * Without the variable wr_fault() costs one relaxed load. Tests only: never set it in
 * production.
 */
#ifndef WR_FAULT_H
#define WR_FAULT_H

/* Counts one arrival at `point`; kills the process if the variable says so. Thread-safe. */
void wr_fault(const char *point);

#endif
