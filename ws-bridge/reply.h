/* reply.h -- answers to a client: a frame, an event's ack, or an `error` event. */
#ifndef CHAT_REPLY_H
#define CHAT_REPLY_H

#include <stddef.h>

#include "conn.h"
#include "err.h"
#include "frame.h"

/*
 * Sends f and drops the caller's reference. A NULL f means it could not
 * be built (out of memory): the connection is closed instead.
 */
void reply_frame(struct conn *c, struct frame *f);

/*
 * Answers a failed event: as its ack (ack_id >= 0), or as an `error`
 * event without one. Counts the code on the metrics page.
 */
void reply_fail(struct conn *c, long long ack_id, enum err_code code, const char *message);

/* Answers a successful event with {"ok":true, ...obj}; nothing without an ack. */
void reply_ok(struct conn *c, long long ack_id, const char *obj, size_t len);

/* The one text of ERR_DB_UNAVAILABLE, for every event and CONNECT. */
#define REPLY_DB_UNAVAILABLE "the database is unavailable, try again"

#endif
