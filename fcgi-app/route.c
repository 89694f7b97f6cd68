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
#define ROUTE_MEMBERS "/members"

/* The resources below one room: PREFIX{id}SUFFIX. */
static const struct {
	const char *prefix, *suffix;
	enum route_id id;
} route_subs[] = {
	{ ROUTE_ROOMS_PREFIX, "/read", ROUTE_ROOM_READ },
	{ ROUTE_ROOMS_PREFIX, "/reads", ROUTE_ROOM_READS },
	{ ROUTE_MESSAGES_PREFIX, "/search", ROUTE_SEARCH },
};

/*
 * /api/rooms/{id}/members and /api/rooms/{id}/members/{user_id}: returns
 * the route (m filled) or ROUTE_NONE.
 */
static enum route_id route_members(const char *path, struct route_match *m)
{
	const char *id = path + sizeof(ROUTE_ROOMS_PREFIX) - 1, *slash, *rest;

	if (strncmp(path, ROUTE_ROOMS_PREFIX, sizeof(ROUTE_ROOMS_PREFIX) - 1) != 0)
		return ROUTE_NONE;
	slash = strchr(id, '/');
	if (!slash || slash == id || strncmp(slash, ROUTE_MEMBERS, sizeof(ROUTE_MEMBERS) - 1) != 0)
		return ROUTE_NONE;
	rest = slash + sizeof(ROUTE_MEMBERS) - 1;
	m->param = id;
	m->param_len = (size_t)(slash - id);
	if (*rest == '\0') {
		m->id = ROUTE_ROOM_MEMBERS;
		return m->id;
	}
	if (*rest != '/' || rest[1] == '\0' || strchr(rest + 1, '/'))
		return ROUTE_NONE;
	m->param2 = rest + 1;
	m->param2_len = strlen(rest + 1);
	m->id = ROUTE_ROOM_MEMBER;
	return m->id;
}

/* The route_subs resources: returns the route (m filled) or ROUTE_NONE. */
static enum route_id route_sub(const char *path, struct route_match *m)
{
	for (size_t i = 0; i < sizeof(route_subs) / sizeof(route_subs[0]); i++) {
		size_t n = strlen(route_subs[i].prefix);
		const char *id = path + n, *slash;

		if (strncmp(path, route_subs[i].prefix, n) != 0)
			continue;
		slash = strchr(id, '/');
		if (!slash || slash == id || strcmp(slash, route_subs[i].suffix) != 0)
			continue;
		m->param = id;
		m->param_len = (size_t)(slash - id);
		m->id = route_subs[i].id;
		return m->id;
	}
	return ROUTE_NONE;
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
	if (route_members(path, m) != ROUTE_NONE || route_sub(path, m) != ROUTE_NONE)
		return m->id;
	m->param = NULL;
	m->param_len = 0;
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
