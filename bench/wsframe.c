/* wsframe.c -- WebSocket client framing for chat-bench (RFC 6455 §5): bulk reads, in-place frame scanning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wsframe.h"

int ws_scan_frame(const unsigned char *buf, size_t avail, uint64_t max_payload, struct ws_frame *f,
		  size_t *used, const char **why)
{
	size_t hdr = 2;
	uint64_t len;
	unsigned op;

	*used = 0;
	if (avail < 2)
		return WS_SCAN_MORE;
	op = buf[0] & 0x0fu;
	if (buf[0] & 0x70u) {
		*why = "reserved bits set";
		return WS_SCAN_ERROR;
	}
	if (buf[1] & 0x80u) {
		*why = "masked frame from the server";
		return WS_SCAN_ERROR;
	}
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG) {
		*why = "unknown opcode";
		return WS_SCAN_ERROR;
	}
	len = buf[1] & 0x7fu;
	if (op >= WS_OP_CLOSE && (len > 125 || !(buf[0] & 0x80u))) {
		*why = "bad control frame";
		return WS_SCAN_ERROR;
	}
	if (len == 126) {
		hdr = 4;
		if (avail < hdr)
			return WS_SCAN_MORE;
		len = (uint64_t)buf[2] << 8 | buf[3];
	} else if (len == 127) {
		unsigned i;

		hdr = 10;
		if (avail < hdr)
			return WS_SCAN_MORE;
		if (buf[2] & 0x80u) {
			*why = "64-bit length with the top bit set";
			return WS_SCAN_ERROR;
		}
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | buf[i];
	}
	if (len > max_payload) {
		*why = "frame too large";
		return WS_SCAN_ERROR;
	}
	*used = hdr + (size_t)len;
	if (avail < *used)
		return WS_SCAN_MORE;
	f->fin = buf[0] >> 7;
	f->opcode = op;
	f->payload = buf + hdr;
	f->len = (size_t)len;
	return WS_SCAN_FRAME;
}

size_t ws_build_frame(unsigned char *out, unsigned opcode, const void *payload, size_t len,
		      uint32_t mask)
{
	const unsigned char *p = payload;
	unsigned char key[4];
	size_t h = 2, i;

	out[0] = (unsigned char)(0x80u | (opcode & 0x0fu));
	if (len < 126) {
		out[1] = (unsigned char)(0x80u | len);
	} else if (len <= 0xffff) {
		out[1] = 0x80u | 126u;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		h = 4;
	} else {
		out[1] = 0x80u | 127u;
		for (i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(key, &mask, 4);
	memcpy(out + h, key, 4);
	h += 4;
	for (i = 0; i < len; i++)
		out[h + i] = p[i] ^ key[i & 3];
	return h + len;
}

int ws_buf_reserve(struct ws_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	unsigned char *p;

	if (b->len + n <= b->cap)
		return 0;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

void ws_buf_free(struct ws_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int ws_rx_read(int fd, struct ws_buf *rbuf, struct ws_buf *carry, size_t chunk, unsigned rounds,
	       ws_consume_fn consume, void *ctx)
{
	while (rounds--) {
		size_t have = carry->len, n, used = 0;
		ssize_t r;

		rbuf->len = 0;
		if (ws_buf_reserve(rbuf, have + chunk))
			return WS_RX_NOMEM;
		if (have)
			memcpy(rbuf->p, carry->p, have);
		r = recv(fd, rbuf->p + have, chunk, 0);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? WS_RX_AGAIN : WS_RX_ERROR;
		if (!r)
			return have ? WS_RX_EOF_MID : WS_RX_EOF;
		n = have + (size_t)r;
		carry->len = 0;
		if (consume(ctx, rbuf->p, n, &used))
			return WS_RX_STOPPED;
		if (used < n) {
			if (ws_buf_reserve(carry, n - used))
				return WS_RX_NOMEM;
			memcpy(carry->p, rbuf->p + used, n - used);
			carry->len = n - used;
		} else if (carry->cap > 65536) {
			ws_buf_free(carry);
		}
		if ((size_t)r < chunk)
			return WS_RX_AGAIN;
	}
	return WS_RX_AGAIN;
}
