/* conn.h -- the set of Engine.IO sessions: their limits, bounded output, close and end.
 *
 * The bottom layer of the bridge, with its two transports (websocket.c,
 * polling.c) and the lws protocol that drives them (endpoint.c). It
 * reports upward only through the conn_ops given to conn_setup(). */
#ifndef CHAT_CONN_H
#define CHAT_CONN_H

#include <libwebsockets.h>
#include <stdint.h>

#include "cfg.h"
#include "frame.h"
#include "hmap.h"
#include "tok.h"

enum conn_state {
	CONN_OPEN = 0, /* Engine.IO open sent, no Socket.IO CONNECT yet */
	CONN_AUTHING,  /* CONNECT received, session lookup in flight */
	CONN_READY,    /* authenticated */
	CONN_CLOSING,  /* close requested: flush, then close */
};

enum conn_transport {
	CONN_POLLING, /* HTTP long-polling: a held GET takes what is queued */
	CONN_WEBSOCKET,
};

/*
 * One Engine.IO session. It outlives the HTTP requests of a polling
 * session and moves to a WebSocket on upgrade; the lws connections that
 * carry it point at it, and it points back at them. It holds transport
 * state only: what the layers above keep (the user, the subscriptions,
 * the rate) hangs from up.
 */
/* Slots (seconds) of the sweep's timer wheel: a session due later is visited after 63 s. */
#define CONN_WHEEL 64

struct conn {
	struct conn_set *cs;
	uint64_t id;
	char key[24]; /* id as text: presence conn_id, map key */
	char sid[48]; /* Engine.IO / Socket.IO session id */
	enum conn_state state;
	enum conn_transport transport;
	struct lws *ws;       /* the WebSocket carrying the session */
	struct lws *probe;    /* a WebSocket upgrading a polling session */
	struct lws *poll;     /* the held long-poll GET */
	int probe_pong;       /* "3probe" is owed on the probe */
	int poll_noop;        /* answer the held GET with a noop only */
	int64_t last_poll_ms; /* polling: when a request last came */
	struct outq q;
	char *rx; /* WebSocket message being reassembled */
	size_t rx_len, rx_cap;
	int rx_discard;          /* reading away a message past the limit */
	char token[TOK_LEN + 1]; /* from the cookie or ?token=, may be empty */
	char addr[48];           /* client address key (addr.h): X-Real-IP, IPv6 /64 */
	int unauth;              /* counted in unauth_by_addr (not READY yet) */
	void *up;                /* the layer above's state of this session, owned by it */
	uint16_t close_code;
	char close_reason[48];
	struct conn *prev, *next; /* every live session of the process */
	/* On the set's flush list: a WebSocket with frames to write at once. */
	struct conn *flush_prev, *flush_next;
	int flush_listed;
	/* In the sweep's wheel (conn_due()): its slot's list, due_slot -1 when in none. */
	struct conn *due_prev, *due_next;
	int due_slot;
};

struct conn_ops {
	/* The Engine.IO open packet of a new session (a new reference), or NULL when out of memory. */
	struct frame *(*open_packet)(void *arg, const struct conn *c);
	/* How long a polling GET may be held waiting for data, in seconds. */
	int (*poll_hold_s)(void *arg);
	/* A session began (the open packet is queued). */
	void (*on_open)(void *arg, struct conn *c);
	/* One whole Engine.IO packet arrived (buf[0..len), not NUL-terminated). */
	void (*on_message)(void *arg, struct conn *c, char *buf, size_t len);
	/* The session is over; c is freed after this returns. */
	void (*on_close)(void *arg, struct conn *c);
	/* Who the session is, for logs: its user id, "" when unknown. May be NULL. */
	const char *(*who)(void *arg, const struct conn *c);
	/*
	 * The bridge's own pages (GET /metrics, /healthz) for the client at
	 * addr: returns the HTTP status with *body (malloc'd, the caller
	 * frees it; NULL when out of memory) and *type set, or 0 when uri is
	 * none of them.
	 */
	int (*page)(void *arg, const char *uri, const char *addr, char **body, const char **type);
	void *arg;
};

/* Process-wide connection bookkeeping, owned by main. */
struct conn_set {
	const struct cfg *cfg;
	struct conn_ops ops;
	struct conn *head; /* list of live sessions */
	unsigned count;
	struct hmap by_sid;         /* sid -> session */
	struct hmap by_addr;        /* client address -> sessions (as uintptr_t) */
	struct hmap unauth_by_addr; /* client address -> sessions not READY yet */
	uint64_t next_id;
	int refusing; /* shutting down: refuse new connections */
	/* WebSockets whose queue went from empty to not: conn_flush() writes them. */
	struct conn *flush_head;
	/* conn_flush()'s sends in one submission (wsring.h); NULL: a send() each. */
	struct wsring *ring;
	/*
	 * The sweep's timer wheel: one slot per second, each session in the
	 * slot of the second it is next due (conn_due()), so a sweep visits
	 * only the sessions due, not every session every second.
	 */
	struct conn *wheel[CONN_WHEEL];
	struct conn *sweeping; /* the slot conn_due_each() is visiting */
	int64_t wheel_s;       /* the last second swept; 0 before the first sweep */
	/* Counters since start, for the metrics page. */
	unsigned long long opened, refused, slow_closed, frames_out, bytes_out;
	/* WebSocket sends, and those that had to wait for the socket (write first). */
	unsigned long long ws_sends, ws_send_waits;
	/* Of ws_sends, those made through the ring, and the submissions that carried them. */
	unsigned long long ws_ring_sends, ws_ring_submits;
	unsigned long long polls, posts, upgrades;
};

/*
 * Prepares the set; the lws context's user data must point at it
 * (endpoint.h).
 */
void conn_setup(struct conn_set *cs, const struct cfg *cfg, const struct conn_ops *ops);

void conn_teardown(struct conn_set *cs);

/*
 * Queues f (a new reference is taken). A WebSocket session goes on the
 * flush list, written by the next conn_flush() without waiting for the
 * socket to be writable; a polling session's held GET is woken. A client
 * whose queue is full is being too slow: it is closed (1008) and -1
 * returned. Frames for a closing connection are dropped (returns -1).
 */
int conn_send(struct conn *c, struct frame *f);

/*
 * Has what c queued written as conn_send() does: a WebSocket goes on the
 * flush list, a polling session's held GET is woken.
 */
void conn_wake(struct conn *c);

/*
 * Has the sweep (conn_due_each()) visit c in the second of at_ms, not
 * earlier than the second after now_ms's, not later than 63 s from it. A
 * new session is due in the second after it opened.
 */
void conn_due(struct conn *c, int64_t at_ms, int64_t now_ms);

/*
 * Takes each session due by now_ms off the wheel and calls fn(arg, c): fn
 * puts it back (conn_due()) or ends it, and frees no other session. The
 * seconds since the last call are swept, at most CONN_WHEEL of them.
 */
void conn_due_each(struct conn_set *cs, int64_t now_ms, void (*fn)(void *arg, struct conn *c),
		   void *arg);

/*
 * Writes first: every WebSocket on the flush list gets what is queued for
 * it, coalesced, in one send where its socket has room; only a socket that
 * did not take it all waits for a writable callback (websocket.h). With
 * CHAT_WS_IO_URING the sends of up to WSRING_MAX sessions go to the kernel
 * in one system call (wsring.h), else each is a send() of its own. Called
 * once per event-loop iteration, before the loop sleeps (main.c), so the
 * frames of one iteration (a batch of notifications) go out together.
 */
void conn_flush(struct conn_set *cs);

/*
 * The session authenticated (Socket.IO CONNECT succeeded): it is READY and
 * no longer counts against CHAT_WS_MAX_UNAUTH_PER_ADDR.
 */
void conn_ready(struct conn *c);

/*
 * Writes a new session id to out: prefix, then 20 characters of base64url
 * from 15 bytes of RAND_bytes(). Returns 0, or -1 (out is "") when there
 * are no random bytes or out is too small: the session must be refused,
 * never given a predictable id.
 */
int conn_new_sid(const char *prefix, char *out, size_t outlen) __attribute__((warn_unused_result));

/*
 * Ends the session after what is queued: a WebSocket gets a close frame
 * with code and reason, a polling client the close packet.
 */
void conn_close(struct conn *c, uint16_t code, const char *reason);

/*
 * Ends every session still open (the process is exiting): the layer above
 * hears of each, and their lws connections are let go. Call it before the
 * layer above and the lws context are released.
 */
void conn_end_all(struct conn_set *cs);

/*
 * For the transports: whether a new session from addr must be refused
 * (shutting down, CHAT_WS_MAX_CONN, or a per-address limit). Counts and
 * logs the refusal.
 */
int conn_full(struct conn_set *cs, const char *addr);

/*
 * For the transports: starts a session carried by wsi (its token is read
 * from the request) from client address addr (the key conn_full() was
 * asked about, req_client_addr()); the open packet is its first
 * queued frame and the layer above hears of it (on_open). Returns NULL
 * when there is no memory or no session id.
 */
struct conn *conn_open(struct conn_set *cs, enum conn_transport t, struct lws *wsi,
		       const char *addr);

/*
 * Ends the session now, without a close: the layer above hears of it
 * (on_close), c is freed and its lws connections are let go. Not from
 * inside the layer above's on_message or on_open.
 */
void conn_end(struct conn *c);

/* Milliseconds of a monotonic clock. */
int64_t conn_now_ms(void);

#endif
