/* range.h -- reads back, page by page, the messages a room or one subscriber missed. */
#ifndef CHAT_RANGE_H
#define CHAT_RANGE_H

#include <stdint.h>

#include "room.h"

/*
 * The room layer's need_range callback (struct room_ops, arg: the bridge):
 * reads messages (after, upto] of room r, for subscription s or, when s
 * is NULL, for the whole room, then calls room_fill/room_fill_done.
 */
void range_need(void *arg, struct room *r, struct sub *s, uint64_t after, uint64_t upto);

#endif
