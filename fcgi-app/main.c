/* main.c -- chat-fcgi: the REST API as a FastCGI responder (one of a spawn-fcgi pool). */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "check.h"
#include "cli.h"
#include "fcgiout.h"
#include "listener.h"
#include "log.h"
#include "logsink.h"
#include "metrics.h"
#include "pool.h"
#include "pwslot.h"

static volatile sig_atomic_t stop_requested;
/* SIGHUP: the second signal flag, for the pool master (pool_run). */
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	reload_requested = 1;
}

/*
 * SIGTERM, SIGINT and SIGUSR1 (multiwatch's default) stop a worker after
 * its request, SIGHUP reloads the pool. All of them stay blocked but while
 * the program waits (pool.h), so the handlers need no SA_RESTART.
 */
static void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_reload;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	pool_signals_block();
}

/*
 * Accepts the next request: 0, or -1 when the worker must stop. It waits
 * with signals let in (pool_accept_wait) and accepts on the non-blocking
 * socket, so a connection another worker took first costs one EAGAIN.
 * While it waits it also reads what the database connection says (the
 * chat_fcgi notifications: api_db_input), so that an idle worker keeps up
 * with them and never holds PostgreSQL's notification queue back.
 */
static int serve_accept(struct api *api, FCGX_Request *req)
{
	for (;;) {
		int rc, db_ready;

		if (stop_requested)
			return -1;
		if (reload_requested) {
			reload_requested = 0;
			log_info("SIGHUP ignored: a worker has nothing to reload "
				 "(send it to the pool master, docs/operations.md)");
		}
		rc = pool_accept_wait(0, api_db_fd(api), &db_ready);
		if (rc < 0)
			return -1;
		if (db_ready)
			api_db_input(api);
		if (rc != 1)
			continue;
		rc = FCGX_Accept_r(req);
		if (rc >= 0)
			return 0;
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			return -1;
	}
}

struct serve_ctx {
	const struct cfg *cfg;
	struct metrics *metrics;
	const struct pwslot *slots;
};

/* One worker: accept and answer requests until asked to stop. */
static int serve(void *arg, const struct pool_worker *w)
{
	const struct serve_ctx *sc = arg;
	struct pool_worker me = w ? *w : (struct pool_worker){ 0, -1 };
	int slot = me.slot;
	struct api api;
	FCGX_Request req;

	(void)slot;
	if (sc->cfg->fcgi_sched_batch)
		(void)pool_sched_batch(); /* a worker under the default policy still serves */
	if (api_init(&api, sc->cfg, sc->metrics, sc->slots))
		return 1;
	if (FCGX_InitRequest(&req, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0 || pool_listen_nonblock(0)) {
		log_err("cannot initialize the request");
		api_release(&api);
		return 1;
	}
	log_info("worker ready");
	pool_worker_ready(&me);
	while (serve_accept(&api, &req) == 0) {
		/* An answer written whole (fcgiout.h) already ended the request:
		 * finishing it would write the end again. */
		if (api_handle(&api, &req))
			fcgiout_release(&req);
		else
			FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	api_release(&api);
	log_info("worker stopped");
	return 0;
}

/*
 * Under spawn-fcgi -F stderr is /dev/null: the log goes to syslog instead
 * (CHAT_SYSLOG_SOCKET, /dev/log: journald on a systemd host).
 */
static void log_route(const struct cfg *cfg)
{
	if (logsink_syslog_if_lost(cfg->syslog_socket, "chat-fcgi") > 0)
		log_info("stderr is /dev/null (spawn-fcgi -F?): logging to syslog on %s",
			 cfg->syslog_socket);
}

/*
 * The password-hash slots of the whole pool. Our pool master makes a
 * private semaphore its workers inherit; workers that nobody of ours forks
 * (spawn-fcgi -F, multiwatch) meet on one named after their socket.
 */
static int slots_open(struct pwslot *slots, long n, const struct cfg *cfg)
{
	char name[160];

	if (cfg->fcgi_workers > 0 || pool_socket_name(0, name, sizeof(name)))
		return pwslot_open(slots, n);
	if (pwslot_open_named(slots, n, name))
		return -1;
	log_info(
		"password hashes: at most %ld at once for the workers of %s (semaphore key 0x%08x)",
		slots->slots, name, (unsigned)pwslot_key(name));
	return 0;
}

static const char fcgi_about[] =
	"The chat REST API (/api/*), a FastCGI responder: it accepts on the listening\n"
	"socket it is given as fd 0 by spawn-fcgi, multiwatch or a systemd socket unit.\n";

/* Before serving: a FastCGI socket on fd 0, and a schema that is not behind. */
static int fcgi_preflight(const struct cfg *cfg)
{
	char why[128];

	if (listener_check(0, why, sizeof(why))) {
		log_err("no FastCGI socket on standard input (fd 0 is %s): start chat-fcgi under "
			"spawn-fcgi, multiwatch or a systemd socket unit (docs/deploy.md), or try "
			"'chat-fcgi --check' or '--help'",
			why);
		return -1;
	}
	return check_schema_at_start("chat-fcgi", cfg);
}

/* The counters every worker on this socket shares (metrics.h). NULL when none can be mapped. */
static struct metrics *fcgi_metrics_open(const struct cfg *cfg)
{
	char path[256];
	struct metrics *m = metrics_open(cfg->fcgi_metrics_file, path, sizeof(path));

	if (!m)
		log_err("cannot map the metrics counters");
	else if (path[0])
		log_info("metrics shared through '%s'", path);
	else
		log_warn("metrics are this process's own: set CHAT_FCGI_METRICS_FILE to share them "
			 "with workers started by spawn-fcgi -F or multiwatch");
	return m;
}

int main(int argc, char **argv)
{
	struct cli cli = { "chat-fcgi", fcgi_about, CLI_RUN };
	struct pool_flags flags = { &stop_requested, &reload_requested };
	struct cfg cfg;
	struct serve_ctx sc;
	struct pwslot slots;
	long nslots;
	int rc;

	rc = cli_start(&cli, argc, argv, &cfg);
	if (rc >= 0)
		return rc;
	rc = 0;
	log_init("fcgi", cfg.log_level);
	log_route(&cfg);
	if (fcgi_preflight(&cfg))
		return CLI_EXIT_USAGE;
	if (FCGX_Init() != 0) {
		log_err("cannot initialize libfcgi");
		return 1;
	}
	signals_install();

	/* Password hashes at once, for the whole pool: one per CPU unless set. */
	nslots = cfg.pwhash_max_concurrent ? cfg.pwhash_max_concurrent
					   : sysconf(_SC_NPROCESSORS_ONLN);
	if (slots_open(&slots, nslots, &cfg))
		return 1;
	sc.cfg = &cfg;
	sc.slots = &slots;
	sc.metrics = fcgi_metrics_open(&cfg);
	if (!sc.metrics) {
		pwslot_close(&slots);
		return 1;
	}
	if (cfg.fcgi_workers == 0) {
		rc = serve(&sc, NULL);
	} else if (pool_run((int)cfg.fcgi_workers, 10, &flags, serve, &sc, &sc.metrics->restarts)) {
		log_err("cannot start any worker");
		rc = 1;
	}
	metrics_close(sc.metrics);
	pwslot_close(&slots);
	return rc;
}
