/* report.c -- the result of a run: one JSON line on stdout, a table on stderr; tables of JSONL files. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "opts.h"
#include "report.h"

void report_merge(struct result *r, const struct shm_proc *sp)
{
	int i, j;

	for (i = 0; i < CTR_COUNT; i++)
		r->ctr[i] += sp->ctr[i];
	r->inflight_end += sp->inflight;
	hist_merge(&r->ack, &sp->ack);
	hist_merge(&r->e2e, &sp->e2e);
	hist_merge(&r->connect, &sp->connect);
	hist_merge(&r->lag, &sp->lag);
	hist_merge(&r->ping_gap, &sp->ping_gap);
	for (i = 0; i < BENCH_ERR_KINDS && sp->errs[i].n; i++) {
		for (j = 0; j < r->nerrs && strcmp(r->errs[j].what, sp->errs[i].what); j++)
			;
		if (j == r->nerrs) {
			if (r->nerrs == REPORT_ERRS)
				continue;
			memcpy(r->errs[j].what, sp->errs[i].what, sizeof(r->errs[j].what));
			r->nerrs++;
		}
		r->errs[j].n += sp->errs[i].n;
	}
}

static double per_s(uint64_t n, double secs)
{
	return secs > 0 ? (double)n / secs : 0;
}

static void hist_json(struct jw *w, const char *key, const struct hist *h)
{
	jw_obj(w, key);
	jw_u64(w, "n", h->n);
	if (h->n) {
		jw_u64(w, "p50", hist_quantile(h, 0.50));
		jw_u64(w, "p95", hist_quantile(h, 0.95));
		jw_u64(w, "p99", hist_quantile(h, 0.99));
		jw_u64(w, "p999", hist_quantile(h, 0.999));
		jw_u64(w, "max", h->max);
		jw_num(w, "mean", hist_mean(h), 1);
	}
	jw_end(w, '}');
}

static int has_clients(enum scenario s)
{
	return s == SC_DURABLE || s == SC_FANOUT || s == SC_ROOMS || s == SC_IDLE;
}

static int sends(enum scenario s)
{
	return s == SC_DURABLE || s == SC_FANOUT || s == SC_ROOMS;
}

static void procs_json(struct jw *w, const struct result *r)
{
	double max = 0, sum = 0;
	int g, k;

	jw_obj(w, "procs");
	for (g = 0; g < PS_NAMES; g++) {
		jw_obj(w, ps_name(g));
		jw_int(w, "n", r->w1.g[g].n);
		jw_num(w, "cpu_pct", ps_cpu_pct(&r->w0, &r->w1, g), 1);
		jw_u64(w, "rss_kb", r->w1.g[g].rss_kb);
		jw_end(w, '}');
	}
	for (k = 0; k < r->nbench; k++) {
		double v = ps_bench_pct(&r->w0, &r->w1, k);

		sum += v;
		if (v > max)
			max = v;
	}
	jw_obj(w, "bench");
	jw_int(w, "n", r->nbench);
	jw_num(w, "cpu_pct", sum, 1);
	jw_num(w, "max_proc_cpu_pct", max, 1);
	jw_u64(w, "rss_kb", r->w1.bench_rss_kb);
	jw_end(w, '}');
	jw_num(w, "machine_busy_pct", ps_machine_pct(&r->w0, &r->w1), 1);
	jw_end(w, '}');
}

static void config_json(struct jw *w, const struct bench *b)
{
	const struct bench_opts *o = &b->o;

	jw_obj(w, "config");
	switch (o->scenario) {
	case SC_DURABLE:
		jw_int(w, "senders", o->senders);
		jw_int(w, "inflight", o->inflight);
		jw_int(w, "rooms", o->rooms);
		jw_num(w, "rate", o->rate, 1);
		break;
	case SC_FANOUT:
		jw_int(w, "clients", o->clients);
		jw_int(w, "senders", o->senders);
		jw_int(w, "inflight", o->inflight);
		jw_num(w, "rate", o->rate, 1);
		break;
	case SC_ROOMS:
		jw_int(w, "rooms", o->rooms);
		jw_int(w, "per_room", o->per_room);
		jw_num(w, "rate", o->rate, 1);
		break;
	case SC_IDLE:
		jw_int(w, "clients", o->clients);
		jw_int(w, "users", o->users);
		jw_int(w, "rooms", (long long)b->plan.nrooms);
		jw_num(w, "ramp", o->ramp, 0);
		break;
	default:
		break;
	}
	if (has_clients(o->scenario)) {
		jw_int(w, "procs", o->procs);
		jw_int(w, "src_addrs", o->src_addrs);
		jw_int(w, "msg_size", o->msg_size);
		jw_num(w, "batch_ms", o->batch_ms, 1);
	}
	jw_num(w, "duration_s", o->duration, 1);
	jw_num(w, "warmup_s", o->warmup, 1);
	jw_end(w, '}');
}

static void write_json(const struct bench *b, const struct result *r)
{
	const struct bench_opts *o = &b->o;
	const uint64_t *c = r->ctr;
	struct jw w;
	int g, i;

	jw_init(&w, stdout);
	jw_obj(&w, NULL);
	jw_str(&w, "scenario", opt_scenario_name(o->scenario));
	jw_str(&w, "label", o->label);
	jw_str(&w, "run_id", b->run_id);
	jw_str(&w, "started_at", r->started_at);
	jw_str(&w, "url", o->url);
	jw_num(&w, "background_busy_pct", r->background_pct, 1);
	if (r->probe_n) {
		jw_obj(&w, "host_probe");
		jw_int(&w, "n", r->probe_n);
		jw_num(&w, "p25_ns", r->probe_p25, 1);
		jw_num(&w, "p50_ns", r->probe_p50, 1);
		jw_num(&w, "p75_ns", r->probe_p75, 1);
		jw_end(&w, '}');
	}
	config_json(&w, b);
	if (has_clients(o->scenario)) {
		jw_obj(&w, "setup");
		jw_int(&w, "users", b->plan.nusers);
		jw_int(&w, "rooms", b->plan.nrooms);
		jw_num(&w, "rest_s", r->rest_s, 2);
		jw_end(&w, '}');
		jw_obj(&w, "connections");
		jw_int(&w, "target", b->plan.nconns);
		jw_u64(&w, "ready", c[CTR_READY]);
		jw_u64(&w, "failed", c[CTR_CONNECT_FAIL]);
		jw_u64(&w, "refused", c[CTR_REFUSED]);
		jw_u64(&w, "disconnects", c[CTR_DISCONNECT]);
		jw_num(&w, "connect_s", r->connect_s, 2);
		hist_json(&w, "connect_us", &r->connect);
		jw_end(&w, '}');
	}
	jw_num(&w, "window_s", r->window_s, 3);
	if (sends(o->scenario)) {
		jw_obj(&w, "counts");
		jw_u64(&w, "sent", c[CTR_SENT]);
		jw_u64(&w, "acked", c[CTR_ACKED]);
		jw_u64(&w, "ack_errors", c[CTR_ACK_ERR]);
		jw_u64(&w, "unacked_at_end", r->inflight_end);
		jw_u64(&w, "deliveries", c[CTR_DELIV]);
		jw_u64(&w, "expected_deliveries", c[CTR_EXPECTED]);
		jw_num(&w, "delivered_ratio",
		       c[CTR_EXPECTED] ? (double)c[CTR_DELIV] / (double)c[CTR_EXPECTED] : 0, 5);
		jw_u64(&w, "seq_gaps", c[CTR_SEQ_GAP]);
		jw_u64(&w, "seq_dups", c[CTR_SEQ_DUP]);
		jw_u64(&w, "skipped_sends", c[CTR_SKIPPED]);
		jw_u64(&w, "sent_in_window", c[CTR_SENT_W]);
		jw_u64(&w, "acked_in_window", c[CTR_ACKED_W]);
		jw_u64(&w, "deliveries_in_window", c[CTR_DELIV_W]);
		jw_end(&w, '}');
		jw_obj(&w, "rates");
		jw_num(&w, "sent_per_s", per_s(c[CTR_SENT_W], r->window_s), 1);
		jw_num(&w, "acked_per_s", per_s(c[CTR_ACKED_W], r->window_s), 1);
		jw_num(&w, "deliveries_per_s", per_s(c[CTR_DELIV_W], r->window_s), 1);
		jw_end(&w, '}');
		jw_obj(&w, "latency_us");
		hist_json(&w, "ack", &r->ack);
		hist_json(&w, "e2e", &r->e2e);
		if (o->rate > 0)
			hist_json(&w, "send_lag", &r->lag);
		jw_end(&w, '}');
	}
	if (has_clients(o->scenario)) {
		jw_obj(&w, "events");
		jw_u64(&w, "pings", c[CTR_PINGS]);
		hist_json(&w, "ping_gap_us", &r->ping_gap);
		jw_u64(&w, "other", c[CTR_OTHER_EV]);
		jw_u64(&w, "error", c[CTR_ERROR_EV]);
		jw_u64(&w, "foreign_messages", c[CTR_FOREIGN]);
		jw_end(&w, '}');
	}
	procs_json(&w, r);
	if (o->scenario == SC_IDLE) {
		uint64_t n = r->live_w1;
		uint64_t bad = c[CTR_CONNECT_FAIL] + c[CTR_DISCONNECT];

		jw_obj(&w, "idle");
		/* Valid when at most 1 % of the connections failed or dropped. */
		jw_bool(&w, "valid", bad * 100 <= (uint64_t)b->plan.nconns);
		jw_u64(&w, "connections", n);
		jw_u64(&w, "live_at_hold_start", r->live_w0);
		jw_u64(&w, "ever_ready", c[CTR_READY]);
		jw_obj(&w, "rss_kb_before");
		for (g = 0; g < PS_NAMES; g++)
			jw_u64(&w, ps_name(g), r->base.g[g].rss_kb);
		jw_end(&w, '}');
		jw_obj(&w, "rss_kb_after");
		for (g = 0; g < PS_NAMES; g++)
			jw_u64(&w, ps_name(g), r->w1.g[g].rss_kb);
		jw_end(&w, '}');
		jw_obj(&w, "rss_per_conn_kb");
		for (g = 0; g < PS_NAMES; g++)
			jw_num(&w, ps_name(g),
			       n ? ((double)r->w1.g[g].rss_kb - (double)r->base.g[g].rss_kb) /
					       (double)n
				 : 0,
			       2);
		jw_end(&w, '}');
		jw_obj(&w, "ramp_cpu_pct");
		for (g = 0; g < PS_NAMES; g++)
			jw_num(&w, ps_name(g), ps_cpu_pct(&r->base, &r->ready, g), 1);
		jw_end(&w, '}');
		jw_end(&w, '}');
	}
	jw_obj(&w, "errors");
	for (i = 0; i < r->nerrs; i++)
		jw_u64(&w, r->errs[i].what, r->errs[i].n);
	jw_end(&w, '}');
	jw_end(&w, '}');
	fputc('\n', stdout);
	fflush(stdout);
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void hist_line(FILE *f, const char *what, const struct hist *h)
{
	if (!h->n) {
		fprintf(f, "  %-13s none\n", what);
		return;
	}
	fprintf(f, "  %-13s p50 %.3f  p95 %.3f  p99 %.3f  max %.3f ms  (n %llu)\n", what,
		ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.95)), ms(hist_quantile(h, 0.99)),
		ms(h->max), (unsigned long long)h->n);
}

static void write_table(const struct bench *b, const struct result *r)
{
	const struct bench_opts *o = &b->o;
	const uint64_t *c = r->ctr;
	FILE *f = stderr;
	double bsum = 0, bmax = 0;
	int g, k, i;

	fprintf(f, "\n== chat-bench %s%s%s (run %s; machine %.0f %% busy before)\n",
		opt_scenario_name(o->scenario), o->label[0] ? " " : "", o->label, b->run_id,
		r->background_pct);
	if (has_clients(o->scenario)) {
		fprintf(f,
			"  connections  %llu/%u ready, %llu failed, %llu refused, %llu disconnects; set-up %.2f s, connect %.2f s\n",
			(unsigned long long)c[CTR_READY], b->plan.nconns,
			(unsigned long long)c[CTR_CONNECT_FAIL], (unsigned long long)c[CTR_REFUSED],
			(unsigned long long)c[CTR_DISCONNECT], r->rest_s, r->connect_s);
		hist_line(f, "connect", &r->connect);
	}
	if (sends(o->scenario)) {
		fprintf(f, "  window       %.2f s: sent %.0f/s, acked %.0f/s, deliveries %.0f/s\n",
			r->window_s, per_s(c[CTR_SENT_W], r->window_s),
			per_s(c[CTR_ACKED_W], r->window_s), per_s(c[CTR_DELIV_W], r->window_s));
		hist_line(f, "ack", &r->ack);
		hist_line(f, "send->recv", &r->e2e);
		if (o->rate > 0)
			hist_line(f, "send lag", &r->lag);
		fprintf(f,
			"  delivery     %llu of %llu expected (%.3f %%), seq gaps %llu, dups %llu, ack errors %llu, unacked %llu, skipped %llu\n",
			(unsigned long long)c[CTR_DELIV], (unsigned long long)c[CTR_EXPECTED],
			c[CTR_EXPECTED] ? 100.0 * (double)c[CTR_DELIV] / (double)c[CTR_EXPECTED]
					: 0,
			(unsigned long long)c[CTR_SEQ_GAP], (unsigned long long)c[CTR_SEQ_DUP],
			(unsigned long long)c[CTR_ACK_ERR], (unsigned long long)r->inflight_end,
			(unsigned long long)c[CTR_SKIPPED]);
	}
	for (k = 0; k < r->nbench; k++) {
		double v = ps_bench_pct(&r->w0, &r->w1, k);

		bsum += v;
		if (v > bmax)
			bmax = v;
	}
	fprintf(f, "  cpu %%        ");
	for (g = 0; g < PS_NAMES; g++)
		if (g != PS_NODE || r->w1.g[g].n)
			fprintf(f, "%s %.0f  ", ps_name(g), ps_cpu_pct(&r->w0, &r->w1, g));
	fprintf(f, "bench %.0f (max proc %.0f)  machine %.0f (of %d00)\n", bsum, bmax,
		ps_machine_pct(&r->w0, &r->w1), 2);
	fprintf(f, "  rss MB       ");
	for (g = 0; g < PS_NAMES; g++)
		if (g != PS_NODE || r->w1.g[g].n)
			fprintf(f, "%s %.1f (%u)  ", ps_name(g), (double)r->w1.g[g].rss_kb / 1024.0,
				r->w1.g[g].n);
	fprintf(f, "\n");
	if (has_clients(o->scenario))
		hist_line(f, "ping gap", &r->ping_gap);
	if (o->scenario == SC_IDLE && r->live_w1) {
		double n = (double)r->live_w1;

		fprintf(f,
			"  per conn     chat-ws %.2f KB, nginx %.2f KB (RSS growth / %llu live connections)%s\n",
			((double)r->w1.g[PS_CHAT_WS].rss_kb -
			 (double)r->base.g[PS_CHAT_WS].rss_kb) /
				n,
			((double)r->w1.g[PS_NGINX].rss_kb - (double)r->base.g[PS_NGINX].rss_kb) / n,
			(unsigned long long)r->live_w1,
			(c[CTR_CONNECT_FAIL] + c[CTR_DISCONNECT]) * 100 > b->plan.nconns
				? "  INVALID: over 1 % failed or dropped"
				: "");
	}
	for (i = 0; i < r->nerrs; i++)
		fprintf(f, "  error        %llu x %s\n", (unsigned long long)r->errs[i].n,
			r->errs[i].what);
}

void report_result(const struct bench *b, const struct result *r)
{
	write_json(b, r);
	if (!b->o.quiet)
		write_table(b, r);
}

/* ---- tables of JSONL files ---------------------------------------------------- */

static double jnum(const json_t *root, const char *path)
{
	const json_t *v = root;
	const char *p = path;

	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		v = json_object_getn(v, p, n);
		p += n + (dot ? 1 : 0);
	}
	return json_is_number(v) ? json_number_value(v) : -1;
}

static const char *jstr(const json_t *root, const char *key)
{
	const char *s = json_string_value(json_object_get(root, key));

	return s ? s : "";
}

static void cell(double v, int prec, int width)
{
	if (v < 0)
		printf(" %*s", width, "-");
	else
		printf(" %*.*f", width, prec, v);
}

/*
 * Issue 16's targets for the runs make bench has: each run's figure against
 * its bound, printed as met or missed under the table (bench/README.md says
 * what limits the missed ones). The last line of a label counts.
 */
struct target {
	const char *label; /* the run */
	const char *what;
	const char *key; /* dotted path in its JSON line */
	double scale;    /* the key's value times this is the figure */
	int at_most;     /* met when figure <= bound; else when >= bound */
	double bound;
	const char *unit;
};

static const struct target targets[] = {
	{ "durable-if32", "durable sends (10 senders x 32 in flight)", "rates.acked_per_s", 1, 0,
	  20000, "acks/s" },
	{ "wrk-get-rooms", "GET /api/rooms through nginx", "wrk.rps", 1, 0, 18000, "req/s" },
	{ "fanout200-sat", "fan-out through nginx", "rates.deliveries_per_s", 1, 0, 200000,
	  "deliveries/s" },
	{ "fanout200-r200", "p99 send->receive, 200 msg/s x 200 clients", "latency_us.e2e.p99",
	  0.001, 1, 10, "ms" },
};

#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static void report_targets(FILE *fp)
{
	double fig[NTARGETS];
	char line[1 << 16];
	size_t i;

	for (i = 0; i < NTARGETS; i++)
		fig[i] = -1;
	rewind(fp);
	while (fgets(line, sizeof(line), fp)) {
		json_error_t jerr;
		json_t *root = json_loads(line, 0, &jerr);

		if (!root)
			continue;
		for (i = 0; i < NTARGETS; i++) {
			double v;

			if (strcmp(jstr(root, "label"), targets[i].label) != 0)
				continue;
			v = jnum(root, targets[i].key);
			fig[i] = v < 0 ? -1 : v * targets[i].scale;
		}
		json_decref(root);
	}
	printf("\n%-16s %-44s %12s %14s %-12s %s\n", "target", "what", "figure", "bound", "",
	       "verdict");
	for (i = 0; i < NTARGETS; i++) {
		const struct target *t = &targets[i];
		int met = t->at_most ? fig[i] <= t->bound : fig[i] >= t->bound;

		printf("%-16s %-44s", t->label, t->what);
		cell(fig[i], t->scale < 1 ? 1 : 0, 12);
		printf(" %s%11.0f %-12s %s\n", t->at_most ? "<=" : ">=", t->bound, t->unit,
		       fig[i] < 0    ? "not run"
			       : met ? "met"
				     : "MISSED");
	}
}

int report_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[1 << 16];

	if (!fp) {
		perror(path);
		return -1;
	}
	printf("%-24s %12s %-9s %9s %9s %9s %7s %7s %7s %7s %7s %7s %6s  %s\n", "run", "figure",
	       "unit", "p50 ms", "p99 ms", "max ms", "ws%", "nginx%", "fcgi%", "pg%", "bench%",
	       "mach%", "probe", "errors / notes");
	while (fgets(line, sizeof(line), fp)) {
		json_error_t jerr;
		json_t *root = json_loads(line, 0, &jerr);
		const char *sc, *label;
		double fig = -1, p50 = -1, p99 = -1, max = -1, nerr = 0;
		const char *unit = "";
		char note[160] = "";
		const char *k;
		json_t *v;

		if (!root)
			continue;
		sc = jstr(root, "scenario");
		label = jstr(root, "label");
		if (!strcmp(sc, "wrk")) {
			fig = jnum(root, "wrk.rps");
			unit = "req/s";
			p50 = jnum(root, "wrk.latency_us.p50") / 1000;
			p99 = jnum(root, "wrk.latency_us.p99") / 1000;
			max = jnum(root, "wrk.latency_us.max") / 1000;
			nerr = jnum(root, "wrk.errors.status") + jnum(root, "wrk.errors.connect") +
				jnum(root, "wrk.errors.read") + jnum(root, "wrk.errors.write") +
				jnum(root, "wrk.errors.timeout");
			snprintf(note, sizeof(note), "%.0f errors", nerr);
		} else if (!strcmp(sc, "durable")) {
			fig = jnum(root, "rates.acked_per_s");
			unit = "acks/s";
			p50 = jnum(root, "latency_us.ack.p50") / 1000;
			p99 = jnum(root, "latency_us.ack.p99") / 1000;
			max = jnum(root, "latency_us.ack.max") / 1000;
		} else if (!strcmp(sc, "fanout") || !strcmp(sc, "rooms")) {
			fig = jnum(root, "rates.deliveries_per_s");
			unit = "deliv/s";
			p50 = jnum(root, "latency_us.e2e.p50") / 1000;
			p99 = jnum(root, "latency_us.e2e.p99") / 1000;
			max = jnum(root, "latency_us.e2e.max") / 1000;
			snprintf(note, sizeof(note), "%.0f msg/s, delivered %.4f",
				 jnum(root, "rates.acked_per_s"),
				 jnum(root, "counts.delivered_ratio"));
		} else if (!strcmp(sc, "idle")) {
			fig = jnum(root, "idle.connections");
			unit = "conns";
			snprintf(note, sizeof(note), "KB/conn ws %.2f nginx %.2f%s",
				 jnum(root, "idle.rss_per_conn_kb.chat-ws"),
				 jnum(root, "idle.rss_per_conn_kb.nginx"),
				 json_is_false(
					 json_object_get(json_object_get(root, "idle"), "valid"))
					 ? " INVALID"
					 : "");
		}
		if (strcmp(sc, "wrk")) {
			json_object_foreach(json_object_get(root, "errors"), k, v) nerr +=
				json_is_integer(v) ? (double)json_integer_value(v) : 0;
			if (nerr > 0)
				snprintf(note + strlen(note), sizeof(note) - strlen(note),
					 "%s%.0f errors", note[0] ? ", " : "", nerr);
			if (jnum(root, "connections.disconnects") > 0)
				snprintf(note + strlen(note), sizeof(note) - strlen(note),
					 ", %.0f disconnects",
					 jnum(root, "connections.disconnects"));
		}
		printf("%-24.24s", label[0] ? label : sc);
		cell(fig, 0, 12);
		printf(" %-9s", unit);
		cell(p50, 3, 9);
		cell(p99, 3, 9);
		cell(max, 3, 9);
		{
			/* wrk lines carry the procs of the watch run beside them. */
			const json_t *pr = json_object_get(root, "watch")
				? json_object_get(root, "watch")
				: root;
			static const char *const cols[] = {
				"procs.chat-ws.cpu_pct",   "procs.nginx.cpu_pct",
				"procs.chat-fcgi.cpu_pct", "procs.postgres.cpu_pct",
				"procs.bench.cpu_pct",     "procs.machine_busy_pct"
			};
			size_t ci;

			for (ci = 0; ci < sizeof(cols) / sizeof(cols[0]); ci++)
				cell(jnum(pr, cols[ci]), 0, 7);
			/* The host probe's median, ns per step (hostprobe.h): higher is a slower host. */
			cell(jnum(pr, "host_probe.p50_ns"), 1, 6);
		}
		printf("  %s\n", note);
		json_decref(root);
	}
	report_targets(fp);
	fclose(fp);
	return 0;
}
