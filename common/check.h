/* check.h -- what --check verifies, and the schema version check at start-up. */
#ifndef CHAT_CHECK_H
#define CHAT_CHECK_H

#include <stdio.h>

#include "cfg.h"

/* The verdict on a database's applied migrations, against the build's. */
enum check_schema {
	CHECK_SCHEMA_OK = 0, /* the needed migration is applied (newer ones may be too) */
	CHECK_SCHEMA_BEHIND, /* it is not: run deploy/migrate.sh */
	CHECK_SCHEMA_NONE,   /* no schema_migrations table: nothing was ever applied */
};

/*
 * Runs --check after the configuration loaded: connects to PostgreSQL as
 * the service prog would, reads schema_migrations, and sends itself a
 * NOTIFY on a LISTENed channel (which fails behind a transaction-pooling
 * proxy). Prints one line per check to out ("database: ok (...)" or
 * "schema: FAILED: ..."), then a summary. Returns 0 when every check
 * passed, else -1.
 */
int check_run(FILE *out, const char *prog, const struct cfg *cfg);

/*
 * The start-up check: refuses (returns -1, after logging what to run) when
 * the database's schema is behind the build's. A database that cannot be
 * reached is logged as a warning and not refused (returns 0): the service
 * waits for it as it always does.
 */
int check_schema_at_start(const char *prog, const struct cfg *cfg)
	__attribute__((warn_unused_result));

/*
 * Compares: applied is the newest recorded version ("" when none), has_need
 * whether need itself is recorded, table whether schema_migrations exists.
 */
enum check_schema check_schema_verdict(int table, int has_need);

#endif
