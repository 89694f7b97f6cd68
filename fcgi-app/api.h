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

struct api {
	const struct cfg *cfg;
	struct db db;               /* the primary: every write, and reads when no replica */
	struct replica replica;     /* CHAT_DATABASE_READ_URL: reads that it can answer */
	unsigned long seq;          /* requests served, for request ids */
	struct metrics *metrics;    /* every worker's counters, shared (NULL: none) */
	struct pagecache rooms;     /* recent GET /api/rooms answers */
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

/*
 * Answers one accepted request completely, whatever it holds; every
 * failure becomes an error envelope. The caller finishes the request.
 */
void api_handle(struct api *a, FCGX_Request *fcgi);

#endif
