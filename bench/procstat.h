/* procstat.h -- CPU time and resident memory of the server's processes, read from /proc. */
#ifndef BENCH_PROCSTAT_H
#define BENCH_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* PS_NODE, the Node peer (bench/compare), counts only the pids given to --pid-of node=. */
enum ps_name { PS_CHAT_WS = 0, PS_NGINX, PS_CHAT_FCGI, PS_POSTGRES, PS_NODE, PS_NAMES };

#define PS_MAX_ROOTS 32
#define PS_MAX_BENCH 64
#define PS_CACHE 4096

/* Returns the process name (comm) of group i: "chat-ws", "nginx", ... */
const char *ps_name(int i);

/* The sum over the processes of one group. */
struct ps_group {
	unsigned n;
	uint64_t ticks;  /* utime + stime, clock ticks */
	uint64_t rss_kb; /* VmRSS */
};

/* One counted process in a sample. */
struct ps_proc {
	pid_t pid;
	int group;
	unsigned long long start;
	uint64_t ticks;
};

#define PS_MAX_PROCS 512

struct ps_sample {
	int64_t t_ns; /* CLOCK_MONOTONIC */
	struct ps_group g[PS_NAMES];
	struct ps_proc procs[PS_MAX_PROCS];
	unsigned nprocs;
	uint64_t bench_ticks[PS_MAX_BENCH];
	uint64_t bench_rss_kb;
	uint64_t cpu_busy, cpu_total; /* machine, from /proc/stat (jiffies) */
};

struct ps_seen {
	pid_t pid;
	unsigned long long start; /* starttime: tells a reused pid apart */
	int ours;
};

/*
 * Which processes count. With roots for a name only those pids and their
 * descendants count; otherwise, with a stack dir, processes that (or whose
 * ancestors) carry LOCAL_CHAT_STACK=<dir> in their environment or <dir> in
 * their command line; otherwise every process of that name.
 */
struct ps_filter {
	char stack_dir[4096];
	pid_t roots[PS_NAMES][PS_MAX_ROOTS];
	int nroots[PS_NAMES];
	struct ps_seen seen[PS_CACHE];
	int nseen;
};

/*
 * Prepares f. pid_of holds "name=pid,pid,..." strings (NULL-terminated
 * list, may be NULL). Returns 0, or -1 with a message in err.
 */
int ps_filter_init(struct ps_filter *f, const char *stack_dir, const char *const *pid_of, char *err,
		   size_t errlen) __attribute__((warn_unused_result));

/* Takes one sample; bench[] are the load generator's own pids. */
void ps_sample(struct ps_filter *f, const pid_t *bench, int nbench, struct ps_sample *out);

/*
 * CPU use of group i between two samples, in % of one core: the time of
 * each process present in both, plus all of the time of those that
 * started in between (time of processes that ended in between is lost).
 */
double ps_cpu_pct(const struct ps_sample *a, const struct ps_sample *b, int i);

/* Busy CPU of the whole machine between two samples, in % of one core (200 = two cores). */
double ps_machine_pct(const struct ps_sample *a, const struct ps_sample *b);

/* CPU of bench pid k between two samples, in % of one core. */
double ps_bench_pct(const struct ps_sample *a, const struct ps_sample *b, int k);

#endif
