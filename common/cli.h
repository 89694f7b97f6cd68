/* cli.h -- the command line both services share: --help, --version, --check. */
#ifndef CHAT_CLI_H
#define CHAT_CLI_H

#include <stdio.h>

#include "cfg.h"

enum cli_action {
	CLI_RUN = 0, /* no option: run the service */
	CLI_HELP,    /* --help, -h */
	CLI_VERSION, /* --version, -V */
	CLI_CHECK,   /* --check */
};

/* Exit statuses of both services (sysexits-like, but few). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,  /* a failure a restart may cure (database down, --check failed) */
	CLI_EXIT_USAGE = 2, /* bad command line or configuration, schema behind, no socket:
			     * a restart will not cure it */
};

struct cli {
	const char *prog;  /* "chat-fcgi", for messages */
	const char *about; /* --help's description: lines ending in '\n' */
	enum cli_action action;
};

/*
 * Parses argv[1..argc): one of --help (-h), --version (-V), --check, or
 * nothing. Returns 0 with c->action set, or -1 with the reason in err
 * (always NUL-terminated): an unknown option, an argument, two options.
 */
int cli_parse(struct cli *c, int argc, char *const *argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Prints the usage and c->about to f. */
void cli_usage(const struct cli *c, FILE *f);

/* Prints "PROG RELEASE (schema NNNN)" to f. */
void cli_version(const struct cli *c, FILE *f);

/*
 * What each service's main runs first: parses the command line, answers
 * --help and --version, loads the configuration into *cfg, and runs
 * --check (check.h). Returns -1 when the service is to start (cfg filled),
 * else the exit status (enum cli_exit) after printing what happened.
 */
int cli_start(struct cli *c, int argc, char *const *argv, struct cfg *cfg)
	__attribute__((warn_unused_result));

#endif
