/* setup.h -- the REST set-up of a run over libcurl: users (POST /api/join) and rooms (POST /api/rooms). */
#ifndef BENCH_SETUP_H
#define BENCH_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Initialises libcurl once per process; returns 0 or -1. */
int setup_init(void) __attribute__((warn_unused_result));

/*
 * Joins one user named `name` (into room_id when not NULL) and copies its
 * id and token into the buffers. Returns 0, or -1 with a message in err.
 */
int setup_user(const char *base, const char *name, const char *room_id, char id[BENCH_ID_LEN],
	       char token[BENCH_TOKEN_LEN], char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Creates rooms named "<prefix>-<i>" for i < pl->nrooms with the given
 * token and fills pl->room_id. Returns 0, or -1 with a message in err.
 */
int setup_rooms(const char *base, const char *token, const char *prefix, struct bench_plan *pl,
		long concurrency, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Joins users named "<prefix>_<i>" for i < pl->nusers, user i into room
 * pl->room_id[pl->user_room[i]], and fills pl->user_id and pl->user_token.
 * Returns 0, or -1 with a message in err.
 */
int setup_users(const char *base, const char *prefix, struct bench_plan *pl, long concurrency,
		char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
