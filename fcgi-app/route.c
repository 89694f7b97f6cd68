/* route.c -- maps a request path to an API resource. */
#include "route.h"

#include <string.h>

static const struct {
	const char *prefix; /* whole path, or the part before {id} */
	int has_param;
	enum route_id id;
} route_table[] = {
	{ "/api/health", 0, ROUTE_HEALTH },   { "/api/join", 0, ROUTE_JOIN },
	{ "/api/session", 0, ROUTE_SESSION }, { "/api/me", 0, ROUTE_ME },
	{ "/api/metrics", 0, ROUTE_METRICS }, { "/api/rooms", 0, ROUTE_ROOMS },
	{ "/api/rooms/", 1, ROUTE_ROOM },     { "/api/messages/", 1, ROUTE_MESSAGES },
	{ "/api/users/", 1, ROUTE_USERS },    { "/api/register", 0, ROUTE_REGISTER },
	{ "/api/login", 0, ROUTE_LOGIN },     { "/api/me/password", 0, ROUTE_ME_PASSWORD },
	{ "/api/dm", 0, ROUTE_DM },
};

#define ROUTE_ROOMS_PREFIX "/api/rooms/"
#define ROUTE_MESSAGES_PREFIX "/api/messages/"
#define ROUTE_CHANGES_SUFFIX "/changes"

/*
 * The resources below one room, PREFIX{id}MID and PREFIX{id}MID/{id2}
 * (route_nested), tried in this order: the fixed names before the
 * message id, which matches any second segment.
 */
static const struct {
	const char *prefix, *mid;
	enum route_id one, two;
} route_nests[] = {
	{ ROUTE_ROOMS_PREFIX, "/members", ROUTE_ROOM_MEMBERS, ROUTE_ROOM_MEMBER },
	{ ROUTE_ROOMS_PREFIX, "/read", ROUTE_ROOM_READ, ROUTE_NONE },
	{ ROUTE_ROOMS_PREFIX, "/reads", ROUTE_ROOM_READS, ROUTE_NONE },
	{ ROUTE_MESSAGES_PREFIX, "/search", ROUTE_SEARCH, ROUTE_NONE },
	{ ROUTE_MESSAGES_PREFIX, ROUTE_CHANGES_SUFFIX, ROUTE_CHANGES, ROUTE_NONE },
	{ ROUTE_MESSAGES_PREFIX, "", ROUTE_NONE, ROUTE_MESSAGE },
};

/*
 * prefix{id}mid and prefix{id}mid/{id2}: returns one or two (m filled), or
 * ROUTE_NONE. With one (or two) ROUTE_NONE only the other form matches.
 */
static enum route_id route_nested(const char *path, const char *prefix, const char *mid,
				  enum route_id one, enum route_id two, struct route_match *m)
{
	size_t plen = strlen(prefix), mlen = strlen(mid);
	const char *id = path + plen, *slash, *rest;

	if (strncmp(path, prefix, plen) != 0)
		return ROUTE_NONE;
	slash = strchr(id, '/');
	if (!slash || slash == id || strncmp(slash, mid, mlen) != 0)
		return ROUTE_NONE;
	rest = slash + mlen;
	if (*rest == '\0') {
		if (one == ROUTE_NONE)
			return ROUTE_NONE;
		m->param = id;
		m->param_len = (size_t)(slash - id);
		m->id = one;
		return m->id;
	}
	if (two == ROUTE_NONE || *rest != '/' || rest[1] == '\0' || strchr(rest + 1, '/'))
		return ROUTE_NONE;
	m->param = id;
	m->param_len = (size_t)(slash - id);
	m->param2 = rest + 1;
	m->param2_len = strlen(rest + 1);
	m->id = two;
	return m->id;
}

enum route_id route_find(const char *path, struct route_match *m)
{
	m->id = ROUTE_NONE;
	m->param = NULL;
	m->param_len = 0;
	m->param2 = NULL;
	m->param2_len = 0;
	if (!path)
		return ROUTE_NONE;
	for (size_t i = 0; i < sizeof(route_nests) / sizeof(route_nests[0]); i++)
		if (route_nested(path, route_nests[i].prefix, route_nests[i].mid,
				 route_nests[i].one, route_nests[i].two, m) != ROUTE_NONE)
			return m->id;
	for (size_t i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++) {
		size_t n = strlen(route_table[i].prefix);

		if (strncmp(path, route_table[i].prefix, n) != 0)
			continue;
		if (!route_table[i].has_param) {
			if (path[n] != '\0')
				continue;
		} else {
			const char *p = path + n;
			size_t len = strlen(p);

			if (len == 0 || memchr(p, '/', len))
				continue;
			m->param = p;
			m->param_len = len;
		}
		m->id = route_table[i].id;
		return m->id;
	}
	return ROUTE_NONE;
}
