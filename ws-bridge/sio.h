/* sio.h -- Engine.IO v4 / Socket.IO v5 packet codec (text packets only). */
#ifndef CHAT_SIO_H
#define CHAT_SIO_H

#include <stddef.h>

#include "frame.h"

/* Engine.IO packet types, as their ASCII digit. */
enum sio_eio {
	SIO_EIO_OPEN = '0',
	SIO_EIO_CLOSE = '1',
	SIO_EIO_PING = '2',
	SIO_EIO_PONG = '3',
	SIO_EIO_MESSAGE = '4',
	SIO_EIO_UPGRADE = '5',
	SIO_EIO_NOOP = '6',
};

/* Socket.IO packet types. */
enum sio_type {
	SIO_CONNECT = 0,
	SIO_DISCONNECT = 1,
	SIO_EVENT = 2,
	SIO_ACK = 3,
	SIO_CONNECT_ERROR = 4,
	SIO_BINARY_EVENT = 5,
	SIO_BINARY_ACK = 6,
};

/* The largest ack id accepted: what a JavaScript number holds exactly. */
#define SIO_MAX_ACK_ID 9007199254740991LL

/* A parsed packet; the pointers point into the parsed buffer. */
struct sio_packet {
	enum sio_eio eio;
	int type;        /* enum sio_type for SIO_EIO_MESSAGE, else -1 */
	const char *nsp; /* namespace, "/" when absent */
	size_t nsp_len;
	long long ack_id; /* -1 when absent */
	const char *data; /* the rest: JSON for Socket.IO, text otherwise */
	size_t data_len;
};

/*
 * Parses one Engine.IO text packet and, for a message, the Socket.IO
 * packet inside it. Returns 0, or -1 for anything malformed (unknown
 * types, a bad namespace or ack id, binary attachment headers that do not
 * parse). Binary packets parse (type 5/6) so the caller can refuse them
 * clearly; their payload is not interpreted.
 */
int sio_parse(const char *buf, size_t len, struct sio_packet *p)
	__attribute__((warn_unused_result));

/* Returns nonzero when the packet names the main namespace "/". */
int sio_is_main_nsp(const struct sio_packet *p);

/*
 * Frame builders. Each returns a new frame with one reference, or NULL when
 * out of memory. JSON arguments are trusted JSON text, copied verbatim.
 */
/* 42["name",json] */
struct frame *sio_event(const char *name, const char *json, size_t json_len);
/* 43<id>[json] */
struct frame *sio_ack(long long ack_id, const char *json, size_t json_len);
/* 43<id>[{"ok":true,<members of obj>}]: obj is a JSON object text, spliced. */
struct frame *sio_ack_ok(long long ack_id, const char *obj, size_t obj_len);
/* 40{"sid":"..."} */
struct frame *sio_connect_ok(const char *sid);
/* 44[<nsp>,]{"message":code,"data":{"code":code,"message":message}} */
struct frame *sio_connect_error(const char *nsp, size_t nsp_len, const char *code,
				const char *message);
/* 0{"sid":...,"upgrades":[...],"pingInterval":..,"pingTimeout":..,"maxPayload":..};
 * a polling session is offered the upgrade to "websocket". */
struct frame *sio_open(const char *sid, int can_upgrade, long ping_interval_ms,
		       long ping_timeout_ms, long max_payload);

/*
 * Builds {"ok":false,"error":{"code":code,"message":message}} (as the ack
 * of a failed event) or {"code","message"} (as the error event) into a
 * frame. Strings are escaped. NULL when out of memory.
 */
struct frame *sio_ack_error(long long ack_id, const char *code, const char *message);
struct frame *sio_error_event(const char *code, const char *message);

#endif
