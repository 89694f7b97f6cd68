/* sesscache.c -- a worker's recent session checks, invalidated by LISTEN. */
#include "sesscache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

/* FNV-1a: the sets and buckets. Refusals are keyed by an attacker's
 * token, so at worst they crowd one refusal set; sessions are keyed by
 * tokens the server made. */
static uint32_t sesscache_hash(const char *s)
{
	return fnv1a(FNV1A_INIT, s);
}

static uint32_t sesscache_bucket(const char *user_id)
{
	return sesscache_hash(user_id) % SESSCACHE_BUCKETS;
}

int sesscache_init(struct sesscache *c, long ttl_ms)
{
	memset(c, 0, sizeof(*c));
	c->ttl_ms = ttl_ms;
	if (ttl_ms <= 0)
		return 0;
	c->pos = calloc((size_t)SESSCACHE_SETS * SESSCACHE_WAYS, sizeof(*c->pos));
	c->neg = calloc((size_t)SESSCACHE_NEG_SETS * SESSCACHE_WAYS, sizeof(*c->neg));
	if (!c->pos || !c->neg) {
		sesscache_free(c);
		return -1;
	}
	return 0;
}

void sesscache_free(struct sesscache *c)
{
	free(c->pos);
	free(c->neg);
	c->pos = NULL;
	c->neg = NULL;
	c->ttl_ms = 0;
}

static void sesscache_forget_refused(struct sesscache *c)
{
	if (c->neg)
		memset(c->neg, 0, (size_t)SESSCACHE_NEG_SETS * SESSCACHE_WAYS * sizeof(*c->neg));
}

void sesscache_clear(struct sesscache *c)
{
	if (c->pos)
		memset(c->pos, 0, (size_t)SESSCACHE_SETS * SESSCACHE_WAYS * sizeof(*c->pos));
	sesscache_forget_refused(c);
	/* Any page built before is stale too: every rooms version moves. */
	c->rooms_all++;
}

static int sesscache_fresh(const struct sesscache *c, int64_t at_ms, int64_t now_ms)
{
	return now_ms >= at_ms && now_ms - at_ms < c->ttl_ms;
}

enum sesscache_result sesscache_get(struct sesscache *c, const char *key, int64_t now_ms,
				    int64_t now_s, const struct sesscache_entry **e)
{
	uint32_t h;

	*e = NULL;
	if (!c->pos || !key[0])
		return SESSCACHE_MISS;
	h = sesscache_hash(key);
	for (int i = 0; i < SESSCACHE_WAYS; i++) {
		struct sesscache_entry *s = &c->pos[(h % SESSCACHE_SETS) * SESSCACHE_WAYS + i];

		if (strcmp(s->key, key) != 0)
			continue;
		if (sesscache_fresh(c, s->checked_ms, now_ms) && now_s < s->expires_s &&
		    s->rights == c->rights[sesscache_bucket(s->user_id)]) {
			c->hits++;
			*e = s;
			return SESSCACHE_VALID;
		}
		s->key[0] = '\0'; /* stale: ask again */
		break;
	}
	for (int i = 0; i < SESSCACHE_WAYS; i++) {
		struct sesscache_refused *n =
			&c->neg[(h % SESSCACHE_NEG_SETS) * SESSCACHE_WAYS + i];

		if (strcmp(n->key, key) != 0)
			continue;
		if (sesscache_fresh(c, n->at_ms, now_ms)) {
			c->refused_hits++;
			return SESSCACHE_REFUSED;
		}
		n->key[0] = '\0';
		break;
	}
	c->misses++;
	return SESSCACHE_MISS;
}

void sesscache_put(struct sesscache *c, const char *key, const char *user_id, int64_t expires_s,
		   int64_t now_ms)
{
	struct sesscache_entry *set, *s = NULL;
	size_t klen = strlen(key), ulen = strlen(user_id);

	if (!c->pos || !klen || klen >= SESSCACHE_KEY_MAX || ulen >= SESSCACHE_USER_MAX)
		return;
	set = &c->pos[(sesscache_hash(key) % SESSCACHE_SETS) * SESSCACHE_WAYS];
	/* Its own way, else an empty one, else the least recently checked. */
	for (int i = 0; i < SESSCACHE_WAYS && !s; i++)
		if (strcmp(set[i].key, key) == 0)
			s = &set[i];
	for (int i = 0; i < SESSCACHE_WAYS && !s; i++)
		if (!set[i].key[0])
			s = &set[i];
	if (!s) {
		s = &set[0];
		for (int i = 1; i < SESSCACHE_WAYS; i++)
			if (set[i].checked_ms < s->checked_ms)
				s = &set[i];
		c->evictions++;
	}
	memcpy(s->key, key, klen + 1);
	memcpy(s->user_id, user_id, ulen + 1);
	s->checked_ms = now_ms;
	s->expires_s = expires_s;
	s->rights = c->rights[sesscache_bucket(user_id)];
}

void sesscache_put_refused(struct sesscache *c, const char *key, int64_t now_ms)
{
	struct sesscache_refused *set, *n = NULL;
	size_t klen = strlen(key);

	if (!c->neg || !klen || klen >= SESSCACHE_KEY_MAX)
		return;
	set = &c->neg[(sesscache_hash(key) % SESSCACHE_NEG_SETS) * SESSCACHE_WAYS];
	for (int i = 0; i < SESSCACHE_WAYS && !n; i++)
		if (!set[i].key[0] || strcmp(set[i].key, key) == 0)
			n = &set[i];
	if (!n) {
		n = &set[0];
		for (int i = 1; i < SESSCACHE_WAYS; i++)
			if (set[i].at_ms < n->at_ms)
				n = &set[i];
	}
	memcpy(n->key, key, klen + 1);
	n->at_ms = now_ms;
}

void sesscache_notify(struct sesscache *c, const char *payload)
{
	const char *user = payload + 2;

	c->notifies++;
	if (!payload[0] || payload[1] != ':') {
		sesscache_clear(c);
		return;
	}
	switch (payload[0]) {
	case 'u':
		/* And every session of the user is checked again, as for 's'. */
		sesscache_forget_refused(c);
		c->rights[sesscache_bucket(user)]++;
		break;
	case 's':
		c->rights[sesscache_bucket(user)]++;
		break;
	case 'r':
		c->rooms[sesscache_bucket(user)]++;
		break;
	case 'g':
		c->rooms_all++;
		break;
	default:
		sesscache_clear(c);
	}
}

void sesscache_rooms_version(const struct sesscache *c, const char *user_id, char *buf, size_t len)
{
	/* '#' never appears in the versions built by SQL before 0025. */
	snprintf(buf, len, "%s#%u.%u", user_id, (unsigned)c->rooms_all,
		 (unsigned)c->rooms[sesscache_bucket(user_id)]);
}
