/* route.h -- maps a request path to an API resource. */
#ifndef CHAT_ROUTE_H
#define CHAT_ROUTE_H

#include <stddef.h>

enum route_id {
	ROUTE_NONE = 0,
	ROUTE_HEALTH,       /* /api/health */
	ROUTE_JOIN,         /* /api/join */
	ROUTE_SESSION,      /* /api/session */
	ROUTE_ME,           /* /api/me */
	ROUTE_ROOMS,        /* /api/rooms */
	ROUTE_ROOM,         /* /api/rooms/{id} */
	ROUTE_MESSAGES,     /* /api/messages/{room_id} */
	ROUTE_USERS,        /* /api/users/{room_id} */
	ROUTE_METRICS,      /* /api/metrics (loopback only) */
	ROUTE_ROOM_MEMBERS, /* /api/rooms/{id}/members */
	ROUTE_ROOM_MEMBER,  /* /api/rooms/{id}/members/{user_id} */
	ROUTE_DM,           /* /api/dm */
	ROUTE_MESSAGE,      /* /api/messages/{room_id}/{id} */
	ROUTE_CHANGES,      /* /api/messages/{room_id}/changes */
	ROUTE_REGISTER,     /* /api/register */
	ROUTE_LOGIN,        /* /api/login */
	ROUTE_ME_PASSWORD,  /* /api/me/password */
	ROUTE_ROOM_READ,    /* /api/rooms/{id}/read */
	ROUTE_ROOM_READS,   /* /api/rooms/{id}/reads */
	ROUTE_SEARCH,       /* /api/messages/{room_id}/search */
};

struct route_match {
	enum route_id id;
	const char *param; /* the {id} segment inside the path, or NULL */
	size_t param_len;
	const char *param2; /* the {user_id} of ROUTE_ROOM_MEMBER, {id} of ROUTE_MESSAGE, or NULL */
	size_t param2_len;
};

/*
 * Matches path exactly against the resources above (a {id} or {user_id}
 * is one non-empty segment; its shape is checked by the handler). Returns the
 * route id, ROUTE_NONE for any other path; *m is always filled.
 */
enum route_id route_find(const char *path, struct route_match *m);

#endif
