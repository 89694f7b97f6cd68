/* cfg.h -- configuration from environment variables with sane defaults. */
#ifndef CHAT_CFG_H
#define CHAT_CFG_H

#include <stddef.h>

#include "allow.h"

/*
 * Every limit of the service. Filled once at start-up by cfg_load() and
 * passed down by pointer; nothing reads the environment after that.
 * The variable of each field is named in cfg.c and in the README table.
 */
struct cfg {
	const char *database_url;       /* DATABASE_URL, a libpq conninfo or URI */
	const char *database_read_url;  /* CHAT_DATABASE_READ_URL: a standby for reads, "" = off */
	const char *allowed_origins;    /* CHAT_ALLOWED_ORIGINS, comma-separated */
	const char *log_level;          /* CHAT_LOG_LEVEL: debug, info, warn, error */
	const char *db_plans;           /* CHAT_DB_PLANS: generic, auto or custom */
	const char *syslog_socket;      /* CHAT_SYSLOG_SOCKET: log here if stderr is /dev/null */
	const char *jwt_secret;         /* CHAT_JWT_SECRET: HS256 key of site tokens, "" = off */
	const char *metrics_allow_list; /* CHAT_METRICS_ALLOW: who may GET the metrics */
	struct allow metrics_allow;     /* ... parsed */
	const char *fcgi_metrics_file;  /* CHAT_FCGI_METRICS_FILE: the workers' shared counters */
	long port;                      /* CHAT_PORT */
	long max_body;                  /* CHAT_MAX_BODY: request body bytes */
	long username_max;              /* CHAT_USERNAME_MAX: characters */
	long room_name_max;             /* CHAT_ROOM_NAME_MAX: characters */
	long description_max;           /* CHAT_DESCRIPTION_MAX: characters */
	long message_max;               /* CHAT_MESSAGE_MAX: characters */
	long client_id_max;             /* CHAT_CLIENT_ID_MAX: characters */
	long msg_rate;                  /* CHAT_MSG_RATE: messages per window, 0 = off */
	long msg_rate_window;           /* CHAT_MSG_RATE_WINDOW: seconds */
	long join_rate;                 /* CHAT_JOIN_RATE: new names per window per address */
	long join_rate_window;          /* CHAT_JOIN_RATE_WINDOW: seconds */
	long room_create_rate;      /* CHAT_ROOM_CREATE_RATE: rooms per window per user, 0 = off */
	long room_create_window;    /* CHAT_ROOM_CREATE_WINDOW: seconds */
	long session_ttl;           /* CHAT_SESSION_TTL: idle seconds */
	long cookie_secure;         /* CHAT_COOKIE_SECURE: 1 adds Secure */
	long presence_ttl;          /* CHAT_PRESENCE_TTL: heartbeat expiry seconds */
	long rooms_cache_ms;        /* CHAT_ROOMS_CACHE_MS: GET /api/rooms reuse, 0 = off */
	long session_cache_ms;      /* CHAT_SESSION_CACHE_MS: a session check's reuse, 0 = off */
	long db_timeout;            /* CHAT_DB_TIMEOUT: connect and statement seconds */
	long fcgi_workers;          /* CHAT_FCGI_WORKERS: 0 serves in-process */
	long fcgi_sched_batch;      /* CHAT_FCGI_SCHED_BATCH: workers run SCHED_BATCH */
	long pwhash_opslimit;       /* CHAT_PWHASH_OPSLIMIT: Argon2id passes */
	long pwhash_memlimit;       /* CHAT_PWHASH_MEMLIMIT: bytes per hash */
	long pwhash_max_concurrent; /* CHAT_PWHASH_MAX_CONCURRENT: hashes at once, 0 = one per CPU */
	long pwhash_wait_ms;        /* CHAT_PWHASH_WAIT_MS: wait for a hashing slot, then 503 */
	long login_user_rate;       /* CHAT_LOGIN_USER_RATE: failed sign-ins per window per name */
	long login_user_window;     /* CHAT_LOGIN_USER_WINDOW: seconds */
	long login_addr_rate;   /* CHAT_LOGIN_ADDR_RATE: failed sign-ins per window per address */
	long login_addr_window; /* CHAT_LOGIN_ADDR_WINDOW: seconds */
	/* The WebSocket bridge (chat-ws). */
	const char *ws_listen;       /* CHAT_WS_LISTEN: a unix socket path, or "" for TCP */
	const char *bridge_id;       /* CHAT_BRIDGE_ID: presence key, "" = host:pid */
	const char *ws_sid_prefix;   /* CHAT_WS_SID_PREFIX: starts every session id (routing) */
	long ws_port;                /* CHAT_WS_PORT: TCP port on 127.0.0.1 */
	long ws_max_conn;            /* CHAT_WS_MAX_CONN: connections per process */
	long ws_libev;               /* CHAT_WS_LIBEV: 1 = libev (epoll) loop, 0 = lws's poll() */
	long ws_io_uring;            /* CHAT_WS_IO_URING: 1 = sends through io_uring */
	long ws_max_conn_per_addr;   /* CHAT_WS_MAX_CONN_PER_ADDR: per client address, 0 = off */
	long ws_max_unauth_per_addr; /* CHAT_WS_MAX_UNAUTH_PER_ADDR: not yet authenticated, 0 = off */
	long ws_queue_frames;        /* CHAT_WS_QUEUE_FRAMES: per-connection output bound */
	long ws_queue_bytes;         /* CHAT_WS_QUEUE_BYTES: per-connection output bound */
	long ws_max_payload;         /* CHAT_WS_MAX_PAYLOAD: bytes of one incoming message */
	long ws_ping_interval;       /* CHAT_WS_PING_INTERVAL: milliseconds */
	long ws_ping_timeout;        /* CHAT_WS_PING_TIMEOUT: milliseconds */
	long ws_auth_timeout;        /* CHAT_WS_AUTH_TIMEOUT: ms to complete CONNECT */
	long ws_event_rate;          /* CHAT_WS_EVENT_RATE: events per window per connection */
	long ws_event_window;        /* CHAT_WS_EVENT_WINDOW: seconds */
	long ws_max_rooms;           /* CHAT_WS_MAX_ROOMS: rooms joined per connection */
	long ws_grace;        /* CHAT_WS_GRACE: ms before a closed connection counts offline */
	long ws_recovery_max; /* CHAT_WS_RECOVERY_MAX: messages join_room recovers */
	long typing_ttl;      /* CHAT_TYPING_TTL: ms until typing expires */
};

/*
 * PostgreSQL refuses a NOTIFY payload of 8000 bytes or more, and
 * room_created carries the whole room. Its name and description take at
 * most 4 bytes of UTF-8 (or of JSON escape, "\n" or "\"") per character;
 * the rest of the event is 346 bytes at most (measured with the longest
 * ids and counts), CFG_ROOM_EVENT_FIXED leaves room for a few more fields.
 * cfg_load refuses CHAT_ROOM_NAME_MAX + CHAT_DESCRIPTION_MAX above
 * CFG_ROOM_TEXT_MAX characters.
 */
#define CFG_NOTIFY_MAX 7999

/* Who may scrape the metrics unless CHAT_METRICS_ALLOW says otherwise. */
#define CFG_METRICS_ALLOW "127.0.0.0/8,::1"
#define CFG_ROOM_EVENT_FIXED 512
#define CFG_ROOM_TEXT_MAX ((CFG_NOTIFY_MAX - CFG_ROOM_EVENT_FIXED) / 4)

/*
 * Fills *c with defaults, then overrides them from the environment.
 * Returns 0, or -1 with a message naming the variable in err (which is
 * always NUL-terminated) when a value is malformed or out of range.
 * The strings point into the environment or static storage.
 */
int cfg_load(struct cfg *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Returns nonzero when origin[0..olen) is an entry of list, the
 * comma-separated CHAT_ALLOWED_ORIGINS (entries trimmed of spaces,
 * compared without regard to case). The bridge's WebSocket and polling
 * checks and the REST API's CORS answers both ask this.
 */
int cfg_origin_listed(const char *list, const char *origin, size_t olen);

/*
 * Parses a whole decimal integer within [min, max]. Returns 0 and sets
 * *out, or -1 for anything else: empty, sign only, trailing bytes,
 * overflow, out of range. *out is untouched on failure.
 */
int cfg_parse_long(const char *s, long min, long max, long *out)
	__attribute__((warn_unused_result));

#endif
