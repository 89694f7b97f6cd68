/* plan.c -- who connects as whom to which room, for each scenario. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

void plan_free(struct bench_plan *pl)
{
	free(pl->conn_user);
	free(pl->user_room);
	free(pl->conn_sender);
	free(pl->room_id);
	free(pl->user_id);
	free(pl->user_token);
	memset(pl, 0, sizeof(*pl));
}

int plan_build(struct bench *b, char *err, size_t errlen)
{
	const struct bench_opts *o = &b->o;
	struct bench_plan *pl = &b->plan;
	uint32_t i;

	memset(pl, 0, sizeof(*pl));
	switch (o->scenario) {
	case SC_DURABLE:
		/* Every connection is its own user and sends; sender j writes to room j % R. */
		pl->nconns = pl->nusers = (uint32_t)o->senders;
		pl->nrooms = (uint32_t)o->rooms;
		break;
	case SC_FANOUT:
		/* Everybody in one room; the first S connections send. */
		pl->nconns = pl->nusers = (uint32_t)o->clients;
		pl->nrooms = 1;
		break;
	case SC_ROOMS:
		/* R x K connections, connection i in room i % R; anyone may be picked to send. */
		pl->nconns = pl->nusers = (uint32_t)(o->rooms * o->per_room);
		pl->nrooms = (uint32_t)o->rooms;
		break;
	case SC_IDLE:
		/*
		 * U users, K of them members of each room (so a join_room ack
		 * lists K members, not U); connection i is user i % U.
		 */
		pl->nconns = (uint32_t)o->clients;
		pl->nusers = (uint32_t)o->users;
		pl->nrooms = (uint32_t)((o->users + o->per_room - 1) / o->per_room);
		break;
	default:
		return 0;
	}
	pl->conn_user = calloc(pl->nconns, sizeof(*pl->conn_user));
	pl->conn_sender = calloc(pl->nconns, sizeof(*pl->conn_sender));
	pl->user_room = calloc(pl->nusers, sizeof(*pl->user_room));
	pl->room_id = calloc(pl->nrooms, sizeof(*pl->room_id));
	pl->user_id = calloc(pl->nusers, sizeof(*pl->user_id));
	pl->user_token = calloc(pl->nusers, sizeof(*pl->user_token));
	if (!pl->conn_user || !pl->conn_sender || !pl->user_room || !pl->room_id || !pl->user_id ||
	    !pl->user_token) {
		plan_free(pl);
		snprintf(err, errlen, "out of memory for the plan");
		return -1;
	}
	for (i = 0; i < pl->nusers; i++) {
		if (o->scenario == SC_IDLE)
			pl->user_room[i] = i / (uint32_t)o->per_room;
		else
			pl->user_room[i] = i % pl->nrooms;
	}
	for (i = 0; i < pl->nconns; i++) {
		pl->conn_user[i] = i % pl->nusers;
		switch (o->scenario) {
		case SC_DURABLE:
		case SC_ROOMS:
			pl->conn_sender[i] = 1;
			break;
		case SC_FANOUT:
			pl->conn_sender[i] = i < (uint32_t)o->senders;
			break;
		default:
			break;
		}
		pl->nsenders += pl->conn_sender[i];
	}
	return 0;
}
