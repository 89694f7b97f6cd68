/* check.c -- what --check verifies, and the schema version check at start-up. */
#include "check.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbcall.h"
#include "log.h"
#include "version.h"

/* What the database says about its migrations. */
struct check_db {
	enum check_schema verdict;
	char applied[32]; /* the newest recorded version, "" when none */
};

enum check_schema check_schema_verdict(int table, int has_need)
{
	if (!table)
		return CHECK_SCHEMA_NONE;
	return has_need ? CHECK_SCHEMA_OK : CHECK_SCHEMA_BEHIND;
}

/* Connects as prog would. Returns the connection (the caller PQfinish'es it) or NULL with err. */
static PGconn *check_connect(const char *prog, const struct cfg *cfg, char *err, size_t errlen)
{
	struct dbcall_conn dc;
	PGconn *c;

	dbcall_conn_init(&dc, cfg, prog);
	c = PQconnectdbParams(dc.keys, dc.vals, dc.expand_dbname);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	snprintf(err, errlen, "cannot connect: %s", c ? PQerrorMessage(c) : "out of memory");
	err[strcspn(err, "\n")] = '\0';
	PQfinish(c);
	return NULL;
}

/* Reads schema_migrations into *s. Returns 0, or -1 with err. */
static int check_db_schema(PGconn *c, struct check_db *s, char *err, size_t errlen)
{
	const char *need = version_schema();
	PGresult *r;
	int table;

	s->applied[0] = '\0';
	r = PQexec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "cannot look for schema_migrations: %s",
			 PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	table = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!table) {
		s->verdict = check_schema_verdict(0, 0);
		return 0;
	}
	r = PQexecParams(c,
			 "SELECT coalesce(max(version), ''), coalesce(bool_or(version = $1), false)"
			 " FROM schema_migrations",
			 1, NULL, &need, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "cannot read schema_migrations: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	snprintf(s->applied, sizeof(s->applied), "%s", PQgetvalue(r, 0, 0));
	s->verdict = check_schema_verdict(1, strcmp(PQgetvalue(r, 0, 1), "t") == 0);
	PQclear(r);
	return 0;
}

/* The sentence saying what is wrong with the schema and what to run. */
static void check_schema_text(const struct check_db *s, const char *prog, char *out, size_t size)
{
	if (s->verdict == CHECK_SCHEMA_NONE)
		snprintf(out, size,
			 "the database has no schema_migrations table; %s %s needs schema %s: "
			 "run deploy/migrate.sh",
			 prog, version_release(), version_schema());
	else
		snprintf(out, size,
			 "the database schema is behind (newest applied migration %s, "
			 "%s %s needs %s): back it up, then run deploy/migrate.sh",
			 s->applied[0] ? s->applied : "none", prog, version_release(),
			 version_schema());
}

/*
 * LISTENs on a channel of its own and NOTIFYs it: the notification comes
 * back only on a session that really listens (a transaction pooler hands
 * the LISTEN and the wait to different server sessions). Returns 0, or -1
 * with err.
 */
static int check_listen(PGconn *c, long timeout_s, char *err, size_t errlen)
{
	char chan[64], sql[128];
	PGresult *r;
	PGnotify *n = NULL;
	time_t until = time(NULL) + timeout_s;
	int rc = -1;

	snprintf(chan, sizeof(chan), "chat_check_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "LISTEN %s", chan);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "LISTEN refused: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	snprintf(sql, sizeof(sql), "NOTIFY %s, 'probe'", chan);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "NOTIFY refused: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	while (!n && time(NULL) <= until) {
		struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };

		if (!PQconsumeInput(c))
			break;
		n = PQnotifies(c);
		if (!n && poll(&p, 1, 200) < 0)
			break;
	}
	if (n && strcmp(n->relname, chan) == 0) {
		rc = 0;
	} else {
		snprintf(err, errlen,
			 "a NOTIFY did not come back within %lds: is DATABASE_URL a transaction "
			 "pooler? The bridge needs a direct connection",
			 timeout_s);
	}
	PQfreemem(n);
	r = PQexec(c, "UNLISTEN *");
	PQclear(r);
	return rc;
}

int check_run(FILE *out, const char *prog, const struct cfg *cfg)
{
	struct check_db s;
	char err[768];
	int failed = 0;
	PGconn *c;

	fprintf(out, "configuration: ok\n");
	c = check_connect(prog, cfg, err, sizeof(err));
	if (!c) {
		fprintf(out, "database: FAILED: %s\n", err);
		fprintf(out, "schema: skipped\nlisten: skipped\n%s: 1 check failed, 2 skipped\n",
			prog);
		return -1;
	}
	fprintf(out, "database: ok (PostgreSQL %d, database '%s' as '%s')\n", PQserverVersion(c),
		PQdb(c), PQuser(c));
	if (check_db_schema(c, &s, err, sizeof(err))) {
		err[strcspn(err, "\n")] = '\0';
		fprintf(out, "schema: FAILED: %s\n", err);
		failed++;
	} else if (s.verdict != CHECK_SCHEMA_OK) {
		check_schema_text(&s, prog, err, sizeof(err));
		fprintf(out, "schema: FAILED: %s\n", err);
		failed++;
	} else {
		fprintf(out, "schema: ok (needs %s, newest applied %s)\n", version_schema(),
			s.applied);
	}
	if (check_listen(c, cfg->db_timeout, err, sizeof(err))) {
		err[strcspn(err, "\n")] = '\0';
		fprintf(out, "listen: FAILED: %s\n", err);
		failed++;
	} else {
		fprintf(out, "listen: ok (a NOTIFY came back)\n");
	}
	PQfinish(c);
	if (failed) {
		fprintf(out, "%s: %d check%s failed\n", prog, failed, failed > 1 ? "s" : "");
		return -1;
	}
	fprintf(out, "%s: all checks passed\n", prog);
	return 0;
}

int check_schema_at_start(const char *prog, const struct cfg *cfg)
{
	struct check_db s;
	char err[768];
	PGconn *c = check_connect(prog, cfg, err, sizeof(err));

	if (!c) {
		log_warn("cannot check the schema version (%s); starting anyway", err);
		return 0;
	}
	if (check_db_schema(c, &s, err, sizeof(err))) {
		err[strcspn(err, "\n")] = '\0';
		log_warn("cannot check the schema version (%s); starting anyway", err);
		PQfinish(c);
		return 0;
	}
	PQfinish(c);
	if (s.verdict == CHECK_SCHEMA_OK)
		return 0;
	check_schema_text(&s, prog, err, sizeof(err));
	log_err("refusing to start: %s", err);
	return -1;
}
