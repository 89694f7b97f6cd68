/* replica.c -- reads from a streaming replica (CHAT_DATABASE_READ_URL), each caller reading its own writes. */
#include "replica.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbcall.h"
#include "fnv.h"
#include "log.h"

static int64_t replica_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void replica_init(struct replica *r, const struct cfg *cfg, struct metrics *m)
{
	memset(r, 0, sizeof(*r));
	db_init_url(&r->db, cfg, cfg->database_read_url, "read replica");
	r->db.quiet = 1; /* replica_down logs once per outage */
	r->metrics = cfg->database_read_url[0] ? m : NULL;
}

void replica_release(struct replica *r)
{
	db_release(&r->db);
}

int replica_on(const struct replica *r)
{
	return r->metrics != NULL;
}

uint64_t replica_lsn_parse(const char *s)
{
	char *end;
	unsigned long long hi, lo;

	if (!s || !*s || strchr(s, '-') || strchr(s, '+') || strchr(s, ' '))
		return 0;
	hi = strtoull(s, &end, 16);
	if (end == s || *end != '/' || hi > 0xffffffffULL)
		return 0;
	s = end + 1;
	lo = strtoull(s, &end, 16);
	if (end == s || *end || lo > 0xffffffffULL)
		return 0;
	return ((uint64_t)hi << 32) | (uint64_t)lo;
}

unsigned replica_slot(const char *user)
{
	return fnv1a(FNV1A_INIT, user) % METRICS_FENCE_SLOTS;
}

void replica_fence_raise(atomic_ullong *slot, uint64_t lsn)
{
	unsigned long long cur = atomic_load_explicit(slot, memory_order_relaxed);

	while (cur < lsn &&
	       !atomic_compare_exchange_weak_explicit(slot, &cur, lsn, memory_order_release,
						      memory_order_relaxed))
		;
}

void replica_wrote(struct replica *r, struct db *primary, const char *user)
{
	PGresult *res = NULL;
	uint64_t lsn;

	if (!replica_on(r) || !user || !*user)
		return;
	if (db_exec(primary, DB_WAL_LSN, NULL, &res) != DB_OK)
		return; /* logged; the author may not see this write on the replica at once */
	lsn = replica_lsn_parse(PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL);
	PQclear(res);
	if (lsn)
		replica_fence_raise(&r->metrics->fence[replica_slot(user)], lsn);
}

int replica_retry_delay(int prev_ms)
{
	if (prev_ms <= 0)
		return REPLICA_RETRY_MS;
	return prev_ms < REPLICA_RETRY_MAX_MS / 2 ? prev_ms * 2 : REPLICA_RETRY_MAX_MS;
}

/* The replica failed st: the primary answers for REPLICA_RETRY_MS, then
 * twice as long after each failed try, up to REPLICA_RETRY_MAX_MS. */
static void replica_down(struct replica *r, enum db_status st)
{
	if (st == DB_FAILED)
		return; /* the statement, not the server (logged by db_exec) */
	if (!r->down) {
		log_warn("the read replica is unavailable: reads go to the primary, "
			 "the replica is tried again after %d ms, then less and less often "
			 "(at most every %d ms)",
			 REPLICA_RETRY_MS, REPLICA_RETRY_MAX_MS);
	}
	r->retry_delay_ms = replica_retry_delay(r->down ? r->retry_delay_ms : 0);
	r->down = 1;
	r->retry_ms = replica_now_ms() + r->retry_delay_ms;
	db_release(&r->db);
}

/* A NULL or missing column as -1, else its bigint. */
static long long replica_count(const PGresult *res, int col)
{
	if (PQntuples(res) != 1 || PQnfields(res) <= col || PQgetisnull(res, 0, col))
		return -1;
	return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/*
 * Asks the replica how far it replayed and where w's room stands. Returns
 * 1 when it has everything the caller knows (fence, w), 0 when it is
 * behind, -1 when it could not be asked (r->down then says why).
 */
static int replica_caught_up(struct replica *r, uint64_t fence, const struct replica_want *w)
{
	const char *params[1] = { w && w->room ? w->room : NULL };
	PGresult *res = NULL;
	enum db_status st = db_exec(&r->db, DB_REPLICA_STATE, params, &res);
	const char *lsn_text;
	uint64_t lsn;
	long long last_seq, change_seq;

	if (st != DB_OK) {
		replica_down(r, st);
		return -1;
	}
	lsn_text = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL;
	/* NULL: not in recovery, a primary itself (current by definition). */
	lsn = lsn_text ? replica_lsn_parse(lsn_text) : UINT64_MAX;
	last_seq = replica_count(res, 1);
	change_seq = replica_count(res, 2);
	PQclear(res);
	if (r->replayed_on != r->db.connects)
		r->replayed = 0;
	if (lsn > r->replayed)
		r->replayed = lsn;
	r->replayed_on = r->db.connects;
	if (lsn < fence)
		return 0;
	if (w && w->room && (w->seq > 0 || w->change_seq > 0) &&
	    (last_seq < w->seq || change_seq < w->change_seq))
		return 0; /* -1: the replica does not have the room yet */
	return 1;
}

/* Nonzero when res is a standard row with an error envelope (not found, forbidden, ...). */
static int replica_refused(const PGresult *res)
{
	struct dbcall_row row;

	return PQntuples(res) == 1 && dbcall_row(&row, res, 0) == 0 && row.err;
}

enum db_status replica_exec(struct replica *r, struct db *primary, enum db_stmt stmt,
			    const char *const *params, const char *user,
			    const struct replica_want *w, PGresult **res)
{
	enum metrics_replica why = METRICS_REPLICA_DOWN;
	uint64_t fence = 0;
	unsigned long conn;
	enum db_status st;
	int checked = 0;

	*res = NULL;
	if (!replica_on(r) || !db_stmt_reads(stmt))
		return db_exec(primary, stmt, params, res);
	if (r->down && replica_now_ms() < r->retry_ms)
		goto primary;
	if (user && *user)
		fence = atomic_load_explicit(&r->metrics->fence[replica_slot(user)],
					     memory_order_acquire);
	if (!r->db.conn || r->replayed_on != r->db.connects)
		r->replayed = 0; /* another connection: maybe another server */
	if (fence > r->replayed || (w && w->room && (w->seq > 0 || w->change_seq > 0))) {
		int up = replica_caught_up(r, fence, w);

		if (up < 0)
			goto primary;
		if (!up) {
			why = METRICS_REPLICA_BEHIND;
			goto primary;
		}
		checked = 1;
	}
	conn = r->db.connects;
	st = db_exec(&r->db, stmt, params, res);
	if (st != DB_OK) {
		replica_down(r, st);
		goto primary;
	}
	if (r->down) {
		log_info("the read replica answers again: reads go to it");
		r->down = 0;
	}
	/* Reconnected in between: what the check (or the remembered
	 * position) said was about the connection before. */
	if ((checked || fence) && r->db.connects != conn) {
		PQclear(*res);
		*res = NULL;
		why = METRICS_REPLICA_BEHIND;
		goto primary;
	}
	if (replica_refused(*res)) {
		PQclear(*res);
		*res = NULL;
		why = METRICS_REPLICA_ERROR;
		goto primary;
	}
	metrics_replica(r->metrics, METRICS_REPLICA_SERVED);
	return DB_OK;
primary:
	metrics_replica(r->metrics, why);
	return db_exec(primary, stmt, params, res);
}
