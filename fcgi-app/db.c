/* db.c -- the worker's PostgreSQL connection: prepared statements, reconnects. */
#include "db.h"

#include <string.h>

#include "dbcall.h"
#include "dberr.h"
#include "log.h"
#include "sesscache.h"

struct db_def {
	const char *name;
	const char *sql;
	int nparams;
	int idempotent; /* sending it twice does no harm */
};

/* The (err, msg, field, retry, data) statements select DBCALL_SELECT (common/dbcall.h). */
static const struct db_def db_defs[DB__COUNT] = {
	[DB_HEALTH] = { "health", "SELECT 1", 0, 1 },
	/* The session's user and expiry, slid forward at most once a minute (migration 0025). */
	[DB_AUTH] = { "auth",
		      "SELECT a.user_id, a.expires_s FROM chat_session_check($1::bytea, $2::int) a",
		      2, 1 },
	/* A site's JWT, verified: its user, created or renamed (migration 0018). */
	[DB_AUTH_EXTERNAL] = { "auth_external",
			       "SELECT e.err, e.msg, e.field, e.retry, e.data, "
			       "e.data->>'id' AS user_id FROM chat_external_user($1, $2) e",
			       2, 1 },
	[DB_JOIN] = { "join",
		      DBCALL_SELECT
		      "chat_join($1, $2, $3::bytea, $4::int, $5, $6, $7::int, $8::int)",
		      8, 0 },
	[DB_LOGOUT] = { "logout", DBCALL_SELECT "chat_logout($1::bytea)", 1, 1 },
	[DB_ME] = { "me", DBCALL_SELECT "chat_me($1)", 1, 1 },
	[DB_ROOMS_LIST] = { "rooms_list", DBCALL_SELECT "chat_rooms_list($1, $2::int, $3::int)", 3,
			    1 },
	[DB_ROOM_GET] = { "room_get", DBCALL_SELECT "chat_room_get($1, $2)", 2, 1 },
	[DB_ROOM_CREATE] = { "room_create",
			     DBCALL_SELECT "chat_room_create($1, $2, $3, $4, $5::int, $6::int)", 6,
			     0 },
	[DB_MESSAGES_PAGE] = { "messages_page",
			       DBCALL_SELECT
			       "chat_messages_page($1, $2, $3::int, $4::bigint, $5::bigint)",
			       5, 1 },
	[DB_SEND_MESSAGE] = { "send_message", DBCALL_SEND_MESSAGE_SQL, DBCALL_SEND_NPARAMS, 0 },
	[DB_ROOM_USERS] = { "room_users", DBCALL_SELECT "chat_room_users($1, $2, $3::int, $4::int)",
			    4, 1 },
	/* Accounts (migration 0017): each sign-in is a check, the hash, then a write. */
	[DB_REGISTER_CHECK] = { "register_check",
				DBCALL_SELECT
				"chat_register_check($1, $2, $3, $4, $5::int, $6::int)",
				6, 0 },
	[DB_REGISTER] = { "register",
			  DBCALL_SELECT "chat_register($1, $2, $3, $4::bytea, $5::int, $6)", 6, 0 },
	[DB_LOGIN_CHECK] = { "login_check",
			     DBCALL_SELECT
			     "chat_login_check($1, $2, $3::int, $4::int, $5::int, $6::int)",
			     6, 0 },
	[DB_LOGIN_REFUND] = { "login_refund", "SELECT chat_login_refund($1, $2, $3::int, $4::int)",
			      4, 0 },
	[DB_LOGIN] = { "login",
		       DBCALL_SELECT "chat_login($1, $2, $3, $4::bytea, $5::int, $6, $7, $8::int, "
				     "$9::int)",
		       9, 0 },
	[DB_PASSWORD_CHECK] = { "password_check",
				DBCALL_SELECT
				"chat_password_check($1, $2, $3::int, $4::int, $5::int, $6::int)",
				6, 0 },
	[DB_PASSWORD_SET] = { "password_set",
			      DBCALL_SELECT
			      "chat_password_set($1, $2, $3, $4::bytea, $5, $6::int, $7::int)",
			      7, 0 },
	[DB_MEMBER_ADD] = { "member_add", DBCALL_SELECT "chat_room_member_add($1, $2, $3)", 3, 0 },
	[DB_MEMBER_REMOVE] = { "member_remove",
			       DBCALL_SELECT "chat_room_member_remove($1, $2, $3, $4::boolean)", 4,
			       0 },
	[DB_MEMBER_ROLE] = { "member_role", DBCALL_SELECT "chat_room_member_role($1, $2, $3, $4)",
			     4, 1 },
	[DB_DM] = { "dm", DBCALL_SELECT "chat_dm($1, $2, $3::int, $4::int)", 4, 0 },
	/* A tombstone deleted again stays as it is (migration 0020). */
	[DB_MESSAGE_DELETE] = { "message_delete",
				DBCALL_SELECT "chat_message_delete($1, $2, $3::bigint)", 3, 1 },
	/* Read state and search (migration 0021). Marking read twice is harmless. */
	[DB_MARK_READ] = { "mark_read", DBCALL_SELECT "chat_mark_read($1, $2, $3::bigint)", 3, 1 },
	[DB_ROOM_READS] = { "room_reads", DBCALL_SELECT "chat_room_reads($1, $2, $3::int, $4::int)",
			    4, 1 },
	[DB_SEARCH] = { "search", DBCALL_SELECT "chat_messages_search($1, $2, $3, $4::int)", 4, 1 },
	/* The same text again changes nothing (migration 0022). */
	[DB_MESSAGE_EDIT] = { "message_edit", DBCALL_EDIT_SQL, DBCALL_SEND_NPARAMS, 1 },
	[DB_MESSAGE_CHANGES] = { "message_changes",
				 DBCALL_SELECT "chat_message_changes($1, $2, $3::bigint, $4::int)",
				 4, 1 },
	/* Read-your-writes with a replica (replica.h). A standby answers
	 * NULL change counters for a room it does not have yet; a server not
	 * in recovery (a primary, or a standby since promoted, whose replay
	 * position stays where it stopped) NULL for its position. */
	[DB_REPLICA_STATE] = { "replica_state",
			       "SELECT CASE WHEN pg_is_in_recovery() "
			       "THEN pg_last_wal_replay_lsn() END::text AS lsn, "
			       "(SELECT last_seq FROM rooms WHERE id = $1) AS last_seq, "
			       "(SELECT change_seq FROM rooms WHERE id = $1) AS change_seq",
			       1, 1 },
	[DB_WAL_LSN] = { "wal_lsn", "SELECT pg_current_wal_insert_lsn()::text", 0, 1 },
};

static const unsigned char db_reads[DB__COUNT] = {
	[DB_ME] = 1,
	[DB_ROOMS_LIST] = 1,
	[DB_ROOM_GET] = 1,
	[DB_MESSAGES_PAGE] = 1,
	[DB_ROOM_USERS] = 1,
	[DB_ROOM_READS] = 1,
	[DB_SEARCH] = 1,
	[DB_MESSAGE_CHANGES] = 1,
	[DB_REPLICA_STATE] = 1,
};

static const unsigned char db_fences[DB__COUNT] = {
	[DB_ROOM_CREATE] = 1,    [DB_SEND_MESSAGE] = 1, [DB_MEMBER_ADD] = 1,
	[DB_MEMBER_REMOVE] = 1,  [DB_MEMBER_ROLE] = 1,  [DB_DM] = 1,
	[DB_MESSAGE_DELETE] = 1, [DB_MARK_READ] = 1,    [DB_MESSAGE_EDIT] = 1,
};

int db_stmt_reads(enum db_stmt stmt)
{
	return (unsigned)stmt < DB__COUNT && db_reads[stmt];
}

int db_stmt_fences(enum db_stmt stmt)
{
	return (unsigned)stmt < DB__COUNT && db_fences[stmt];
}

void db_init_url(struct db *d, const struct cfg *cfg, const char *url, const char *what)
{
	d->cfg = cfg;
	d->url = url;
	d->what = what;
	d->conn = NULL;
	d->ending = 0;
	d->quiet = 0;
	d->listen = 0;
	d->connects = 0;
}

void db_init(struct db *d, const struct cfg *cfg)
{
	db_init_url(d, cfg, cfg->database_url, "database");
	d->listen = 1;
}

void db_release(struct db *d)
{
	if (d->conn)
		PQfinish(d->conn);
	d->conn = NULL;
}

/* Runs a utility command on a fresh connection; returns 0 or -1. */
static int db_command(PGconn *c, const char *sql, const char *param)
{
	PGresult *r =
		PQexecParams(c, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_err("cannot run '%s': %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

static int db_connect(struct db *d)
{
	struct dbcall_conn dc;
	PGconn *c;
	int ret = -1;

	db_release(d);
	dbcall_conn_init(&dc, d->cfg, "chat-fcgi");
	dc.vals[2] = d->url;
	c = PQconnectdbParams(dc.keys, dc.vals, dc.expand_dbname);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		if (!d->quiet)
			log_err("cannot connect to the %s: %s", d->what,
				c ? PQerrorMessage(c) : "out of memory");
		goto out;
	}
	d->ending = 0;
	/* A FATAL said while idle sets d->ending: the connection is closing. */
	PQsetNoticeProcessor(c, dbcall_notice, &d->ending);
	for (int i = 0; i < DBCALL_NSETTINGS; i++)
		if (db_command(c, dc.settings[i].sql, dc.settings[i].param))
			goto out;
	/* Before any statement: a change committed after a statement's snapshot
	 * is then always heard of after its result (sesscache.h). */
	if (d->listen && db_command(c, "LISTEN " SESSCACHE_CHANNEL, NULL))
		goto out;
	for (int i = 0; i < DB__COUNT; i++) {
		PGresult *r =
			PQprepare(c, db_defs[i].name, db_defs[i].sql, db_defs[i].nparams, NULL);

		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			log_err("cannot prepare '%s': %s", db_defs[i].name, PQerrorMessage(c));
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	d->conn = c;
	d->connects++;
	c = NULL; /* d owns it now */
	log_info("connected to the %s", d->what);
	ret = 0;
out:
	PQfinish(c);
	return ret;
}

/*
 * Returns nonzero when the connection is still usable. Reading what the
 * server sent while we were idle notices a server that shut down (it says
 * so before it closes) without a round trip.
 */
static int db_alive(struct db *d)
{
	int ok;

	if (!d->conn)
		return 0;
	/* PQisBusy parses what was read: a FATAL sent while idle reaches
	 * dbcall_notice (d->ending) before anything is sent on the connection. */
	ok = PQstatus(d->conn) == CONNECTION_OK && PQconsumeInput(d->conn);

	if (ok)
		(void)PQisBusy(d->conn);
	if (!ok || PQstatus(d->conn) != CONNECTION_OK || d->ending) {
		log_warn("database connection lost: %s", PQerrorMessage(d->conn));
		db_release(d);
		return 0;
	}
	return 1;
}

/*
 * Runs a prepared statement; returns its last result (or NULL when it
 * could not be sent). *completed says whether its rows arrived: the
 * statement ran to its end, and a COMMIT may have followed even when an
 * error (the connection ending) comes after them.
 */
static PGresult *db_run(PGconn *c, const struct db_def *def, const char *const *params,
			int *completed)
{
	PGresult *r, *last = NULL;

	*completed = 0;
	if (!PQsendQueryPrepared(c, def->name, def->nparams, params, NULL, NULL, 0))
		return NULL;
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			*completed = 1;
		PQclear(last);
		last = r;
	}
	return last;
}

enum db_status db_exec(struct db *d, enum db_stmt stmt, const char *const *params, PGresult **res)
{
	const struct db_def *def = &db_defs[stmt];

	int broke = 0, raced = 0, completed, sent_unknown;

	*res = NULL;
	while (broke < 2 && raced < DB_RETRIES) {
		PGresult *r;

		if (!db_alive(d) && db_connect(d))
			return DB_UNAVAILABLE;
		r = db_run(d->conn, def, params, &completed);
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			*res = r;
			return DB_OK;
		}
		if (PQstatus(d->conn) == CONNECTION_OK) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			int unavailable = dberr_unavailable(state);
			int shutdown = state && strncmp(state, "57", 2) == 0;
			int race = dberr_retry(state);

			if (race && ++raced < DB_RETRIES) {
				log_warn("statement '%s' rolled back, runs again: %s", def->name,
					 PQerrorMessage(d->conn));
				PQclear(r);
				continue;
			}
			log_err("statement '%s' failed: %s", def->name, PQerrorMessage(d->conn));
			PQclear(r); /* state points into r: not used past here */
			if (race)
				return DB_UNAVAILABLE; /* rolled back: try again later */
			/* A full disk, a read-only or shutting-down server: not our bug. */
			if (unavailable) {
				if (shutdown)
					db_release(d);
				return DB_UNAVAILABLE;
			}
			return DB_FAILED;
		}
		log_warn("database connection broke during '%s': %s", def->name,
			 PQerrorMessage(d->conn));
		/*
		 * The server ended the session (its error carries an SQLSTATE)
		 * before the statement's rows: it did not commit. Rows first,
		 * or no word from the server: it may have.
		 */
		sent_unknown = r && (completed || !PQresultErrorField(r, PG_DIAG_SQLSTATE));
		PQclear(r);
		db_release(d);
		broke++;
		if (!def->idempotent)
			return sent_unknown ? DB_UNKNOWN : DB_UNAVAILABLE;
	}
	return DB_UNAVAILABLE;
}

int db_fd(const struct db *d)
{
	return d->conn ? PQsocket(d->conn) : -1;
}

int db_notifies(struct db *d, int read, db_notify_fn fn, void *ctx)
{
	PGnotify *n;

	if (!d->conn)
		return -1;
	if (read && !PQconsumeInput(d->conn)) {
		log_warn("database connection lost: %s", PQerrorMessage(d->conn));
		db_release(d);
		return -1;
	}
	/* PQisBusy parses what was read: notifications, and a FATAL notice
	 * (d->ending) of a server shutting down. */
	(void)PQisBusy(d->conn);
	/* Bounded by what libpq has read: each PQnotifies takes one off. */
	while ((n = PQnotifies(d->conn))) {
		fn(ctx, n->extra);
		PQfreemem(n);
	}
	if (PQstatus(d->conn) != CONNECTION_OK || d->ending) {
		log_warn("database connection lost: %s", PQerrorMessage(d->conn));
		db_release(d);
		return -1;
	}
	return 0;
}
