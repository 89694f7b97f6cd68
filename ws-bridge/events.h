/* events.h -- the client events (join_room, leave_room, send_message, typing), one table. */
#ifndef CHAT_EVENTS_H
#define CHAT_EVENTS_H

#include "conn.h"
#include "sio.h"

struct bridge;

/*
 * Handles a Socket.IO EVENT packet of a READY connection whose rate the
 * session layer already took: parses ["name", {payload}], looks the name
 * up in the event table, validates the payload and queues the event's
 * statement. Every failure is answered (ack or `error` event).
 */
void events_dispatch(struct bridge *b, struct conn *c, const struct sio_packet *p);

#endif
