/* main.c -- chat-fcgi: the REST API as a FastCGI responder (one of a spawn-fcgi pool). */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "check.h"
#include "cli.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "pwslot.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct serve_ctx {
	const struct cfg *cfg;
	struct metrics *metrics;
	const struct pwslot *slots;
};

/* One worker: accept and answer requests until asked to stop. */
static int serve(void *arg, int slot)
{
	const struct serve_ctx *sc = arg;
	struct api api;
	FCGX_Request req;

	(void)slot;
	if (api_init(&api, sc->cfg, sc->metrics, sc->slots))
		return 1;
	if (FCGX_InitRequest(&req, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("cannot initialize the request");
		api_release(&api);
		return 1;
	}
	log_info("worker ready");
	while (!stop_requested) {
		if (FCGX_Accept_r(&req) < 0)
			break;
		api_handle(&api, &req);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	api_release(&api);
	log_info("worker stopped");
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
	struct sigaction sa;
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
	if (fcgi_preflight(&cfg))
		return CLI_EXIT_USAGE;
	if (FCGX_Init() != 0) {
		log_err("cannot initialize libfcgi");
		return 1;
	}
	/* No SA_RESTART: a blocked accept must return so the loop can end. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	/* Password hashes at once, for the whole pool: one per CPU unless set. */
	nslots = cfg.pwhash_max_concurrent ? cfg.pwhash_max_concurrent
					   : sysconf(_SC_NPROCESSORS_ONLN);
	if (pwslot_open(&slots, nslots))
		return 1;
	sc.cfg = &cfg;
	sc.slots = &slots;
	sc.metrics = fcgi_metrics_open(&cfg);
	if (!sc.metrics) {
		pwslot_close(&slots);
		return 1;
	}
	if (cfg.fcgi_workers == 0) {
		rc = serve(&sc, 0);
	} else if (pool_run((int)cfg.fcgi_workers, 10, &stop_requested, serve, &sc,
			    &sc.metrics->restarts)) {
		log_err("cannot start any worker");
		rc = 1;
	}
	metrics_close(sc.metrics);
	pwslot_close(&slots);
	return rc;
}
