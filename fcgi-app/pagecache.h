/* pagecache.h -- a worker's few recent GET /api/rooms answers.
 *
 * The room list counts members and online members of every room on the
 * page, which costs PostgreSQL far more than checking the session does. A
 * worker keeps the last answers for each (limit, offset) for at most
 * CHAT_ROOMS_CACHE_MS, tagged with the caller's rooms version
 * (sesscache_rooms_version): the caller's user id and the worker's
 * counters that NOTIFY chat_fcgi moves when a room is created, deleted or
 * renamed, or a membership of the caller is made, ended, changes role or
 * moves its read position (migration 0025). A page lists the caller's
 * private rooms, roles and unread counts, so an answer is only ever given
 * again to the same user; those changes make it stale as soon as the worker
 * hears of them, so only the member and online counts, last_seq and unread
 * (after messages sent or deleted meanwhile) can lag, and by
 * no more than the time limit. An empty version is never stored nor matched. Bounded:
 * PAGECACHE_SLOTS entries, the oldest is replaced. */
#ifndef CHAT_PAGECACHE_H
#define CHAT_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>

#define PAGECACHE_SLOTS 8
#define PAGECACHE_VERSION_MAX 160

struct pagecache_slot {
	long limit, offset;
	char version[PAGECACHE_VERSION_MAX];
	int64_t at_ms; /* when it was stored; 0 = empty */
	char *body;
	size_t len;
};

struct pagecache {
	long ttl_ms; /* 0 turns the cache off */
	struct pagecache_slot slot[PAGECACHE_SLOTS];
};

void pagecache_init(struct pagecache *pc, long ttl_ms);

/* Frees every stored body. */
void pagecache_free(struct pagecache *pc);

/*
 * Returns the body stored for (limit, offset) under this version if it is
 * younger than the time limit at now_ms, else NULL.
 */
const char *pagecache_get(const struct pagecache *pc, long limit, long offset, const char *version,
			  int64_t now_ms, size_t *len);

/* Stores a copy of body[0..len); a failed copy (out of memory) stores nothing. */
void pagecache_put(struct pagecache *pc, long limit, long offset, const char *version,
		   int64_t now_ms, const char *body, size_t len);

#endif
