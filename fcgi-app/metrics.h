/* metrics.h -- request counters of the pool, shared by its workers (one slot each). */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stddef.h>
#include <sys/types.h>

/* Written by one worker only; read by whichever worker renders the page. */
struct metrics_slot {
	pid_t pid;
	unsigned long long requests;
	unsigned long long status[6];      /* by class: [2] = 2xx ... [5] = 5xx */
	unsigned long long duration_us;    /* sum over requests */
	unsigned long long db_unavailable; /* answers 503 db_unavailable */
};

struct metrics {
	int nslots;
	unsigned long long restarts; /* workers replaced by the pool */
	struct metrics_slot slot[];
};

/*
 * Maps zeroed counters for nslots workers, shared with the processes forked
 * afterwards. Returns NULL when the mapping fails.
 */
struct metrics *metrics_new(int nslots);

void metrics_free(struct metrics *m);

/* Records one answered request in slot s. */
void metrics_request(struct metrics_slot *s, int status, unsigned long long duration_us);

/*
 * Renders the Prometheus text page of the whole pool. Returns a malloc'd
 * string the caller frees, or NULL when out of memory.
 */
char *metrics_render(const struct metrics *m, size_t *len);

#endif
