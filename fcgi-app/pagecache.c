/* pagecache.c -- a worker's few recent GET /api/rooms answers. */
#include "pagecache.h"

#include <stdlib.h>
#include <string.h>

void pagecache_init(struct pagecache *pc, long ttl_ms)
{
	memset(pc, 0, sizeof(*pc));
	pc->ttl_ms = ttl_ms;
}

void pagecache_free(struct pagecache *pc)
{
	for (int i = 0; i < PAGECACHE_SLOTS; i++)
		free(pc->slot[i].body);
	pagecache_init(pc, pc->ttl_ms);
}

static int slot_is(const struct pagecache_slot *s, long limit, long offset)
{
	return s->at_ms && s->limit == limit && s->offset == offset;
}

const char *pagecache_get(const struct pagecache *pc, long limit, long offset, const char *version,
			  int64_t now_ms, size_t *len)
{
	if (pc->ttl_ms <= 0 || !version || !version[0])
		return NULL;
	for (int i = 0; i < PAGECACHE_SLOTS; i++) {
		const struct pagecache_slot *s = &pc->slot[i];

		if (!slot_is(s, limit, offset))
			continue;
		if (strcmp(s->version, version) != 0 || now_ms - s->at_ms >= pc->ttl_ms ||
		    now_ms < s->at_ms)
			return NULL;
		*len = s->len;
		return s->body;
	}
	return NULL;
}

void pagecache_put(struct pagecache *pc, long limit, long offset, const char *version,
		   int64_t now_ms, const char *body, size_t len)
{
	struct pagecache_slot *s = NULL;
	char *copy;

	if (pc->ttl_ms <= 0 || !version || !version[0] || strlen(version) >= PAGECACHE_VERSION_MAX)
		return;
	/* The page's own slot, else an empty one, else the oldest. */
	for (int i = 0; i < PAGECACHE_SLOTS && !s; i++)
		if (slot_is(&pc->slot[i], limit, offset))
			s = &pc->slot[i];
	for (int i = 0; i < PAGECACHE_SLOTS && !s; i++)
		if (!pc->slot[i].at_ms)
			s = &pc->slot[i];
	if (!s) {
		s = &pc->slot[0];
		for (int i = 1; i < PAGECACHE_SLOTS; i++)
			if (pc->slot[i].at_ms < s->at_ms)
				s = &pc->slot[i];
	}
	copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, body, len);
	copy[len] = '\0';
	free(s->body);
	s->body = copy;
	s->len = len;
	s->limit = limit;
	s->offset = offset;
	s->at_ms = now_ms > 0 ? now_ms : 1;
	memcpy(s->version, version, strlen(version) + 1); /* length checked above */
}
