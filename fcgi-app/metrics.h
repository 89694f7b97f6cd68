/* metrics.h -- the chat-fcgi workers' counters, in one mapping they all share. */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "histo.h"

/* Read-your-writes fences (replica.h): users hash into this many slots. */
#define METRICS_FENCE_SLOTS 4096

/* Why a read that could have gone to the replica went to the primary. */
enum metrics_replica {
	METRICS_REPLICA_SERVED, /* it did go to the replica */
	METRICS_REPLICA_BEHIND, /* the replica had not replayed what the caller knows */
	METRICS_REPLICA_ERROR,  /* the replica answered an error envelope: asked again */
	METRICS_REPLICA_DOWN,   /* no connection to the replica, or a statement failed */
	METRICS_REPLICA__COUNT
};

/*
 * The counters of every worker on one FastCGI socket, whoever started
 * them: the built-in pool forks its workers after the mapping is made,
 * spawn-fcgi -F N and multiwatch start N processes that each map the same
 * file. Every counter is atomic, so any worker may add to it and any
 * worker renders the same page. The layout is checked by magic and size;
 * a file of another layout is reset.
 */
struct metrics {
	uint32_t magic, size;
	unsigned long long restarts;  /* workers the built-in pool replaced (its master writes) */
	atomic_ullong requests[6];    /* by status class: [2] = 2xx ... [5] = 5xx */
	atomic_ullong db_unavailable; /* answers 503 db_unavailable */
	struct histo duration;        /* accept to answer */
	atomic_ullong replica[METRICS_REPLICA__COUNT]; /* reads that a replica could serve */
	/*
	 * Not counters: the primary's WAL position after each user's last
	 * write (replica.h), here because this is the mapping every worker
	 * of the socket shares.
	 */
	atomic_ullong fence[METRICS_FENCE_SLOTS];
};

/*
 * Maps the shared counters: the file path when it is not "" (created 0600
 * if missing, reset if of another layout), else one derived from the
 * FastCGI socket on fd 0 ("<socket path>.metrics") when it is a unix
 * socket, else memory private to this process and its children (the
 * built-in pool). Returns NULL when even that fails. *shared_path gets
 * the file used, "" for none.
 */
struct metrics *metrics_open(const char *path, char *shared_path, size_t pathlen);

void metrics_close(struct metrics *m);

/* Records one answered request. */
void metrics_request(struct metrics *m, int status, unsigned long long duration_us);

/* Records where one read went (CHAT_DATABASE_READ_URL set). */
void metrics_replica(struct metrics *m, enum metrics_replica what);

/*
 * Renders the Prometheus text page. Returns a malloc'd string the caller
 * frees, or NULL when out of memory.
 */
char *metrics_render(const struct metrics *m, size_t *len);

#endif
