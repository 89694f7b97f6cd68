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
};

enum route_id route_find(const char *path, struct route_match *m)
{
	m->id = ROUTE_NONE;
	m->param = NULL;
	m->param_len = 0;
	if (!path)
		return ROUTE_NONE;
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
