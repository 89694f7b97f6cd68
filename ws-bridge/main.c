/* main.c -- chat-ws: the Socket.IO bridge between WebSocket clients and PostgreSQL. */
#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bridge.h"
#include "cfg.h"
#include "check.h"
#include "cli.h"
#include "conn.h"
#include "endpoint.h"
#include "log.h"
#include "pgloop.h"
#include "websocket.h"

#define STOP_GRACE_MS 5000
#define STOP_CHECK_US (50 * LWS_US_PER_MS) /* how often the libev loop looks at the flag */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * SIGHUP does not stop the bridge (its default would, and Restart=on-failure
 * does not count a signal death as a failure). Nothing can be reloaded in
 * place: the configuration is read at start and the log is stderr, whoever
 * holds it. So it is logged and ignored; a new configuration or binary comes
 * with a restart, one bridge at a time (docs/operations.md).
 */
static volatile sig_atomic_t hup_seen;

static void on_hup(int sig)
{
	(void)sig;
	hup_seen = 1;
}

static void hup_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
}

static void hup_check(void)
{
	if (hup_seen) {
		hup_seen = 0;
		log_info("SIGHUP ignored: nothing to reload in place; restart the bridge to "
			 "apply a new configuration (docs/operations.md)");
	}
}

/* Each connection takes a descriptor (two behind nginx on the same host). */
static void raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if ((rlim_t)want > rl.rlim_cur) {
		rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_warn("cannot raise the descriptor limit to %ld", want);
	}
}

/*
 * The event loop. lws's own loop calls poll() over every descriptor on each
 * wake-up, which at tens of thousands of idle connections costs more than
 * the heartbeats it serves; with the libev plugin (libwebsockets-evlib-ev)
 * lws runs on our libev loop, on epoll. Without the plugin chat-ws falls
 * back to poll().
 */
struct run {
	struct bridge *bridge;
	struct conn_set *conns;
	ev_prepare flush; /* writes first (conn_flush()) before the loop sleeps */
	struct lws_context *ctx;
	struct ev_loop *loop; /* NULL: lws's poll() loop */
	lws_sorted_usec_list_t sul;
	int64_t stop_deadline;
};

/* Starts the bridge's stop after SIGTERM/SIGINT; nonzero once it may exit. */
static int run_stop_check(struct run *r)
{
	hup_check();
	if (stop_requested && !r->bridge->stopping) {
		bridge_stop(r->bridge);
		r->stop_deadline = conn_now_ms() + STOP_GRACE_MS;
	}
	return r->bridge->stopping &&
		(bridge_stopped(r->bridge) || conn_now_ms() > r->stop_deadline);
}

static void run_tick(lws_sorted_usec_list_t *sul)
{
	struct run *r = lws_container_of(sul, struct run, sul);

	if (run_stop_check(r)) {
		ev_break(r->loop, EVBREAK_ALL);
		return;
	}
	lws_sul_schedule(r->ctx, 0, &r->sul, run_tick, STOP_CHECK_US);
}

/*
 * Before the loop waits: every WebSocket given frames in this iteration is
 * written now, each with one send where its socket has room (conn.h).
 */
static void run_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct run *r = (struct run *)((char *)w - offsetof(struct run, flush));

	(void)loop;
	(void)revents;
	conn_flush(r->conns);
}

/* Runs until the bridge has stopped; returns the exit status. */
static int run_loop(struct run *r)
{
	if (r->loop) {
		ev_prepare_init(&r->flush, run_flush);
		ev_prepare_start(r->loop, &r->flush);
		lws_sul_schedule(r->ctx, 0, &r->sul, run_tick, STOP_CHECK_US);
		ev_run(r->loop, 0);
		lws_sul_cancel(&r->sul);
		ev_prepare_stop(r->loop, &r->flush);
		return 0;
	}
	for (;;) {
		conn_flush(r->conns);
		if (lws_service(r->ctx, 0) < 0)
			return 1;
		if (run_stop_check(r))
			return 0;
	}
}

static void lws_log_to_ours(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && line[n - 1] == '\n')
		n--;
	log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARN, "lws: %.*s", (int)n, line);
}

/* The endpoint's protocols, kept by lws for the life of the context. */
static const struct lws_protocols protocols[] = {
	/* First: socket.io-client names no subprotocol, so lws binds protocols[0]. */
	/*
	 * rx_buffer_size: lws gives every WebSocket a receive buffer of
	 * this size. Client packets are small and longer ones arrive in
	 * pieces that websocket.c reassembles, so 1 KB instead of 4 KB keeps
	 * an idle connection's memory down.
	 */
	/*
	 * tx_packet_size: lws cuts each send at this (at rx_buffer_size
	 * when 0): a whole batch of frames (websocket.h) leaves in one.
	 */
	{ ENDPOINT_PROTOCOL, endpoint_callback, sizeof(struct conn_wsi), 1024, 0, NULL,
	  CONN_BATCH_MAX },
	{ PGLOOP_PROTOCOL, pgloop_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Everything main sets up: made by app_start(), let go by app_end(). */
struct app {
	struct cfg cfg;
	struct conn_set conns;
	struct bridge bridge;
	struct lws_context *ctx;
	struct run run;
};

static const char ws_about[] =
	"The chat real-time bridge: a Socket.IO v5 server (WebSocket and long-polling)\n"
	"on CHAT_WS_PORT (127.0.0.1) or CHAT_WS_LISTEN (a unix socket), fed by\n"
	"PostgreSQL's LISTEN/NOTIFY. GET /healthz and /metrics answer on the same port.\n";

/* Reads the command line and the configuration, starts the log, checks the
 * schema, raises the descriptor limit and sets the signals. Returns -1 to
 * go on, or the exit status. */
static int app_config(struct app *a, int argc, char **argv)
{
	struct cli cli = { "chat-ws", ws_about, CLI_RUN };
	struct sigaction sa;
	int rc = cli_start(&cli, argc, argv, &a->cfg);

	if (rc >= 0)
		return rc;
	log_init("ws", a->cfg.log_level);
	if (check_schema_at_start("chat-ws", &a->cfg))
		return CLI_EXIT_USAGE;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
	raise_nofile(a->cfg.ws_max_conn + 1024);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	hup_install();
	return -1;
}

/*
 * The socket is for nginx, a member of the service's group (docs/deploy.md,
 * as for chat-fcgi's socket): read and write for the group, whatever the
 * umask (the units' 0027 would leave 0750, and connecting needs write).
 * lws removes whatever file is at the path before it binds: a socket left
 * by a killed bridge is no obstacle, and two bridges must not share a path.
 */
static void socket_perms(const char *path)
{
	if (chmod(path, 0660))
		log_warn("cannot make %s mode 0660: %s", path, strerror(errno));
}

/* The lws context, on the libev loop when the plugin is there. NULL when it cannot start. */
static struct lws_context *app_context(struct app *a)
{
	static const lws_retry_bo_t no_validity = { NULL, 0, 0, 0, 0, 0 };
	const struct cfg *cfg = &a->cfg;
	struct lws_context_creation_info info;
	static void *foreign_loops[1];
	struct lws_context *ctx;

	memset(&info, 0, sizeof(info));
	info.protocols = protocols;
	info.user = &a->conns;
	info.pt_serv_buf_size = 32 * 1024;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->ws_listen[0]) {
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
		info.iface = cfg->ws_listen;
		info.port = 0;
	} else {
		info.iface = "127.0.0.1";
		info.port = (int)cfg->ws_port;
	}
	/* info.extensions stays NULL: permessage-deflate is declined. */
	/*
	 * No lws validity timers: the Engine.IO heartbeat (heartbeat.c) finds
	 * dead clients. lws's default policy gives every connection a timer
	 * that each received frame moves, and its timers sit in one sorted
	 * list: at 17k connections per bridge, 82% of an idle bridge's CPU
	 * went to that insertion (perf, 100k idle connections over 6 bridges).
	 */
	info.retry_and_idle_policy = &no_validity;
	info.timeout_secs = 20;
	info.fd_limit_per_thread = (unsigned)(cfg->ws_max_conn + 1024);
	a->run.loop = cfg->ws_libev ? ev_loop_new(EVFLAG_AUTO) : NULL;
	if (a->run.loop) {
		foreign_loops[0] = a->run.loop;
		info.foreign_loops = foreign_loops;
		info.options |= LWS_SERVER_OPTION_LIBEV;
	}
	ctx = lws_create_context(&info);
	if (!ctx && a->run.loop) {
		log_warn("cannot start on the libev loop (is libwebsockets-evlib-ev installed?), "
			 "trying lws's poll() loop");
		ev_loop_destroy(a->run.loop);
		a->run.loop = NULL;
		info.foreign_loops = NULL;
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
		ctx = lws_create_context(&info);
	}
	return ctx;
}

/* Sets up the connections, the lws context and the bridge. Returns 0, or 1 (all let go). */
static int app_start(struct app *a)
{
	const struct cfg *cfg = &a->cfg;
	struct conn_ops ops;

	memset(&a->run, 0, sizeof(a->run));
	bridge_conn_ops(&a->bridge, &ops);
	conn_setup(&a->conns, cfg, &ops);
	a->ctx = app_context(a);
	if (!a->ctx) {
		if (a->run.loop)
			ev_loop_destroy(a->run.loop);
		log_err("cannot start the WebSocket server on %s:%ld",
			cfg->ws_listen[0] ? cfg->ws_listen : "127.0.0.1", cfg->ws_port);
		conn_teardown(&a->conns);
		return 1;
	}
	if (bridge_init(&a->bridge, cfg, a->ctx, lws_get_vhost_by_name(a->ctx, "default"),
			&a->conns)) {
		log_err("cannot start the bridge");
		lws_context_destroy(a->ctx);
		if (a->run.loop)
			ev_loop_destroy(a->run.loop);
		conn_teardown(&a->conns);
		return 1;
	}
	if (cfg->ws_listen[0]) {
		socket_perms(cfg->ws_listen);
		log_info("listening on %s", cfg->ws_listen);
	} else
		log_info("listening on 127.0.0.1:%ld", cfg->ws_port);
	a->run.bridge = &a->bridge;
	a->run.conns = &a->conns;
	a->run.ctx = a->ctx;
	return 0;
}

/* Lets go of everything app_start() made. */
static void app_end(struct app *a)
{
	log_info("stopped with %u connections left", a->conns.count);
	/* Polling sessions that never came back for their close packet, and
	 * anything else the grace period left: freed while the bridge can
	 * still hear of them. */
	conn_end_all(&a->conns);
	bridge_release(&a->bridge);
	lws_context_destroy(a->ctx);
	if (a->run.loop)
		ev_loop_destroy(a->run.loop);
	conn_teardown(&a->conns);
}

int main(int argc, char **argv)
{
	static struct app app;
	int rc;

	rc = app_config(&app, argc, argv);
	if (rc >= 0)
		return rc;
	if (app_start(&app))
		return 1;
	rc = run_loop(&app.run);
	app_end(&app);
	return rc;
}
