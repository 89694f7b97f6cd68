/* cfg.c -- configuration from environment variables with sane defaults. */
#include "cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwtauth.h"

int cfg_parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (!s || !*s)
		return -1;
	if (!(*s == '-' || (*s >= '0' && *s <= '9')))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return -1;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cfg_origin_listed(const char *list, const char *origin, size_t olen)
{
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		while (n && *list == ' ') {
			list++;
			n--;
		}
		while (n && list[n - 1] == ' ')
			n--;
		if (n && n == olen && strncasecmp(list, origin, n) == 0)
			return 1;
		if (!end)
			break;
		list = end + 1;
	}
	return 0;
}

struct cfg_long {
	const char *env;
	size_t offset;
	long def, min, max;
};

#define CFG_FIELD(f) offsetof(struct cfg, f)

static const struct cfg_long cfg_longs[] = {
	{ "CHAT_PORT", CFG_FIELD(port), 8080, 1, 65535 },
	{ "CHAT_MAX_BODY", CFG_FIELD(max_body), 65536, 1024, 16 * 1024 * 1024 },
	{ "CHAT_USERNAME_MAX", CFG_FIELD(username_max), 32, 1, 128 },
	{ "CHAT_ROOM_NAME_MAX", CFG_FIELD(room_name_max), 64, 1, 256 },
	{ "CHAT_DESCRIPTION_MAX", CFG_FIELD(description_max), 500, 0, 10000 },
	{ "CHAT_MESSAGE_MAX", CFG_FIELD(message_max), 4000, 1, 100000 },
	{ "CHAT_CLIENT_ID_MAX", CFG_FIELD(client_id_max), 64, 1, 256 },
	{ "CHAT_MSG_RATE", CFG_FIELD(msg_rate), 20, 0, 1000000000 },
	{ "CHAT_MSG_RATE_WINDOW", CFG_FIELD(msg_rate_window), 10, 1, 86400 },
	/* New names per address: a class or an office behind one NAT signs up
	 * at once (60), a name factory gets one a minute. Returning users are
	 * not counted (docs/security.md). */
	{ "CHAT_JOIN_RATE", CFG_FIELD(join_rate), 60, 0, 1000000000 },
	{ "CHAT_JOIN_RATE_WINDOW", CFG_FIELD(join_rate_window), 3600, 1, 86400 },
	/* Each room_created goes to every connection: keep creation human. */
	{ "CHAT_ROOM_CREATE_RATE", CFG_FIELD(room_create_rate), 5, 0, 1000000000 },
	{ "CHAT_ROOM_CREATE_WINDOW", CFG_FIELD(room_create_window), 60, 1, 86400 },
	{ "CHAT_SESSION_TTL", CFG_FIELD(session_ttl), 86400, 120, 365L * 86400 },
	{ "CHAT_COOKIE_SECURE", CFG_FIELD(cookie_secure), 0, 0, 1 },
	{ "CHAT_PRESENCE_TTL", CFG_FIELD(presence_ttl), 30, 2, 3600 },
	{ "CHAT_ROOMS_CACHE_MS", CFG_FIELD(rooms_cache_ms), 1000, 0, 60000 },
	/* The safety net of the workers' session caches: LISTEN invalidates
	 * them at once (fcgi-app/sesscache.h), this bounds a check's age. */
	{ "CHAT_SESSION_CACHE_MS", CFG_FIELD(session_cache_ms), 2000, 0, 60000 },
	{ "CHAT_DB_TIMEOUT", CFG_FIELD(db_timeout), 5, 1, 300 },
	{ "CHAT_FCGI_WORKERS", CFG_FIELD(fcgi_workers), 0, 0, 256 },
	/* A worker woken by nginx's connect waits for nginx to write the
	 * request instead of preempting it (fcgi-app/pool.h, pool_sched_batch). */
	{ "CHAT_FCGI_SCHED_BATCH", CFG_FIELD(fcgi_sched_batch), 1, 0, 1 },
	/* Argon2id's cost, measured in docs/security.md (bench/pwhash). */
	{ "CHAT_PWHASH_OPSLIMIT", CFG_FIELD(pwhash_opslimit), 3, 1, 32 },
	{ "CHAT_PWHASH_MEMLIMIT", CFG_FIELD(pwhash_memlimit), 32L << 20, 1L << 20, 4096L << 20 },
	{ "CHAT_PWHASH_MAX_CONCURRENT", CFG_FIELD(pwhash_max_concurrent), 0, 0, 256 },
	{ "CHAT_PWHASH_WAIT_MS", CFG_FIELD(pwhash_wait_ms), 250, 0, 10000 },
	/* Failed sign-ins (and password checks). The windows stay within the
	 * hour after which chat_housekeeping drops an idle bucket as full. */
	{ "CHAT_LOGIN_USER_RATE", CFG_FIELD(login_user_rate), 10, 0, 1000000000 },
	{ "CHAT_LOGIN_USER_WINDOW", CFG_FIELD(login_user_window), 900, 1, 3600 },
	{ "CHAT_LOGIN_ADDR_RATE", CFG_FIELD(login_addr_rate), 50, 0, 1000000000 },
	{ "CHAT_LOGIN_ADDR_WINDOW", CFG_FIELD(login_addr_window), 900, 1, 3600 },
	{ "CHAT_WS_PORT", CFG_FIELD(ws_port), 8081, 1, 65535 },
	{ "CHAT_WS_MAX_CONN", CFG_FIELD(ws_max_conn), 200000, 1, 10000000 },
	{ "CHAT_WS_LIBEV", CFG_FIELD(ws_libev), 1, 0, 1 },
	{ "CHAT_WS_IO_URING", CFG_FIELD(ws_io_uring), 1, 0, 1 },
	{ "CHAT_WS_MAX_CONN_PER_ADDR", CFG_FIELD(ws_max_conn_per_addr), 256, 0, 10000000 },
	{ "CHAT_WS_MAX_UNAUTH_PER_ADDR", CFG_FIELD(ws_max_unauth_per_addr), 32, 0, 10000000 },
	{ "CHAT_WS_QUEUE_FRAMES", CFG_FIELD(ws_queue_frames), 1000, 4, 1000000 },
	{ "CHAT_WS_QUEUE_BYTES", CFG_FIELD(ws_queue_bytes), 1048576, 65536, 1073741824 },
	{ "CHAT_WS_MAX_PAYLOAD", CFG_FIELD(ws_max_payload), 65536, 1024, 16777216 },
	{ "CHAT_WS_PING_INTERVAL", CFG_FIELD(ws_ping_interval), 25000, 100, 3600000 },
	{ "CHAT_WS_PING_TIMEOUT", CFG_FIELD(ws_ping_timeout), 20000, 100, 3600000 },
	{ "CHAT_WS_AUTH_TIMEOUT", CFG_FIELD(ws_auth_timeout), 20000, 100, 3600000 },
	{ "CHAT_WS_EVENT_RATE", CFG_FIELD(ws_event_rate), 100, 0, 1000000000 },
	{ "CHAT_WS_EVENT_WINDOW", CFG_FIELD(ws_event_window), 10, 1, 86400 },
	{ "CHAT_WS_MAX_ROOMS", CFG_FIELD(ws_max_rooms), 100, 1, 100000 },
	{ "CHAT_WS_GRACE", CFG_FIELD(ws_grace), 3000, 0, 60000 },
	{ "CHAT_WS_RECOVERY_MAX", CFG_FIELD(ws_recovery_max), 1000, 0, 100000 },
	{ "CHAT_TYPING_TTL", CFG_FIELD(typing_ttl), 5000, 100, 600000 },
};

static const char *cfg_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* Whether v is one of the n words of list. */
static int cfg_one_of(const char *v, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, list[i]) == 0)
			return 1;
	return 0;
}

int cfg_load(struct cfg *c, char *err, size_t errlen)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	static const char *const plans[] = { "generic", "auto", "custom" };
	size_t i;

	if (errlen)
		err[0] = '\0';
	c->database_url = cfg_env("DATABASE_URL", "dbname=chat");
	c->database_read_url = cfg_env("CHAT_DATABASE_READ_URL", "");
	c->allowed_origins = cfg_env("CHAT_ALLOWED_ORIGINS", "");
	c->log_level = cfg_env("CHAT_LOG_LEVEL", "info");
	c->db_plans = cfg_env("CHAT_DB_PLANS", "auto");
	c->syslog_socket = cfg_env("CHAT_SYSLOG_SOCKET", "/dev/log");
	c->jwt_secret = cfg_env("CHAT_JWT_SECRET", "");
	/* A short HMAC key can be guessed offline from one token: refuse to
	 * start rather than accept forgeable identities. The value is never
	 * printed. */
	if (*c->jwt_secret && strlen(c->jwt_secret) < JWTAUTH_SECRET_MIN) {
		snprintf(err, errlen, "CHAT_JWT_SECRET is too short: at least %d bytes",
			 JWTAUTH_SECRET_MIN);
		return -1;
	}
	c->metrics_allow_list = cfg_env("CHAT_METRICS_ALLOW", CFG_METRICS_ALLOW);
	if (allow_parse(&c->metrics_allow, c->metrics_allow_list, err, errlen)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "invalid CHAT_METRICS_ALLOW: %s", why);
		return -1;
	}
	c->fcgi_metrics_file = cfg_env("CHAT_FCGI_METRICS_FILE", "");
	c->ws_listen = cfg_env("CHAT_WS_LISTEN", "");
	c->bridge_id = cfg_env("CHAT_BRIDGE_ID", "");
	c->ws_sid_prefix = cfg_env("CHAT_WS_SID_PREFIX", "");
	if (strlen(c->ws_sid_prefix) > 16 ||
	    strspn(c->ws_sid_prefix,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
		    strlen(c->ws_sid_prefix)) {
		snprintf(err, errlen,
			 "invalid CHAT_WS_SID_PREFIX '%s': up to 16 of A-Z a-z 0-9 - _",
			 c->ws_sid_prefix);
		return -1;
	}
	if (!cfg_one_of(c->log_level, levels, sizeof(levels) / sizeof(levels[0]))) {
		snprintf(err, errlen,
			 "invalid CHAT_LOG_LEVEL '%s': expected debug, info, warn or error",
			 c->log_level);
		return -1;
	}
	if (!cfg_one_of(c->db_plans, plans, sizeof(plans) / sizeof(plans[0]))) {
		snprintf(err, errlen,
			 "invalid CHAT_DB_PLANS '%s': expected generic, auto or custom",
			 c->db_plans);
		return -1;
	}
	for (i = 0; i < sizeof(cfg_longs) / sizeof(cfg_longs[0]); i++) {
		const struct cfg_long *d = &cfg_longs[i];
		long *dst = (long *)(void *)((char *)c + d->offset);
		const char *v = getenv(d->env);

		*dst = d->def;
		if (!v || !*v)
			continue;
		if (cfg_parse_long(v, d->min, d->max, dst)) {
			snprintf(err, errlen,
				 "invalid %s '%s': expected an integer from %ld to %ld", d->env, v,
				 d->min, d->max);
			return -1;
		}
	}
	if (c->room_name_max + c->description_max > CFG_ROOM_TEXT_MAX) {
		snprintf(
			err, errlen,
			"CHAT_ROOM_NAME_MAX (%ld) + CHAT_DESCRIPTION_MAX (%ld) must be at most %d: "
			"room_created would pass PostgreSQL's 8000-byte NOTIFY limit",
			c->room_name_max, c->description_max, CFG_ROOM_TEXT_MAX);
		return -1;
	}
	return 0;
}
