/* dberr.h -- which PostgreSQL errors mean "the database is unavailable". */
#ifndef CHAT_DBERR_H
#define CHAT_DBERR_H

/*
 * Returns nonzero when the SQLSTATE says the database cannot serve now,
 * through no fault of the request: connection failures (class 08),
 * insufficient resources such as a full disk (53), an operator
 * intervention such as a shutdown (57), a read-only database (25006) or a
 * system error such as an I/O failure (58). Those are answered 503
 * db_unavailable and may be retried; anything else is a bug (500).
 * NULL (no SQLSTATE: the connection broke) counts as unavailable.
 */
int dberr_unavailable(const char *sqlstate);

/*
 * Returns nonzero when the SQLSTATE says the transaction was rolled back
 * only because of concurrent ones and may simply run again: a deadlock
 * (40P01) or a serialization failure (40001).
 */
int dberr_retry(const char *sqlstate);

#endif
