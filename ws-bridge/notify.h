/* notify.h -- the chat_events NOTIFY payloads, dispatched by type from one table. */
#ifndef CHAT_NOTIFY_H
#define CHAT_NOTIFY_H

#include <stddef.h>

/*
 * The database loop's on_notify callback (struct pgloop_ops, arg: the
 * bridge): parses a chat_events payload, records its lag and hands it to
 * the handler of its type. Unknown types are ignored; malformed payloads
 * logged.
 */
void notify_dispatch(void *arg, const char *payload, size_t len);

#endif
