/* replica.h -- reads from a streaming replica (CHAT_DATABASE_READ_URL), each caller reading its own writes.
 *
 * The statements db_stmt_reads() names may run on a hot standby; every
 * other statement, and every write, runs on the primary (DATABASE_URL).
 * A read goes to the primary instead when the replica has not replayed
 * what the caller already knows (docs/operations.md, "A read replica"):
 *
 * - its own last write: after each write db_stmt_fences() names, the
 *   primary's WAL insert position is kept as the author's fence, in a
 *   slot of the mapping every worker of the socket shares (metrics.h;
 *   users hash into slots, a shared slot only sends more reads to the
 *   primary). A read by that user needs the replica's
 *   pg_last_wal_replay_lsn() at or past the fence;
 * - a message or change it has seen: the seq or change counter the
 *   request names (after, before, seq; since) against the room's
 *   counters on the replica.
 *
 * The replica's replay position only grows, so each worker remembers the
 * highest one it saw on its connection and asks again only when a fence
 * is past it or the request names a seq. A replica that cannot be reached
 * sends the reads to the primary (logged once per outage per worker,
 * counted in chat_fcgi_replica_reads_total) and is tried again after
 * REPLICA_RETRY_MS, twice as long after each try that fails again, at
 * most REPLICA_RETRY_MAX_MS: a try against a host that drops packets holds
 * one request up to CHAT_DB_TIMEOUT. An error envelope from the replica (not found,
 * forbidden: maybe a room or membership it has not replayed) is asked of
 * the primary again.
 */
#ifndef CHAT_REPLICA_H
#define CHAT_REPLICA_H

#include <stdint.h>

#include "db.h"
#include "metrics.h"

/* How long a worker leaves an unreachable replica alone, at first and at most. */
#define REPLICA_RETRY_MS 2000
#define REPLICA_RETRY_MAX_MS 60000

/* What the caller of one read has already seen. */
struct replica_want {
	const char *room;     /* the room read, or NULL */
	long long seq;        /* a message seq of room it knows, 0: none */
	long long change_seq; /* a change counter of room it knows, 0: none */
};

struct replica {
	struct db db;
	struct metrics *metrics;   /* counters and fences; NULL when off */
	int down;                  /* the last try failed: the primary until retry_ms */
	int64_t retry_ms;          /* CLOCK_MONOTONIC */
	int retry_delay_ms;        /* the wait before retry_ms: doubles while down */
	uint64_t replayed;         /* the replica had replayed at least this ... */
	unsigned long replayed_on; /* ... on this connection (db.connects) */
};

/* Prepares *r; off (everything on the primary) unless cfg names a replica and m is not NULL. */
void replica_init(struct replica *r, const struct cfg *cfg, struct metrics *m);

void replica_release(struct replica *r);

/* Nonzero when reads may go to a replica. */
int replica_on(const struct replica *r);

/* After user's write on primary: sets user's fence to the end of the primary's WAL. */
void replica_wrote(struct replica *r, struct db *primary, const char *user);

/*
 * Runs stmt like db_exec(): on the replica when stmt only reads, the
 * replica is up and it has replayed user's fence and what w names (NULL:
 * nothing), else on primary.
 */
enum db_status replica_exec(struct replica *r, struct db *primary, enum db_stmt stmt,
			    const char *const *params, const char *user,
			    const struct replica_want *w, PGresult **res)
	__attribute__((warn_unused_result));

/* A pg_lsn's text ("16/B374D848") as a number; 0 when s is NULL or malformed. */
uint64_t replica_lsn_parse(const char *s);

/* The wait after a failed try that followed a wait of prev_ms (0: the first). */
int replica_retry_delay(int prev_ms);

/* The fence slot of user (FNV-1a over its id). */
unsigned replica_slot(const char *user);

/* Raises *slot to lsn (never lowers it). */
void replica_fence_raise(atomic_ullong *slot, uint64_t lsn);

#endif
