/* sesscache.h -- a worker's recent session checks, invalidated by LISTEN.
 *
 * Checking a session in PostgreSQL is a round trip per request; most
 * requests come with a session the same worker checked a moment ago. A
 * worker remembers, per token hash, the session's user and expiry for at
 * most CHAT_SESSION_CACHE_MS, and forgets them at once when PostgreSQL
 * says that something changed: migration 0025 raises NOTIFY chat_fcgi
 * whenever a live session ends (logout, logout everywhere, a password
 * change, a ban, an account deleted) or a user's rights change (ban,
 * unban, site administrator), and whenever the caller's room list may
 * change (memberships, roles, read positions, rooms created, renamed or
 * deleted). The worker LISTENs on its own database connection and applies
 * the notifications before it serves the next request (sesscache_notify),
 * so a change reaches every worker within a poll of each; the time limit
 * is the safety net, and a new connection (whose LISTEN began after
 * notifications may have been lost) empties the cache.
 *
 * Notifications name users, not tokens: a user's change invalidates every
 * cached session of that user through a bucket counter (users share a
 * bucket; a shared one only costs a neighbour a re-check). Bounded:
 * SESSCACHE_SETS x SESSCACHE_WAYS sessions, the least recently checked of
 * a set is replaced. Refused tokens have their own, smaller cache, so that
 * many random tokens replace only each other, never a valid session; it
 * is emptied when a user is unbanned (a banned user's token was refused).
 */
#ifndef CHAT_SESSCACHE_H
#define CHAT_SESSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "tok.h"

#define SESSCACHE_WAYS 4
#define SESSCACHE_SETS 1024    /* 4096 sessions per worker */
#define SESSCACHE_NEG_SETS 256 /* 1024 refused tokens per worker */
#define SESSCACHE_BUCKETS 1024 /* user buckets of the invalidation counters */
#define SESSCACHE_KEY_MAX (2 + TOK_HASH_HEX_LEN + 1)
#define SESSCACHE_USER_MAX 64
/* The channel migration 0025 notifies on. */
#define SESSCACHE_CHANNEL "chat_fcgi"

struct sesscache_entry {
	char key[SESSCACHE_KEY_MAX]; /* the token hash literal; "" = empty */
	char user_id[SESSCACHE_USER_MAX];
	int64_t checked_ms; /* monotonic: when PostgreSQL last said yes */
	int64_t expires_s;  /* wall clock: the session's expiry then */
	uint32_t rights;    /* the user's bucket counter then */
};

struct sesscache_refused {
	char key[SESSCACHE_KEY_MAX];
	int64_t at_ms; /* monotonic: when PostgreSQL said no */
};

struct sesscache {
	long ttl_ms;                        /* 0: nothing is cached */
	struct sesscache_entry *pos;        /* SESSCACHE_SETS * SESSCACHE_WAYS */
	struct sesscache_refused *neg;      /* SESSCACHE_NEG_SETS * SESSCACHE_WAYS */
	uint32_t rights[SESSCACHE_BUCKETS]; /* bumped when a user's session or rights change */
	uint32_t rooms[SESSCACHE_BUCKETS];  /* bumped when a user's room list changes */
	uint32_t rooms_all;                 /* bumped when any room list changes */
	unsigned long hits, misses, refused_hits, evictions, notifies;
};

enum sesscache_result {
	SESSCACHE_MISS = 0, /* ask PostgreSQL */
	SESSCACHE_VALID,    /* *e is the session */
	SESSCACHE_REFUSED,  /* PostgreSQL refused this token a moment ago */
};

/* Prepares c (ttl_ms 0 turns it off). Returns 0, or -1 out of memory. */
int sesscache_init(struct sesscache *c, long ttl_ms) __attribute__((warn_unused_result));

/* Frees the tables; c may be initialized again. */
void sesscache_free(struct sesscache *c);

/* Forgets every session and refusal and invalidates every room list. */
void sesscache_clear(struct sesscache *c);

/*
 * Looks key (a token hash literal) up at monotonic now_ms and wall-clock
 * now_s. A session is valid while it is younger than the time limit, not
 * expired and its user's bucket has not moved; *e then points into c
 * until the next call that changes c.
 */
enum sesscache_result sesscache_get(struct sesscache *c, const char *key, int64_t now_ms,
				    int64_t now_s, const struct sesscache_entry **e);

/*
 * Remembers that PostgreSQL said yes to key for user_id, a session that
 * expires at expires_s. A key or user id too long is not remembered.
 */
void sesscache_put(struct sesscache *c, const char *key, const char *user_id, int64_t expires_s,
		   int64_t now_ms);

/* Remembers that PostgreSQL refused key. */
void sesscache_put_refused(struct sesscache *c, const char *key, int64_t now_ms);

/*
 * Applies one chat_fcgi notification: "s:<user id>" (a session of the
 * user ended), "u:<user id>" (the user's rights changed: also forgets
 * the refusals), "r:<user id>" (the user's room list changed), "g:" (any
 * room list changed). Anything else empties the cache: what cannot be
 * read cannot be trusted.
 */
void sesscache_notify(struct sesscache *c, const char *payload);

/*
 * Writes the rooms version of user_id into buf[0..len) (pagecache.h): the
 * user id and the counters a change of the user's room list moves.
 */
void sesscache_rooms_version(const struct sesscache *c, const char *user_id, char *buf, size_t len);

#endif
