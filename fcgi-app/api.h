/* api.h -- the REST API of DESIGN.md section 2: one handler per resource and method. */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <fcgiapp.h>

#include "cfg.h"
#include "db.h"
#include "metrics.h"
#include "pagecache.h"
#include "pwhash.h"
#include "pwslot.h"
#include "replica.h"
#include "sesscache.h"

struct api {
	const struct cfg *cfg;
	struct db db;               /* the primary: every write, and reads when no replica */
	struct replica replica;     /* CHAT_DATABASE_READ_URL: reads that it can answer */
	unsigned long seq;          /* requests served, for request ids */
	unsigned pid;               /* this worker's, for request ids (no getpid per request) */
	struct metrics *metrics;    /* every worker's counters, shared (NULL: none) */
	struct pagecache rooms;     /* recent GET /api/rooms answers */
	struct sesscache sessions;  /* recent session checks (sesscache.h) */
	unsigned long connects;     /* db.connects the cache was filled under */
	struct pwhash pw;           /* password hashing, this worker's */
	const struct pwslot *slots; /* the pool's bound on hashes at once */
};

/*
 * Prepares the API; cfg, the metrics and slots must outlive it. Connects
 * to the database lazily. Returns 0, or -1 when libsodium cannot start.
 */
int api_init(struct api *a, const struct cfg *cfg, struct metrics *metrics,
	     const struct pwslot *slots) __attribute__((warn_unused_result));

/* Releases the database connections. */
void api_release(struct api *a);

/* The database connection's socket for the worker's poll, or -1. */
int api_db_fd(const struct api *a);

/*
 * Reads what the database connection said (poll found its socket
 * readable) and applies the notifications to the caches; a connection
 * found broken is released and the caches emptied.
 */
void api_db_input(struct api *a);

/*
 * Answers one accepted request completely, whatever it holds; every
 * failure becomes an error envelope. Returns nonzero when the answer also
 * ended the FastCGI request (http_send_parts): the caller then releases it
 * with fcgiout_release; else (nothing could be sent) it finishes it with
 * FCGX_Finish_r.
 */
int api_handle(struct api *a, FCGX_Request *fcgi);

#endif
