/* wsframe.h -- WebSocket client framing for chat-bench: read in bulk, scan the server's frames in place, build masked ones.
 *
 * ws_rx_read() takes up to a whole socket buffer in one read() into a
 * buffer the caller shares between its connections, puts the unfinished
 * frame of the previous read in front, and hands the bytes to the
 * caller's consume function, which scans the whole frames with
 * ws_scan_frame() (no copy: the payload points into the buffer) and says
 * how many bytes it used; the rest is kept for the next read. */
#ifndef BENCH_WSFRAME_H
#define BENCH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* The most header bytes a frame can have (2 + 8 of length + 4 of mask). */
#define WS_HDR_MAX 14

/* One frame the server sent: payload points into the scanned buffer. */
struct ws_frame {
	unsigned fin;
	unsigned opcode;
	const unsigned char *payload;
	size_t len;
};

enum ws_scan { WS_SCAN_ERROR = -1, WS_SCAN_MORE = 0, WS_SCAN_FRAME = 1 };

/*
 * Looks at the frame that starts at buf[0] with avail bytes at hand.
 * Returns WS_SCAN_FRAME with *f filled and *used = header + payload size;
 * WS_SCAN_MORE when the frame is not all there yet (*used is then the
 * whole frame's size when the header is complete, else 0: read more and
 * call again with the same start); WS_SCAN_ERROR with *why set when the
 * bytes break RFC 6455 for a server frame: reserved bits (no extension
 * is negotiated), a masked frame, an unknown opcode, a fragmented or
 * over-125-byte control frame, a 64-bit length with the top bit set, or a
 * payload over max_payload.
 */
int ws_scan_frame(const unsigned char *buf, size_t avail, uint64_t max_payload, struct ws_frame *f,
		  size_t *used, const char **why) __attribute__((warn_unused_result));

/*
 * Writes one final, masked client frame of the given opcode and payload
 * to out, which must hold WS_HDR_MAX + len bytes; mask is the 4-byte
 * masking key. Returns the number of bytes written.
 */
size_t ws_build_frame(unsigned char *out, unsigned opcode, const void *payload, size_t len,
		      uint32_t mask);

/* A growable byte buffer; zero-initialised is empty. */
struct ws_buf {
	unsigned char *p;
	size_t len, cap;
};

/* Makes room for n more bytes after b->len; returns 0 or -1 when out of memory. */
int ws_buf_reserve(struct ws_buf *b, size_t n) __attribute__((warn_unused_result));

/* Frees b's memory and leaves it empty. */
void ws_buf_free(struct ws_buf *b);

/*
 * Handles the bytes at buf[0, n): sets *used to how many it took (the
 * rest is an unfinished frame, kept for the next read). Returns 0, or -1
 * when the connection was closed meanwhile (stop reading).
 */
typedef int (*ws_consume_fn)(void *ctx, const unsigned char *buf, size_t n, size_t *used);

enum ws_rx {
	WS_RX_ERROR = -1,  /* read() failed: errno says why */
	WS_RX_AGAIN = 0,   /* nothing more to read now */
	WS_RX_STOPPED = 1, /* consume returned -1 */
	WS_RX_EOF = 2,     /* the server closed the connection between frames */
	WS_RX_EOF_MID = 3, /* the server closed it in the middle of a frame */
	WS_RX_NOMEM = 4,
};

/*
 * Reads from fd, at most `chunk` bytes per read() into *rbuf (grown as
 * needed, shared by every connection of the caller), with carry's bytes
 * in front, and calls consume on them; keeps what consume left in carry.
 * Reads again only after a read that filled the chunk, at most `rounds`
 * times, so that one busy connection cannot starve the others. Returns
 * the enum ws_rx.
 */
int ws_rx_read(int fd, struct ws_buf *rbuf, struct ws_buf *carry, size_t chunk, unsigned rounds,
	       ws_consume_fn consume, void *ctx) __attribute__((warn_unused_result));

#endif
