/* procstat.c -- CPU time and resident memory of the server's processes, read from /proc. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "procstat.h"

static const char *const names[PS_NAMES] = { "chat-ws", "nginx", "chat-fcgi", "postgres", "node" };

/* One line of /proc/PID/stat, the fields we use. */
struct pstat {
	pid_t pid, ppid;
	char comm[32];
	uint64_t ticks;
	unsigned long long start;
};

#define MAX_PROCS 16384

const char *ps_name(int i)
{
	return i >= 0 && i < PS_NAMES ? names[i] : "?";
}

static int name_index(const char *comm)
{
	int i;

	for (i = 0; i < PS_NAMES; i++)
		if (!strcmp(comm, names[i]))
			return i;
	return -1;
}

int ps_filter_init(struct ps_filter *f, const char *stack_dir, const char *const *pid_of, char *err,
		   size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (stack_dir) {
		char *real = realpath(stack_dir, NULL);

		snprintf(f->stack_dir, sizeof(f->stack_dir), "%s", real ? real : stack_dir);
		free(real);
	}
	for (; pid_of && *pid_of; pid_of++) {
		const char *eq = strchr(*pid_of, '='), *p;
		char name[32];
		int i;

		if (!eq || (size_t)(eq - *pid_of) >= sizeof(name)) {
			snprintf(err, errlen, "--pid-of wants name=pid[,pid...], got '%s'",
				 *pid_of);
			return -1;
		}
		memcpy(name, *pid_of, (size_t)(eq - *pid_of));
		name[eq - *pid_of] = '\0';
		i = name_index(name);
		if (i < 0) {
			snprintf(
				err, errlen,
				"--pid-of: unknown name '%s' (chat-ws, nginx, chat-fcgi, postgres, node)",
				name);
			return -1;
		}
		for (p = eq + 1; *p;) {
			char *end;
			long v = strtol(p, &end, 10);

			if (end == p || v <= 0 || f->nroots[i] >= PS_MAX_ROOTS) {
				snprintf(err, errlen, "--pid-of: bad pid list '%s'", eq + 1);
				return -1;
			}
			f->roots[i][f->nroots[i]++] = (pid_t)v;
			p = *end == ',' ? end + 1 : end;
		}
	}
	return 0;
}

static int read_file(const char *path, char *buf, size_t len, size_t *got)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	*got = 0;
	if (!fp)
		return -1;
	n = fread(buf, 1, len - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	*got = n;
	return 0;
}

static int read_stat(pid_t pid, struct pstat *ps)
{
	char path[64], buf[1024], *open_paren, *close_paren, *p;
	unsigned long long utime = 0, stime = 0;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof(buf), &n) || !n)
		return -1;
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -1;
	n = (size_t)(close_paren - open_paren - 1);
	if (n >= sizeof(ps->comm))
		n = sizeof(ps->comm) - 1;
	memcpy(ps->comm, open_paren + 1, n);
	ps->comm[n] = '\0';
	ps->pid = pid;
	ps->ppid = 0;
	ps->start = 0;
	/* Fields after the comm: 3 state, 4 ppid, ... 14 utime, 15 stime, ... 22 starttime. */
	p = close_paren + 2;
	for (field = 3; *p && field <= 22; field++) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);

		if (field == 4)
			ps->ppid = (pid_t)v;
		else if (field == 14)
			utime = v;
		else if (field == 15)
			stime = v;
		else if (field == 22)
			ps->start = v;
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	ps->ticks = utime + stime;
	return 0;
}

static uint64_t read_rss_kb(pid_t pid)
{
	char path[64], buf[4096];
	const char *p;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, buf, sizeof(buf), &n))
		return 0;
	p = strstr(buf, "\nVmRSS:");
	return p ? strtoull(p + 7, NULL, 10) : 0;
}

/* True when /proc/PID/environ or cmdline mentions the stack dir. */
static int marked(const struct ps_filter *f, pid_t pid)
{
	static char buf[1 << 16];
	char path[64], mark[4200];
	size_t n, i, dl = strlen(f->stack_dir);

	snprintf(mark, sizeof(mark), "LOCAL_CHAT_STACK=%s", f->stack_dir);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if (!read_file(path, buf, sizeof(buf), &n)) {
		for (i = 0; i < n; i += strlen(buf + i) + 1)
			if (!strcmp(buf + i, mark))
				return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (!read_file(path, buf, sizeof(buf), &n)) {
		for (i = 0; i + dl <= n; i++) {
			if (!memcmp(buf + i, f->stack_dir, dl) &&
			    (i + dl == n || buf[i + dl] == '/' || buf[i + dl] == '\0' ||
			     buf[i + dl] == ' '))
				return 1;
		}
	}
	return 0;
}

static const struct pstat *lookup(const struct pstat *all, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (all[i].pid == pid)
			return &all[i];
	return NULL;
}

static int is_ours(struct ps_filter *f, const struct pstat *all, size_t n, const struct pstat *ps,
		   int group)
{
	const struct pstat *cur = ps;
	int depth, i, verdict = 0;

	for (i = 0; i < f->nseen; i++)
		if (f->seen[i].pid == ps->pid && f->seen[i].start == ps->start)
			return f->seen[i].ours;
	if (f->nroots[group]) {
		for (depth = 0; cur && depth < 16 && !verdict; depth++) {
			for (i = 0; i < f->nroots[group]; i++)
				if (f->roots[group][i] == cur->pid)
					verdict = 1;
			cur = cur->ppid > 1 ? lookup(all, n, cur->ppid) : NULL;
		}
	} else if (group == PS_NODE) {
		verdict = 0; /* any node program on the machine is no server of ours */
	} else if (f->stack_dir[0]) {
		for (depth = 0; cur && depth < 8 && !verdict; depth++) {
			verdict = marked(f, cur->pid);
			cur = cur->ppid > 1 ? lookup(all, n, cur->ppid) : NULL;
		}
	} else {
		verdict = 1;
	}
	if (f->nseen < PS_CACHE) {
		f->seen[f->nseen].pid = ps->pid;
		f->seen[f->nseen].start = ps->start;
		f->seen[f->nseen].ours = verdict;
		f->nseen++;
	}
	return verdict;
}

static void machine_cpu(uint64_t *busy, uint64_t *total)
{
	char buf[512];
	unsigned long long v[10] = { 0 };
	size_t n;
	int i;

	*busy = *total = 0;
	if (read_file("/proc/stat", buf, sizeof(buf), &n))
		return;
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 8)
		return;
	for (i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4];
}

void ps_sample(struct ps_filter *f, const pid_t *bench, int nbench, struct ps_sample *out)
{
	static struct pstat all[MAX_PROCS];
	size_t n = 0, i;
	DIR *d;
	struct dirent *de;
	int k;

	memset(out, 0, sizeof(*out));
	d = opendir("/proc");
	while (d && (de = readdir(d)) && n < MAX_PROCS) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (!read_stat((pid_t)strtol(de->d_name, NULL, 10), &all[n]))
			n++;
	}
	if (d)
		closedir(d);
	for (i = 0; i < n; i++) {
		int g = name_index(all[i].comm);

		if (g < 0 || !is_ours(f, all, n, &all[i], g))
			continue;
		out->g[g].n++;
		out->g[g].ticks += all[i].ticks;
		if (out->nprocs < PS_MAX_PROCS) {
			struct ps_proc *pp = &out->procs[out->nprocs++];

			pp->pid = all[i].pid;
			pp->group = g;
			pp->start = all[i].start;
			pp->ticks = all[i].ticks;
		}
		out->g[g].rss_kb += read_rss_kb(all[i].pid);
	}
	for (k = 0; k < nbench && k < PS_MAX_BENCH; k++) {
		const struct pstat *ps = lookup(all, n, bench[k]);

		out->bench_ticks[k] = ps ? ps->ticks : 0;
		out->bench_rss_kb += ps ? read_rss_kb(bench[k]) : 0;
	}
	machine_cpu(&out->cpu_busy, &out->cpu_total);
	out->t_ns = bench_now_ns();
}

static double secs_between(const struct ps_sample *a, const struct ps_sample *b)
{
	return (double)(b->t_ns - a->t_ns) / 1e9;
}

static double ticks_pct(uint64_t t0, uint64_t t1, double secs)
{
	if (secs <= 0 || t1 < t0)
		return 0;
	return (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / secs * 100.0;
}

double ps_cpu_pct(const struct ps_sample *a, const struct ps_sample *b, int i)
{
	uint64_t sum = 0;
	unsigned j, k;

	for (j = 0; j < b->nprocs; j++) {
		const struct ps_proc *pb = &b->procs[j];
		uint64_t before = 0;

		if (pb->group != i)
			continue;
		for (k = 0; k < a->nprocs; k++) {
			if (a->procs[k].pid == pb->pid && a->procs[k].start == pb->start) {
				before = a->procs[k].ticks;
				break;
			}
		}
		if (pb->ticks > before)
			sum += pb->ticks - before;
	}
	return ticks_pct(0, sum, secs_between(a, b));
}

double ps_bench_pct(const struct ps_sample *a, const struct ps_sample *b, int k)
{
	return ticks_pct(a->bench_ticks[k], b->bench_ticks[k], secs_between(a, b));
}

double ps_machine_pct(const struct ps_sample *a, const struct ps_sample *b)
{
	uint64_t dt = b->cpu_total - a->cpu_total;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!dt || b->cpu_total < a->cpu_total)
		return 0;
	return (double)(b->cpu_busy - a->cpu_busy) / (double)dt * 100.0 *
		(double)(ncpu > 0 ? ncpu : 1);
}
