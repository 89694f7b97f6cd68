/* metrics.c -- the chat-fcgi workers' counters, in one mapping they all share. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "textbuf.h"
#include "version.h"

#define METRICS_MAGIC 0x63686d31u /* "chm1" */
#define METRICS_PAGE_MAX 8192

/* "<socket path>.metrics" of the unix socket on fd 0, or "" when there is none. */
static void metrics_default_path(char *out, size_t outlen)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	out[0] = '\0';
	memset(&sa, 0, sizeof(sa));
	if (getsockname(0, (struct sockaddr *)&sa, &len) != 0 || sa.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] != '/')
		return;
	sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
	if ((size_t)snprintf(out, outlen, "%s.metrics", sa.sun_path) >= outlen)
		out[0] = '\0';
}

/* Maps path, resetting it under an exclusive lock when its layout is not ours. NULL on failure. */
static struct metrics *metrics_map_file(const char *path)
{
	struct metrics *m = NULL;
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_warn("cannot open the metrics file '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
		log_warn("cannot lock the metrics file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size != (off_t)sizeof(*m) &&
	    (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)sizeof(*m)) != 0)) {
		log_warn("cannot size the metrics file '%s': %s", path, strerror(errno));
		goto out;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		log_warn("cannot map the metrics file '%s': %s", path, strerror(errno));
		m = NULL;
		goto out;
	}
	if (m->magic != METRICS_MAGIC || m->size != sizeof(*m)) {
		memset(m, 0, sizeof(*m));
		m->magic = METRICS_MAGIC;
		m->size = sizeof(*m);
	}
out:
	/*
	 * Unlocked by hand: the mapping holds the open file description, so
	 * close() alone would keep the lock for as long as the mapping lives
	 * and every other process opening the file would wait for this one
	 * to exit.
	 */
	flock(fd, LOCK_UN);
	close(fd);
	return m;
}

struct metrics *metrics_open(const char *path, char *shared_path, size_t pathlen)
{
	struct metrics *m = NULL;
	char derived[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];

	shared_path[0] = '\0';
	if (!path || !path[0]) {
		metrics_default_path(derived, sizeof(derived));
		path = derived;
	}
	if (path[0])
		m = metrics_map_file(path);
	if (m) {
		snprintf(shared_path, pathlen, "%s", path);
	} else {
		m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			 0);
		if (m == MAP_FAILED)
			return NULL;
		m->magic = METRICS_MAGIC;
		m->size = sizeof(*m);
	}
	return m;
}

void metrics_close(struct metrics *m)
{
	if (m)
		munmap(m, sizeof(*m));
}

void metrics_request(struct metrics *m, int status, unsigned long long duration_us)
{
	if (status >= 200 && status < 600)
		atomic_fetch_add_explicit(&m->requests[status / 100], 1, memory_order_relaxed);
	if (status == 503)
		atomic_fetch_add_explicit(&m->db_unavailable, 1, memory_order_relaxed);
	histo_observe(&m->duration, duration_us);
}

void metrics_replica(struct metrics *m, enum metrics_replica what)
{
	if (m && (unsigned)what < METRICS_REPLICA__COUNT)
		atomic_fetch_add_explicit(&m->replica[what], 1, memory_order_relaxed);
}

char *metrics_render(const struct metrics *m, size_t *len)
{
	size_t size = METRICS_PAGE_MAX, n = 0;
	char *buf = malloc(size);

	if (!buf)
		return NULL;
	textbuf_printf(
		buf, size, &n,
		"# HELP chat_build_info The release and the schema version of this build.\n"
		"# TYPE chat_build_info gauge\n"
		"chat_build_info{version=\"%s\",schema=\"%s\"} 1\n"
		"# HELP chat_fcgi_worker_restarts_total Workers the built-in pool replaced.\n"
		"# TYPE chat_fcgi_worker_restarts_total counter\n"
		"chat_fcgi_worker_restarts_total %llu\n"
		"# HELP chat_fcgi_requests_total Requests answered, by status class.\n"
		"# TYPE chat_fcgi_requests_total counter\n",
		version_release(), version_schema(), m->restarts);
	for (int k = 2; k < 6; k++)
		textbuf_printf(buf, size, &n, "chat_fcgi_requests_total{status=\"%dxx\"} %llu\n", k,
			       atomic_load_explicit(&m->requests[k], memory_order_relaxed));
	textbuf_printf(buf, size, &n,
		       "# HELP chat_fcgi_db_unavailable_total Requests answered 503: the "
		       "database was unavailable.\n"
		       "# TYPE chat_fcgi_db_unavailable_total counter\n"
		       "chat_fcgi_db_unavailable_total %llu\n",
		       atomic_load_explicit(&m->db_unavailable, memory_order_relaxed));
	textbuf_printf(
		buf, size, &n,
		"# HELP chat_fcgi_replica_reads_total Reads a replica could answer "
		"(CHAT_DATABASE_READ_URL), by the server that answered: the replica, or the primary "
		"because the replica was behind the caller, answered an error, or was "
		"down.\n"
		"# TYPE chat_fcgi_replica_reads_total counter\n"
		"chat_fcgi_replica_reads_total{server=\"replica\",reason=\"caught_up\"} %llu\n"
		"chat_fcgi_replica_reads_total{server=\"primary\",reason=\"behind\"} %llu\n"
		"chat_fcgi_replica_reads_total{server=\"primary\",reason=\"error\"} %llu\n"
		"chat_fcgi_replica_reads_total{server=\"primary\",reason=\"down\"} %llu\n",
		atomic_load_explicit(&m->replica[METRICS_REPLICA_SERVED], memory_order_relaxed),
		atomic_load_explicit(&m->replica[METRICS_REPLICA_BEHIND], memory_order_relaxed),
		atomic_load_explicit(&m->replica[METRICS_REPLICA_ERROR], memory_order_relaxed),
		atomic_load_explicit(&m->replica[METRICS_REPLICA_DOWN], memory_order_relaxed));
	histo_render(&m->duration, "chat_fcgi_request_duration_seconds",
		     "Time from accepting a request to its answer.", buf, size, &n);
	if (n >= size) {
		log_warn("metrics page truncated at %zu bytes", size);
		n = size - 1;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}
