/* cmd.h -- chatctl's subcommands against the database: the lists and the logged actions. */
#ifndef CHATCTL_CMD_H
#define CHATCTL_CMD_H

#include "args.h"
#include "cfg.h"

/*
 * Runs the subcommand of a (parsed, checked) with the configuration cfg:
 * connects to DATABASE_URL, then lists (tab-separated rows on standard
 * output) or carries out one action in one transaction together with its
 * admin_log row, printing the answer's data as one JSON line on standard
 * output and logging the outcome to standard error and syslog. Returns an
 * enum ctl_exit code.
 */
int cmd_run(const struct ctl_args *a, const struct cfg *cfg);

#endif
