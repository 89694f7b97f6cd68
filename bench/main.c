/* main.c -- chat-bench: a Socket.IO load generator for the chat stack (see --help). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "opts.h"
#include "report.h"
#include "run.h"

/* Six base-36 characters that tell this run's users, rooms and messages apart. */
static void make_run_id(char *out, size_t len)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	struct timespec ts;
	uint64_t x;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_nsec * 6364136223846793005ull ^
		(uint64_t)ts.tv_sec * 1442695040888963407ull ^ (uint64_t)getpid() << 20;
	for (i = 0; i + 1 < len && i < 6; i++) {
		out[i] = digits[x % 36];
		x /= 36;
	}
	out[i] = '\0';
}

int main(int argc, char **argv)
{
	static struct bench b;
	char err[512];
	int rc;

	rc = opt_parse(&b.o, argc, argv, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "chat-bench: %s\n", err);
		return 2;
	}
	if (b.o.report)
		return report_file(b.o.report) ? 1 : 0;
	make_run_id(b.run_id, sizeof(b.run_id));
	snprintf(b.marker, sizeof(b.marker), "bm%s ", b.run_id);
	b.marker_len = strlen(b.marker);
	return run_scenario(&b);
}
