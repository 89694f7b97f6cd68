/* api.h -- the REST API of DESIGN.md section 2: one handler per resource and method. */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <fcgiapp.h>

#include "cfg.h"
#include "db.h"
#include "metrics.h"
#include "pagecache.h"

struct api {
	const struct cfg *cfg;
	struct db db;
	unsigned long seq;             /* requests served, for request ids */
	const struct metrics *metrics; /* the whole pool's, for the metrics page */
	struct metrics_slot *mine;     /* this worker's counters */
	struct pagecache rooms;        /* recent GET /api/rooms answers */
};

/*
 * Prepares the API; cfg and the metrics must outlive it. Connects to the
 * database lazily.
 */
void api_init(struct api *a, const struct cfg *cfg, const struct metrics *metrics,
	      struct metrics_slot *mine);

/* Releases the database connection. */
void api_release(struct api *a);

/*
 * Answers one accepted request completely, whatever it holds; every
 * failure becomes an error envelope. The caller finishes the request.
 */
void api_handle(struct api *a, FCGX_Request *fcgi);

#endif
