/* metrics.c -- request counters of the pool, shared by its workers (one slot each). */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "textbuf.h"

struct metrics *metrics_new(int nslots)
{
	size_t size = sizeof(struct metrics) + (size_t)nslots * sizeof(struct metrics_slot);
	struct metrics *m =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	m->nslots = nslots;
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m)
		munmap(m, sizeof(struct metrics) + (size_t)m->nslots * sizeof(struct metrics_slot));
}

void metrics_request(struct metrics_slot *s, int status, unsigned long long duration_us)
{
	s->requests++;
	if (status >= 200 && status < 600)
		s->status[status / 100]++;
	s->duration_us += duration_us;
}

char *metrics_render(const struct metrics *m, size_t *len)
{
	size_t size = 4096 + (size_t)m->nslots * 512, n = 0;
	char *buf = malloc(size);
	unsigned long long req = 0, dur = 0, dbu = 0, st[6] = { 0 };

	if (!buf)
		return NULL;
	for (int i = 0; i < m->nslots; i++) {
		const struct metrics_slot *s = &m->slot[i];

		req += s->requests;
		dur += s->duration_us;
		dbu += s->db_unavailable;
		for (int k = 2; k < 6; k++)
			st[k] += s->status[k];
	}
	textbuf_printf(buf, size, &n,
		       "# HELP chat_fcgi_workers Worker slots of the pool.\n"
		       "# TYPE chat_fcgi_workers gauge\n"
		       "chat_fcgi_workers %d\n"
		       "# TYPE chat_fcgi_worker_restarts_total counter\n"
		       "chat_fcgi_worker_restarts_total %llu\n"
		       "# TYPE chat_fcgi_requests_total counter\n",
		       m->nslots, m->restarts);
	for (int k = 2; k < 6; k++)
		textbuf_printf(buf, size, &n, "chat_fcgi_requests_total{status=\"%dxx\"} %llu\n", k,
			       st[k]);
	textbuf_printf(buf, size, &n,
		       "# HELP chat_fcgi_request_duration_ms Time from accept to the answer.\n"
		       "# TYPE chat_fcgi_request_duration_ms_sum counter\n"
		       "chat_fcgi_request_duration_ms_sum %.3f\n"
		       "# TYPE chat_fcgi_request_duration_ms_count counter\n"
		       "chat_fcgi_request_duration_ms_count %llu\n"
		       "# TYPE chat_fcgi_db_unavailable_total counter\n"
		       "chat_fcgi_db_unavailable_total %llu\n"
		       "# HELP chat_fcgi_worker_requests_total Requests per worker slot.\n"
		       "# TYPE chat_fcgi_worker_requests_total counter\n",
		       (double)dur / 1000.0, req, dbu);
	for (int i = 0; i < m->nslots; i++)
		textbuf_printf(buf, size, &n,
			       "chat_fcgi_worker_requests_total{slot=\"%d\",pid=\"%d\"} %llu\n", i,
			       (int)m->slot[i].pid, m->slot[i].requests);
	if (n >= size)
		n = size - 1;
	buf[n] = '\0';
	*len = n;
	return buf;
}
