/* frame.c -- reference-counted outgoing WebSocket frames and per-connection queues. */
#include "frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct frame *frame_alloc(size_t len)
{
	struct frame *f = malloc(sizeof(*f) + LWS_PRE + len + 1);

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	f->data[LWS_PRE + len] = '\0';
	return f;
}

struct frame *frame_from(const char *s, size_t len)
{
	struct frame *f = frame_alloc(len);

	if (f)
		memcpy(frame_payload(f), s, len);
	return f;
}

size_t ws_text_header(unsigned char *out, size_t len)
{
	out[0] = 0x81; /* FIN, opcode 1 (text) */
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

void frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

void outq_init(struct outq *q, unsigned max_frames, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max_frames = max_frames;
	q->max_bytes = max_bytes;
}

void outq_release(struct outq *q)
{
	while (q->count)
		outq_pop(q);
	free(q->ring);
	q->ring = NULL;
	q->cap = 0;
}

static int outq_grow(struct outq *q)
{
	unsigned ncap = q->cap ? q->cap * 2 : 4;
	struct frame **n;

	if (ncap > q->max_frames)
		ncap = q->max_frames;
	if (ncap <= q->cap)
		return -1;
	n = malloc(ncap * sizeof(*n));
	if (!n)
		return -1;
	for (unsigned i = 0; i < q->count; i++)
		n[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = n;
	q->head = 0;
	q->cap = ncap;
	return 0;
}

int outq_push(struct outq *q, struct frame *f)
{
	if (q->count >= q->max_frames || q->bytes + f->len > q->max_bytes)
		return -1;
	if (q->count == q->cap && outq_grow(q))
		return -1;
	q->ring[(q->head + q->count) % q->cap] = frame_ref(f);
	q->count++;
	q->bytes += f->len;
	return 0;
}

struct frame *outq_peek(const struct outq *q)
{
	return q->count ? q->ring[q->head] : NULL;
}

struct frame *outq_at(const struct outq *q, unsigned i)
{
	return i < q->count ? q->ring[(q->head + i) % q->cap] : NULL;
}

void outq_pop(struct outq *q)
{
	struct frame *f;

	if (!q->count)
		return;
	f = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->count--;
	q->bytes -= f->len;
	frame_unref(f);
	/* An idle connection should not keep the ring a burst grew. */
	if (q->count == 0 && q->cap > 16) {
		free(q->ring);
		q->ring = NULL;
		q->cap = 0;
		q->head = 0;
	}
}
