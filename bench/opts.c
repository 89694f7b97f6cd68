/* opts.c -- chat-bench's command line. */
#include <stdlib.h>
#include <string.h>

#include "opts.h"

static const char *const scenario_names[SC_COUNT] = { "durable", "fanout", "rooms",
						      "idle",    "watch",  "token" };

const char *opt_scenario_name(enum scenario s)
{
	return s < SC_COUNT ? scenario_names[s] : "?";
}

void opt_usage(FILE *f)
{
	fputs("usage: chat-bench --scenario NAME [options]\n"
	      "       chat-bench --report FILE.jsonl\n"
	      "\n"
	      "Scenarios (one JSON line on stdout, a table on stderr):\n"
	      "  durable  S senders, each closed loop with W messages in flight: acked msgs/s, ack latency\n"
	      "  fanout   C clients in one room, S senders, closed loop (--rate 0) or --rate msgs/s in total:\n"
	      "           new_message deliveries/s and send->receive latency\n"
	      "  rooms    R rooms x K clients, random senders at --rate msgs/s in total\n"
	      "  idle     ramp to C connections (CONNECT + join_room), hold --duration s:\n"
	      "           RSS per connection and CPU of chat-ws and nginx while idle\n"
	      "  watch    no clients: CPU and RSS of the server processes over --duration s\n"
	      "  token    print the token of a new user that joined --room (for wrk)\n"
	      "\n"
	      "Options (defaults):\n"
	      "  --url URL              stack base URL (http://127.0.0.1:8080)\n"
	      "  --ws-port P            WebSockets to this port of --url's host, the REST set-up to\n"
	      "                         --url (a bridge without nginx; default: --url's port)\n"
	      "  --duration S           measured seconds (10)\n"
	      "  --warmup S             seconds of load before the window (2)\n"
	      "  --drain S              at most this long for outstanding acks/deliveries (5)\n"
	      "  --senders N            sending connections (10)\n"
	      "  --inflight W           closed loop: messages in flight per sender (1)\n"
	      "  --clients N            fanout clients (200), idle connections (10000)\n"
	      "  --rate R               messages/s in total; 0 = closed loop (0; rooms: 200)\n"
	      "  --rooms R              rooms (durable: 1, rooms: 100)\n"
	      "  --per-room K           rooms: clients per room; idle: member users per room (10)\n"
	      "  --users U              idle: users shared round-robin (min(clients, 1000))\n"
	      "  --ramp N               connections opened per second, in total (2000)\n"
	      "  --procs P              worker processes (ceil(connections / 15000), at least 1)\n"
	      "  --src-addrs N          bind connections to 127.0.0.2..N+1 (0 = automatic: one per 10000)\n"
	      "  --msg-size N           characters per message (100)\n"
	      "  --rest-concurrency N   set-up requests in flight (16)\n"
	      "  --connect-concurrency N handshakes in flight, in total (200)\n"
	      "  --connect-timeout S    for every connection to settle (120)\n"
	      "  --batch-ms MS          pause between event-loop rounds while sending or holding, so that\n"
	      "                         one read takes more frames (idle: 20, others: 0)\n"
	      "  --quiet-wait S         wait up to S s for the machine to be calm before starting (0)\n"
	      "  --quiet-pct P          calm = whole-machine busy below P %% of one core (30)\n"
	      "  --dump N               print the first N packets one connection receives\n"
	      "  --stack-dir DIR        count only the processes of the stack in DIR (CHAT_STATE_DIR)\n"
	      "  --pid-of NAME=PID,...  count these processes (and children) as NAME (chat-ws, nginx,\n"
	      "                         chat-fcgi, postgres, node: the Node peer); repeatable\n"
	      "  --room ID              token: room to join (general)\n"
	      "  --label TEXT           carried into the JSON line\n"
	      "  --quiet                no progress or table on stderr\n",
	      f);
}

static int num(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	*out = strtod(s, &end);
	return *end ? -1 : 0;
}

static int parse_url(struct bench_opts *o, char *err, size_t errlen)
{
	const char *p = o->url, *colon;
	size_t n;
	char *end;

	if (strncmp(p, "http://", 7)) {
		snprintf(err, errlen, "--url must start with http:// (got '%s')", o->url);
		return -1;
	}
	p += 7;
	colon = strchr(p, ':');
	n = colon ? (size_t)(colon - p) : strcspn(p, "/");
	if (!n || n >= sizeof(o->host)) {
		snprintf(err, errlen, "--url: bad host in '%s'", o->url);
		return -1;
	}
	memcpy(o->host, p, n);
	o->host[n] = '\0';
	o->port = 80;
	if (colon) {
		long v = strtol(colon + 1, &end, 10);

		if (v <= 0 || v > 65535 || (*end && *end != '/')) {
			snprintf(err, errlen, "--url: bad port in '%s'", o->url);
			return -1;
		}
		o->port = (int)v;
	}
	return 0;
}

int opt_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	int i, npid = 0;
	int have_clients = 0, have_rate = 0, have_rooms = 0, have_procs = 0, have_batch = 0;
	long conns;

	memset(o, 0, sizeof(*o));
	o->scenario = SC_COUNT;
	o->url = "http://127.0.0.1:8080";
	o->label = "";
	o->token_room = "general";
	o->duration = 10;
	o->warmup = 2;
	o->drain = 5;
	o->connect_timeout = 120;
	o->senders = 10;
	o->inflight = 1;
	o->per_room = 10;
	o->ramp = 2000;
	o->msg_size = 100;
	o->rest_concurrency = 16;
	o->connect_concurrency = 200;
	o->quiet_pct = 30;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		double d = 0;
		int takes = 1;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			opt_usage(stdout);
			return 1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
			takes = 0;
		} else if (!v) {
			snprintf(err, errlen, "%s needs a value", a);
			return -1;
		} else if (!strcmp(a, "--scenario")) {
			int s;

			for (s = 0; s < SC_COUNT && strcmp(v, scenario_names[s]); s++)
				;
			if (s == SC_COUNT) {
				snprintf(err, errlen, "unknown scenario '%s'", v);
				return -1;
			}
			o->scenario = (enum scenario)s;
		} else if (!strcmp(a, "--url")) {
			o->url = v;
		} else if (!strcmp(a, "--label")) {
			o->label = v;
		} else if (!strcmp(a, "--stack-dir")) {
			o->stack_dir = v;
		} else if (!strcmp(a, "--report")) {
			o->report = v;
		} else if (!strcmp(a, "--room")) {
			o->token_room = v;
		} else if (!strcmp(a, "--pid-of")) {
			if (npid >= 5) {
				snprintf(err, errlen, "--pid-of at most 5 times");
				return -1;
			}
			o->pid_of[npid++] = v;
		} else if (num(v, &d)) {
			snprintf(err, errlen, "%s wants a number, got '%s'", a, v);
			return -1;
		} else if (!strcmp(a, "--ws-port")) {
			if (d < 1 || d > 65535 || d != (long)d) {
				snprintf(err, errlen, "--ws-port wants a port, got '%s'", v);
				return -1;
			}
			o->ws_port = (int)d;
		} else if (!strcmp(a, "--duration")) {
			o->duration = d;
		} else if (!strcmp(a, "--warmup")) {
			o->warmup = d;
		} else if (!strcmp(a, "--drain")) {
			o->drain = d;
		} else if (!strcmp(a, "--connect-timeout")) {
			o->connect_timeout = d;
		} else if (!strcmp(a, "--senders")) {
			o->senders = (long)d;
		} else if (!strcmp(a, "--inflight")) {
			o->inflight = (long)d;
		} else if (!strcmp(a, "--clients")) {
			o->clients = (long)d;
			have_clients = 1;
		} else if (!strcmp(a, "--rate")) {
			o->rate = d;
			have_rate = 1;
		} else if (!strcmp(a, "--rooms")) {
			o->rooms = (long)d;
			have_rooms = 1;
		} else if (!strcmp(a, "--per-room")) {
			o->per_room = (long)d;
		} else if (!strcmp(a, "--users")) {
			o->users = (long)d;
		} else if (!strcmp(a, "--ramp")) {
			o->ramp = d;
		} else if (!strcmp(a, "--procs")) {
			o->procs = (long)d;
			have_procs = 1;
		} else if (!strcmp(a, "--src-addrs")) {
			o->src_addrs = (long)d;
		} else if (!strcmp(a, "--msg-size")) {
			o->msg_size = (long)d;
		} else if (!strcmp(a, "--rest-concurrency")) {
			o->rest_concurrency = (long)d;
		} else if (!strcmp(a, "--connect-concurrency")) {
			o->connect_concurrency = (long)d;
		} else if (!strcmp(a, "--dump")) {
			o->dump = (long)d;
		} else if (!strcmp(a, "--quiet-wait")) {
			o->quiet_wait = d;
		} else if (!strcmp(a, "--quiet-pct")) {
			o->quiet_pct = d;
		} else if (!strcmp(a, "--batch-ms")) {
			o->batch_ms = d;
			have_batch = 1;
		} else {
			snprintf(err, errlen, "unknown option '%s' (see --help)", a);
			return -1;
		}
		i += takes;
	}
	o->pid_of[npid] = NULL;
	if (o->report)
		return 0;
	if (o->scenario == SC_COUNT) {
		snprintf(err, errlen,
			 "--scenario is required (durable, fanout, rooms, idle, watch, token)");
		return -1;
	}
	if (parse_url(o, err, errlen))
		return -1;
	/* Scenario defaults. */
	if (!have_clients)
		o->clients = o->scenario == SC_IDLE ? 10000 : 200;
	if (!have_rate && o->scenario == SC_ROOMS)
		o->rate = 200;
	if (!have_rooms)
		o->rooms = o->scenario == SC_ROOMS ? 100 : 1;
	if (!have_batch)
		o->batch_ms = o->scenario == SC_IDLE ? 20 : 0;
	switch (o->scenario) {
	case SC_DURABLE:
		conns = o->senders;
		break;
	case SC_FANOUT:
	case SC_IDLE:
		conns = o->clients;
		break;
	case SC_ROOMS:
		conns = o->rooms * o->per_room;
		break;
	default:
		conns = 0;
		break;
	}
	if (o->scenario == SC_IDLE && o->users <= 0)
		o->users = o->clients < 1000 ? o->clients : 1000;
	if (!have_procs)
		o->procs = conns > 15000 ? (conns + 14999) / 15000 : 1;
	if (!o->src_addrs && conns > 10000)
		o->src_addrs = (conns + 9999) / 10000;
	if (o->duration <= 0 || o->warmup < 0 || o->drain < 0 || o->senders < 1 ||
	    o->inflight < 1 || o->inflight > 10000 || o->clients < 1 || o->rate < 0 ||
	    o->rooms < 1 || o->per_room < 1 || o->ramp <= 0 || o->procs < 1 ||
	    o->procs > BENCH_MAX_PROCS || o->src_addrs < 0 || o->src_addrs > BENCH_MAX_SRC ||
	    o->msg_size < 1 || o->msg_size > 4000 || o->rest_concurrency < 1 ||
	    o->connect_concurrency < 1 || o->batch_ms < 0 || o->batch_ms >= 1000) {
		snprintf(err, errlen, "an option is out of range (see --help)");
		return -1;
	}
	if (o->scenario == SC_FANOUT && o->senders > o->clients) {
		snprintf(err, errlen, "--senders (%ld) exceeds --clients (%ld)", o->senders,
			 o->clients);
		return -1;
	}
	if (o->scenario == SC_ROOMS && o->rate <= 0) {
		snprintf(err, errlen, "rooms needs --rate > 0");
		return -1;
	}
	if (conns / o->procs > 19000) {
		snprintf(
			err, errlen,
			"%ld connections in %ld processes exceed the 20000 descriptors of one process; "
			"raise --procs",
			conns, o->procs);
		return -1;
	}
	return 0;
}
