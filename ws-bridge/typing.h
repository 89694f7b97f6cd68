/* typing.h -- a subscription's typing state, told to its room through the database, coalesced. */
#ifndef CHAT_TYPING_H
#define CHAT_TYPING_H

#include <stdint.h>

#include "conn.h"
#include "room.h"

struct bridge;

/*
 * The subscription ends (a leave, a removal, a close): when the room was
 * told its user is typing, tells it, through the database so that every
 * bridge hears it, that they stopped. A failure is not answered.
 */
void typing_stop(struct bridge *b, struct sub *s);

/*
 * Tells the room the subscription's typing state when it changed since it
 * was last told, at most once per TYPING_GAP_MS: a change within that
 * waits for the sweep, and toggles meanwhile fold into the last state.
 * from_client: the client's own typing event (ack_id), queued in its
 * user's share and answered. Returns 1 when a change went out (ack_id
 * answered by it), 0 when the caller answers.
 */
int typing_flush(struct bridge *b, struct sub *s, long long ack_id, int from_client);

/*
 * The sweep: expires the typing of c's subscriptions and sends what waited.
 * Returns 1 while one of them types or was last told to its room as typing
 * (the sweep comes back in a second), 0 otherwise.
 */
int typing_sweep(struct bridge *b, struct conn *c, int64_t now_ms);

#endif
