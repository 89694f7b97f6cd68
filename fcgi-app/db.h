/* db.h -- the worker's PostgreSQL connection: prepared statements, reconnects. */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <libpq-fe.h>

#include "cfg.h"

/* Every statement the API runs; each is prepared once per connection. */
enum db_stmt {
	DB_HEALTH,
	DB_AUTH,
	DB_AUTH_EXTERNAL,
	DB_JOIN,
	DB_LOGOUT,
	DB_ME,
	DB_ROOMS_LIST,
	DB_ROOM_GET,
	DB_ROOM_CREATE,
	DB_MESSAGES_PAGE,
	DB_SEND_MESSAGE,
	DB_ROOM_USERS,
	DB_REGISTER_CHECK,
	DB_REGISTER,
	DB_LOGIN_CHECK,
	DB_LOGIN_REFUND,
	DB_LOGIN,
	DB_PASSWORD_CHECK,
	DB_PASSWORD_SET,
	DB_MEMBER_ADD,
	DB_MEMBER_REMOVE,
	DB_MEMBER_ROLE,
	DB_DM,
	DB_MESSAGE_DELETE,
	DB_MARK_READ,
	DB_ROOM_READS,
	DB_SEARCH,
	DB_MESSAGE_EDIT,
	DB_MESSAGE_CHANGES,
	DB_REPLICA_STATE, /* on a standby: how far it replayed, a room's counters */
	DB_WAL_LSN,       /* on the primary: where its WAL ends (after a write) */
	DB__COUNT
};

#define DB_RETRIES 3

enum db_status {
	DB_OK = 0,
	DB_UNAVAILABLE = -1, /* no connection: the caller answers 503 */
	DB_FAILED = -2,      /* the statement failed: the caller answers 500 */
	DB_UNKNOWN = -3,     /* the connection broke after sending a write: it may
				have committed (503 outcome_unknown) */
};

struct db {
	const struct cfg *cfg;
	const char *url;  /* the conninfo: DATABASE_URL, or CHAT_DATABASE_READ_URL */
	const char *what; /* for the log: "database", "read replica" */
	PGconn *conn;     /* NULL or a connection with every statement prepared */
	int ending;       /* the server said FATAL on conn: it is closing */
	int quiet;        /* failing to connect is not logged (the caller logs) */
	int listen;       /* LISTEN for the session cache (the primary only: a standby cannot) */
	unsigned long connects; /* connections made: which one conn is */
};

/* What db_notifies hands each notification's payload to. */
typedef void (*db_notify_fn)(void *ctx, const char *payload);

/* Prepares *d for use with DATABASE_URL; connects lazily. cfg must outlive d. */
void db_init(struct db *d, const struct cfg *cfg);

/* The same with another server (url must outlive d), named what in the log. */
void db_init_url(struct db *d, const struct cfg *cfg, const char *url, const char *what);

/*
 * Nonzero for the statements that only read and may be answered by a
 * streaming replica (CHAT_DATABASE_READ_URL; replica.h): history, search,
 * room and member lists.
 */
int db_stmt_reads(enum db_stmt stmt);

/*
 * Nonzero for the writes whose effect their author reads back through
 * the statements above (a message sent, a room made, a membership, a
 * read position): after one, replica.h keeps the author on the primary
 * until the replica has replayed it.
 */
int db_stmt_fences(enum db_stmt stmt);

/* Closes the connection. *d may be initialized again. */
void db_release(struct db *d);

/*
 * Runs a prepared statement. Connects first when there is no usable
 * connection (a server that went away is noticed before the statement is
 * sent), and, for idempotent statements, reconnects and retries once when
 * the connection breaks mid-call (other statements answer DB_UNKNOWN
 * then). A statement PostgreSQL rolled back as a deadlock or serialization
 * failure runs again (DB_RETRIES runs in all): it is its own transaction. On DB_OK *res holds the tuples and the
 * caller owns it (PQclear); otherwise *res is NULL and the failure has
 * been logged.
 */
enum db_status db_exec(struct db *d, enum db_stmt stmt, const char *const *params, PGresult **res)
	__attribute__((warn_unused_result));

/* The connection's socket for poll(2), or -1 when there is none. */
int db_fd(const struct db *d);

/*
 * Hands every notification the connection has received (LISTEN
 * chat_fcgi, set up on every new connection) to fn, oldest first. With
 * read, it first reads what the socket holds without blocking (call it
 * when poll says the socket is readable); without, only what libpq has
 * already read (no system call). Returns 0, or -1 when there is no
 * connection or it broke (then released: the next db_exec reconnects).
 */
int db_notifies(struct db *d, int read, db_notify_fn fn, void *ctx);

#endif
