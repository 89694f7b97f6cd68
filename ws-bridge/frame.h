/* frame.h -- reference-counted outgoing WebSocket frames and per-connection queues. */
#ifndef CHAT_FRAME_H
#define CHAT_FRAME_H

#include <libwebsockets.h>
#include <stddef.h>

/*
 * One serialized frame. A broadcast is built once and the same frame is
 * queued to every recipient; the last unref frees it. The payload starts
 * LWS_PRE bytes into data, the headroom lws_write() needs.
 */
struct frame {
	unsigned refs;
	size_t len;
	unsigned char data[];
};

/* The longest header of a server-to-client WebSocket frame (RFC 6455 5.2). */
#define WS_HEADER_MAX 10

/*
 * Writes the header of one unmasked, final text frame carrying len payload
 * bytes into out (WS_HEADER_MAX bytes of room) and returns its length: 2, 4
 * or 10. Only the batched writer uses it (conn.c): several queued frames
 * go out in one send, which lws_write() cannot do for text frames. Every
 * other frame, and all parsing, is left to libwebsockets.
 */
size_t ws_text_header(unsigned char *out, size_t len);

/* Returns a frame with room for len payload bytes and one reference, or NULL. */
struct frame *frame_alloc(size_t len);

/* Returns a frame holding a copy of s[0..len), or NULL when out of memory. */
struct frame *frame_from(const char *s, size_t len);

static inline char *frame_payload(struct frame *f)
{
	return (char *)f->data + LWS_PRE;
}

static inline struct frame *frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}

/* Drops one reference; frees the frame with the last. NULL is ignored. */
void frame_unref(struct frame *f);

/*
 * A bounded FIFO of frames for one connection. It grows on demand up to
 * max_frames entries and max_bytes payload bytes; past either bound a push
 * fails and the caller drops the client (it is not reading).
 */
struct outq {
	struct frame **ring;
	unsigned head, count, cap;
	unsigned max_frames;
	size_t bytes, max_bytes;
};

void outq_init(struct outq *q, unsigned max_frames, size_t max_bytes);

/* Releases every queued frame and the ring. */
void outq_release(struct outq *q);

/*
 * Queues f, taking a new reference. Returns 0, or -1 when a bound would be
 * passed or memory is short (nothing is queued then).
 */
int outq_push(struct outq *q, struct frame *f) __attribute__((warn_unused_result));

/* Returns the oldest frame (still queued) or NULL. */
struct frame *outq_peek(const struct outq *q);

/* Returns the i-th oldest frame (0 = outq_peek()), still queued, or NULL. */
struct frame *outq_at(const struct outq *q, unsigned i);

/* Removes the oldest frame and drops the queue's reference to it. */
void outq_pop(struct outq *q);

#endif
