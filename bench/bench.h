/* bench.h -- chat-bench: the run's configuration, its plan and the memory its processes share.
 *
 * The parent fills struct bench (options, then the plan and the users and
 * rooms the set-up created), maps struct shm, and forks the workers; the
 * workers read struct bench from their copy and write only their own
 * struct shm_proc. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

enum scenario {
	SC_DURABLE = 0, /* S senders, closed loop, acks/s and ack latency */
	SC_FANOUT,      /* C clients in one room, S senders: deliveries/s */
	SC_ROOMS,       /* R rooms x K clients, random senders at a total rate */
	SC_IDLE,        /* N idle connections: memory and CPU per connection */
	SC_WATCH,       /* no clients: server CPU and memory over a window (beside wrk) */
	SC_TOKEN,       /* prints the token of a new user (for wrk) */
	SC_COUNT
};

#define BENCH_MAX_PROCS 64
#define BENCH_MAX_SRC 64
#define BENCH_ID_LEN 64 /* user and room ids: UUIDs or short names */
#define BENCH_TOKEN_LEN 128
#define BENCH_ERR_KINDS 8

/* Command-line options; see opt_usage() in opts.c for their meaning. */
struct bench_opts {
	enum scenario scenario;
	const char *url; /* http://HOST:PORT */
	char host[64];   /* parsed from url */
	int port;
	int ws_port; /* --ws-port: WebSockets to this port of host (0: port) */
	const char *label;
	const char *stack_dir;  /* select the processes of this stack only */
	const char *pid_of[6];  /* "name=pid,pid" lists, NULL-terminated */
	const char *report;     /* --report FILE: print a table of a JSONL file */
	const char *token_room; /* --scenario token: room to join */
	double duration;        /* seconds measured */
	double warmup;          /* seconds before the window */
	double drain;           /* seconds to wait for outstanding acks/deliveries */
	double connect_timeout; /* seconds for every connection to settle */
	long senders;
	long inflight;
	long clients;
	double rate; /* messages/s in total, 0 = closed loop */
	long rooms;
	long per_room;
	long users;
	double ramp; /* connections opened per second, in total */
	long procs;
	long src_addrs; /* source addresses 127.0.0.2.. (0 = automatic) */
	long msg_size;
	long rest_concurrency;
	long connect_concurrency; /* handshakes in flight, in total */
	double batch_ms;          /* idle hold: sleep between service rounds */
	long dump;                /* print the first N packets connection 0 receives */
	double quiet_wait;        /* wait up to this long for the machine to calm down */
	double quiet_pct;         /* "calm": busy below this % of one core */
	int quiet;
};

/* Who connects as whom to which room, computed by the parent before forking. */
struct bench_plan {
	uint32_t nconns;
	uint32_t nusers;
	uint32_t nrooms;
	uint32_t nsenders;                   /* connections that may send */
	uint32_t *conn_user;                 /* [nconns] */
	uint32_t *user_room;                 /* [nusers]: the room each user is a member of */
	uint8_t *conn_sender;                /* [nconns]: 1 = sends */
	char (*room_id)[BENCH_ID_LEN];       /* [nrooms] */
	char (*user_id)[BENCH_ID_LEN];       /* [nusers] */
	char (*user_token)[BENCH_TOKEN_LEN]; /* [nusers] */
};

struct bench {
	struct bench_opts o;
	struct bench_plan plan;
	char run_id[8];
	char marker[16]; /* "bm<run_id> ": the start of every message we send */
	size_t marker_len;
	struct shm *shm;
	size_t shm_size;
};

/* Counters each worker keeps; the parent adds them up. "_W" = inside the window. */
enum ctr {
	CTR_OPENED,       /* connections attempted */
	CTR_READY,        /* connected, CONNECT accepted, room joined */
	CTR_CONNECT_FAIL, /* failed before ready (any reason) */
	CTR_REFUSED,      /* of which: CONNECT_ERROR (44) from the server */
	CTR_DISCONNECT,   /* closed after ready, before the end of the run */
	CTR_SENT,
	CTR_ACKED,    /* send_message acks with ok:true */
	CTR_ACK_ERR,  /* acks with ok:false */
	CTR_DELIV,    /* new_message events carrying our marker */
	CTR_EXPECTED, /* sum of room sizes over acked messages */
	CTR_SENT_W,
	CTR_ACKED_W,
	CTR_DELIV_W,
	CTR_SEQ_GAP,  /* seq numbers skipped on a connection */
	CTR_SEQ_DUP,  /* seq numbers seen again or out of order */
	CTR_OTHER_EV, /* events other than new_message */
	CTR_ERROR_EV, /* `error` events */
	CTR_PINGS,    /* Engine.IO pings answered */
	CTR_SKIPPED,  /* open-loop sends skipped: sender not ready, queue full or too late */
	CTR_FOREIGN,  /* new_message without our marker */
	CTR_COUNT
};

/* A short error text and how often it happened. */
struct err_kind {
	char what[96];
	uint64_t n;
};

/* One worker's results; only that worker writes it. */
struct shm_proc {
	uint64_t ctr[CTR_COUNT];
	uint64_t inflight; /* sends not yet acknowledged */
	int ready;         /* every connection settled (ready or failed) */
	int done;
	struct err_kind errs[BENCH_ERR_KINDS];
	struct hist ack;      /* send -> ack, µs */
	struct hist e2e;      /* send -> new_message, µs */
	struct hist connect;  /* connect start -> room joined, µs */
	struct hist lag;      /* open loop: schedule -> send, µs */
	struct hist ping_gap; /* between two Engine.IO pings on a connection, µs */
};

enum phase {
	PH_SETUP = 0, /* workers connect and join */
	PH_RUN,       /* send (or hold, when idle) */
	PH_DRAIN,     /* no new sends; outstanding ones settle */
	PH_CLOSE,     /* workers close everything and exit */
};

/* The shared mapping: control, then procs[], then room sizes. */
struct shm {
	int phase;          /* enum phase; __atomic accesses */
	int64_t t_run;      /* CLOCK_MONOTONIC ns: sending starts */
	int64_t t_m0, t_m1; /* the measured window */
	uint32_t nprocs, nrooms;
	struct shm_proc *procs; /* [nprocs], inside the mapping */
	uint32_t *room_local;   /* [nprocs * nrooms]: ready connections per room */
	uint32_t *room_total;   /* [nrooms]: set by the parent before PH_RUN */
};

/* Monotonic clock in nanoseconds (shared by every process of the machine). */
int64_t bench_now_ns(void);

/* Relaxed store of an incremented counter the parent may read meanwhile. */
static inline void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* Records an error text in a worker's table (the last slot takes overflow). */
void bench_err(struct shm_proc *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
