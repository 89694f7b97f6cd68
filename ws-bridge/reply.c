/* reply.c -- answers to a client: a frame, an event's ack, or an `error` event. */
#include "reply.h"

#include "bridge.h"
#include "sio.h"

void reply_frame(struct conn *c, struct frame *f)
{
	if (!f) {
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
		return;
	}
	conn_send(c, f);
	frame_unref(f);
}

void reply_fail(struct conn *c, long long ack_id, enum err_code code, const char *message)
{
	struct bridge *b = c->cs->ops.arg;

	if ((unsigned)code < ERR__COUNT)
		b->stats.errors[code]++;
	if (ack_id >= 0)
		reply_frame(c, sio_ack_error(ack_id, err_name(code), message));
	else
		reply_frame(c, sio_error_event(err_name(code), message));
}

void reply_ok(struct conn *c, long long ack_id, const char *obj, size_t len)
{
	if (ack_id >= 0)
		reply_frame(c, sio_ack_ok(ack_id, obj, len));
}
