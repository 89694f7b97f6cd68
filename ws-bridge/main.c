/* main.c -- chat-ws: the Socket.IO bridge between WebSocket clients and PostgreSQL. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bridge.h"
#include "cfg.h"
#include "conn.h"
#include "log.h"
#include "pgloop.h"

#define STOP_GRACE_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
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

static void lws_log_to_ours(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && line[n - 1] == '\n')
		n--;
	log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARN, "lws: %.*s", (int)n, line);
}

int main(void)
{
	static const struct lws_protocols protocols[] = {
		/* First: socket.io-client names no subprotocol, so lws binds protocols[0]. */
		/*
		 * rx_buffer_size: lws gives every WebSocket a receive buffer of
		 * this size. Client packets are small and longer ones arrive in
		 * pieces that conn.c reassembles, so 1 KB instead of 4 KB keeps
		 * an idle connection's memory down.
		 */
		{ CONN_PROTOCOL, conn_callback, sizeof(struct conn_wsi), 1024, 0, NULL, 0 },
		{ PGLOOP_PROTOCOL, pgloop_callback, 0, 0, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct conn_set conns;
	struct conn_ops ops;
	struct bridge bridge;
	struct sigaction sa;
	struct cfg cfg;
	char err[256];
	int64_t stop_deadline = 0;
	int rc = 0;

	if (cfg_load(&cfg, err, sizeof(err))) {
		fprintf(stderr, "chat-ws: %s\n", err);
		return 2;
	}
	log_init("ws", cfg.log_level);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
	raise_nofile(cfg.ws_max_conn + 1024);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	bridge_conn_ops(&bridge, &ops);
	if (conn_setup(&conns, &cfg, &ops)) {
		log_err("out of memory");
		return 1;
	}
	memset(&info, 0, sizeof(info));
	info.protocols = protocols;
	info.user = &conns;
	info.pt_serv_buf_size = 32 * 1024;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg.ws_listen[0]) {
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
		info.iface = cfg.ws_listen;
		info.port = 0;
	} else {
		info.iface = "127.0.0.1";
		info.port = (int)cfg.ws_port;
	}
	/* info.extensions stays NULL: permessage-deflate is declined. */
	info.timeout_secs = 20;
	info.fd_limit_per_thread = (unsigned)(cfg.ws_max_conn + 1024);
	ctx = lws_create_context(&info);
	if (!ctx) {
		log_err("cannot start the WebSocket server on %s:%ld",
			cfg.ws_listen[0] ? cfg.ws_listen : "127.0.0.1", cfg.ws_port);
		conn_teardown(&conns);
		return 1;
	}
	if (bridge_init(&bridge, &cfg, ctx, lws_get_vhost_by_name(ctx, "default"), &conns)) {
		log_err("cannot start the bridge");
		lws_context_destroy(ctx);
		conn_teardown(&conns);
		return 1;
	}
	if (cfg.ws_listen[0])
		log_info("listening on %s", cfg.ws_listen);
	else
		log_info("listening on 127.0.0.1:%ld", cfg.ws_port);
	for (;;) {
		if (lws_service(ctx, 0) < 0) {
			rc = 1;
			break;
		}
		if (stop_requested && !bridge.stopping) {
			bridge_stop(&bridge);
			stop_deadline = conn_now_ms() + STOP_GRACE_MS;
		}
		if (bridge.stopping && (bridge_stopped(&bridge) || conn_now_ms() > stop_deadline))
			break;
	}
	log_info("stopped with %u connections left", conns.count);
	bridge_release(&bridge);
	lws_context_destroy(ctx);
	conn_teardown(&conns);
	return rc;
}
