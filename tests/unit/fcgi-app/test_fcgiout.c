/* test_fcgiout.c -- tests fcgi-app/fcgiout.c and http.c's answers: the records a FastCGI peer reads. */
#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "fcgiout.h"
#include "http.h"

/* What the peer (nginx's side) read until EOF; it then closes its end, as nginx does. */
struct peer {
	int fd;
	char *buf;
	size_t len, cap;
	const char *send; /* written first (the request's records), then read */
	size_t send_len;
	int probe;       /* after EOF, write a byte: did it pass (our end still open)? */
	int probe_errno; /* 0: it passed */
};

static void peer_io(struct peer *p)
{
	size_t off = 0;

	while (off < p->send_len) {
		ssize_t w = write(p->fd, p->send + off, p->send_len - off);

		if (w <= 0)
			return;
		off += (size_t)w;
	}
	for (;;) {
		ssize_t n;

		if (p->cap - p->len < 4096) {
			p->cap = p->cap ? 2 * p->cap : 65536;
			p->buf = realloc(p->buf, p->cap);
			if (!p->buf)
				return;
		}
		/* Small reads: the writer meets a full socket and writes in parts. */
		n = read(p->fd, p->buf + p->len, 4096);
		if (n <= 0)
			return;
		p->len += (size_t)n;
	}
}

static void *peer_run(void *arg)
{
	struct peer *p = arg;

	peer_io(p);
	if (p->probe)
		p->probe_errno = send(p->fd, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : errno;
	close(p->fd);
	return NULL;
}

/*
 * Checks that buf holds FCGI_STDOUT records of request id (each at most
 * 65535 content bytes, padded to 8), the empty one that ends the stream,
 * FCGI_END_REQUEST (status 0, complete) and nothing more; returns the
 * content, malloc'd, its length in *clen.
 */
static char *records_parse(const char *buf, size_t len, int id, size_t *clen)
{
	char *content = malloc(len + 1);
	size_t off = 0, n = 0;
	int eof = 0;

	assert_non_null(content);
	for (;;) {
		const FCGI_Header *h = (const FCGI_Header *)(const void *)(buf + off);
		size_t cl, pl;

		assert_true(off + FCGI_HEADER_LEN <= len);
		assert_int_equal(h->version, FCGI_VERSION_1);
		assert_int_equal(h->requestIdB1 << 8 | h->requestIdB0, id);
		cl = (size_t)h->contentLengthB1 << 8 | h->contentLengthB0;
		pl = h->paddingLength;
		assert_int_equal((cl + pl) % 8, 0);
		assert_true(pl < 8);
		assert_true(off + FCGI_HEADER_LEN + cl + pl <= len);
		if (h->type == FCGI_END_REQUEST) {
			const FCGI_EndRequestBody *b =
				(const FCGI_EndRequestBody *)(const void *)(h + 1);

			assert_true(eof);
			assert_int_equal(cl, sizeof(*b));
			assert_int_equal(b->protocolStatus, FCGI_REQUEST_COMPLETE);
			assert_int_equal(b->appStatusB3 | b->appStatusB2 | b->appStatusB1 |
						 b->appStatusB0,
					 0);
			/* Nothing after the end of the request. */
			assert_int_equal(off + FCGI_HEADER_LEN + cl + pl, len);
			break;
		}
		assert_int_equal(h->type, FCGI_STDOUT);
		assert_false(eof);
		if (cl == 0)
			eof = 1;
		memcpy(content + n, buf + off + FCGI_HEADER_LEN, cl);
		n += cl;
		off += FCGI_HEADER_LEN + cl + pl;
	}
	*clen = n;
	return content;
}

/* fcgiout_end of parts on a socket pair; checks the records carry their concatenation. */
static void check_parts(const struct iovec *parts, int nparts, int id)
{
	struct peer p = { 0 };
	pthread_t t;
	int sv[2];
	size_t total = 0, clen = 0, o = 0;
	char *want, *got;
	int sndbuf = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* A small buffer: large answers take several sendmsg calls. */
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	p.fd = sv[1];
	assert_int_equal(pthread_create(&t, NULL, peer_run, &p), 0);
	assert_int_equal(fcgiout_end(sv[0], id, parts, nparts), 0);
	close(sv[0]);
	pthread_join(t, NULL);
	for (int i = 0; i < nparts; i++)
		total += parts[i].iov_len;
	want = malloc(total + 1);
	assert_non_null(want);
	for (int i = 0; i < nparts; i++) {
		memcpy(want + o, parts[i].iov_base, parts[i].iov_len);
		o += parts[i].iov_len;
	}
	got = records_parse(p.buf, p.len, id, &clen);
	assert_int_equal(clen, total);
	assert_memory_equal(got, want, total);
	free(got);
	free(want);
	free(p.buf);
}

static char *pattern(size_t n, unsigned seed)
{
	char *b = malloc(n + 1);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + (i * 7 + seed) % 26);
	return b;
}

static void test_sizes_at_record_bounds(void **state)
{
	static const size_t sizes[] = { 0,     1,     7,     8,     9,      17000, 65527,
					65528, 65529, 65535, 65536, 131056, 131057 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *b = pattern(sizes[i], (unsigned)i);
		struct iovec one = { b, sizes[i] };

		check_parts(&one, 1, 1);
		free(b);
	}
	check_parts(NULL, 0, 1);
}

/* Parts of any length, empty ones among them, split across records; request ids above 255. */
static void test_parts_spanning_records(void **state)
{
	char *a = pattern(70000, 1), *b = pattern(3, 2), *c = pattern(65528, 3);
	struct iovec parts[] = {
		{ b, 3 }, { a, 0 }, { a, 70000 }, { b, 0 }, { c, 65528 }, { b, 1 }
	};

	(void)state;
	check_parts(parts, 6, 0x1234);
	check_parts(parts + 1, 1, 65535);
	free(a);
	free(b);
	free(c);
}

/* 8 parts of 128 KB: more records than one sendmsg's iovecs take, so it goes in batches. */
static void test_large_answer_in_batches(void **state)
{
	struct iovec parts[FCGIOUT_PARTS_MAX];
	char *bufs[FCGIOUT_PARTS_MAX];

	(void)state;
	for (int i = 0; i < FCGIOUT_PARTS_MAX; i++) {
		bufs[i] = pattern(131072 + (size_t)i, (unsigned)i);
		parts[i] = (struct iovec){ bufs[i], 131072 + (size_t)i };
	}
	check_parts(parts, FCGIOUT_PARTS_MAX, 7);
	for (int i = 0; i < FCGIOUT_PARTS_MAX; i++)
		free(bufs[i]);
}

/* A peer that is gone: -1 and EPIPE, not SIGPIPE (which would end this test). */
static void test_peer_gone(void **state)
{
	char *b = pattern(300000, 5);
	struct iovec one = { b, 300000 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	errno = 0;
	assert_int_equal(fcgiout_end(sv[0], 1, &one, 1), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	free(b);
}

static void test_parts_out_of_range(void **state)
{
	struct iovec parts[FCGIOUT_PARTS_MAX + 1];
	int sv[2];

	(void)state;
	memset(parts, 0, sizeof(parts));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	errno = 0;
	assert_int_equal(fcgiout_end(sv[0], 1, parts, FCGIOUT_PARTS_MAX + 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fcgiout_end(sv[0], 1, parts, -1), -1);
	assert_int_equal(fcgiout_end(sv[0], 1, NULL, 1), -1);
	close(sv[0]);
	close(sv[1]);
}

/* ---- through libfcgi: a real FCGX_Request, as chat-fcgi's loop serves it ---- */

/* Appends a record of type with content c[0, n) to buf at *len. */
static void rec_put(char *buf, size_t *len, int type, int id, const void *c, size_t n)
{
	FCGI_Header h = { FCGI_VERSION_1,
			  (unsigned char)type,
			  (unsigned char)(id >> 8),
			  (unsigned char)id,
			  (unsigned char)(n >> 8),
			  (unsigned char)n,
			  0,
			  0 };

	memcpy(buf + *len, &h, sizeof(h));
	memcpy(buf + *len + sizeof(h), c, n);
	*len += sizeof(h) + n;
}

/* A name-value pair of the FCGI_PARAMS stream (both lengths < 128). */
static size_t nv_put(char *buf, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	buf[0] = (char)nl;
	buf[1] = (char)vl;
	memcpy(buf + 2, name, nl);
	memcpy(buf + 2 + nl, value, vl);
	return 2 + nl + vl;
}

/*
 * The records nginx sends for GET /api/rooms: BEGIN_REQUEST, PARAMS, empty
 * PARAMS, empty STDIN; with a body, POST and the body in STDIN first.
 */
static size_t nginx_request(char *buf, int id, const char *body)
{
	FCGI_BeginRequestBody begin;
	char params[256];
	size_t len = 0, pl = 0;

	memset(&begin, 0, sizeof(begin));
	begin.roleB0 = FCGI_RESPONDER;
	rec_put(buf, &len, FCGI_BEGIN_REQUEST, id, &begin, sizeof(begin));
	pl += nv_put(params + pl, "REQUEST_METHOD", body ? "POST" : "GET");
	pl += nv_put(params + pl, "DOCUMENT_URI", "/api/rooms");
	pl += nv_put(params + pl, "QUERY_STRING", "");
	if (body) {
		char n[24];

		snprintf(n, sizeof(n), "%zu", strlen(body));
		pl += nv_put(params + pl, "CONTENT_LENGTH", n);
	}
	rec_put(buf, &len, FCGI_PARAMS, id, params, pl);
	rec_put(buf, &len, FCGI_PARAMS, id, "", 0);
	if (body)
		rec_put(buf, &len, FCGI_STDIN, id, body, strlen(body));
	rec_put(buf, &len, FCGI_STDIN, id, "", 0);
	return len;
}

/*
 * One request (with req_body: a POST whose body stays unread) accepted by
 * libfcgi on a unix socket and answered by how (0: http_send, then
 * fcgiout_release as chat-fcgi's loop does; 1: the same answer through
 * libfcgi's own stream and FCGX_Finish_r; 2: http_send twice). Returns
 * what the peer read: the content of the records, parsed; *probe_errno is
 * what the peer's write after EOF met (0: our end was still open).
 */
static char *serve_one(int how, const char *req_body, const char *body, size_t blen, size_t *clen,
		       int *probe_errno)
{
	char path[] = "/tmp/test_fcgiout.XXXXXX", sock[64], req[512];
	struct sockaddr_un sa;
	struct peer p = { 0 };
	FCGX_Request fr;
	struct http_req r;
	pthread_t t;
	char *content;
	int lfd;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/s", path);
	lfd = FCGX_OpenSocket(sock, 4);
	assert_true(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	p.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(p.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	p.send = req;
	p.send_len = nginx_request(req, 0x0102, req_body);
	p.probe = 1;
	assert_int_equal(pthread_create(&t, NULL, peer_run, &p), 0);

	assert_int_equal(FCGX_InitRequest(&fr, lfd, 0), 0);
	assert_int_equal(FCGX_Accept_r(&fr), 0);
	http_req_init(&r, &fr, 42, 7);
	assert_string_equal(r.path, "/api/rooms");
	if (how == 1) {
		assert_true(FCGX_PutStr(body, (int)blen, fr.out) == (int)blen);
		FCGX_Finish_r(&fr);
	} else {
		assert_int_equal(http_send(&r, 200, "ETag: \"x\"\r\n", body, blen), 0);
		assert_true(r.ended);
		if (how == 2)
			assert_int_equal(http_send(&r, 500, NULL, "{}", 2), -1);
		fcgiout_release(&fr);
	}
	/* The connection is closed: the peer reads to EOF. */
	pthread_join(t, NULL);
	close(lfd);
	unlink(sock);
	rmdir(path);
	content = records_parse(p.buf, p.len, 0x0102, clen);
	*probe_errno = p.probe_errno;
	free(p.buf);
	return content;
}

static void test_http_send_through_libfcgi(void **state)
{
	char *page = pattern(17000, 9), *got, *ref, *split;
	size_t glen, rlen;
	int probe;

	(void)state;
	for (int how = 0; how <= 2; how += 2) {
		got = serve_one(how, NULL, page, 17000, &glen, &probe);
		/* Everything read: the EOF nginx sees is the close itself. */
		assert_int_equal(probe, EPIPE);
		got[glen] = '\0';
		/* The header block, then exactly the body. */
		assert_non_null(strstr(got, "Status: 200 OK\r\n"));
		assert_non_null(strstr(got, "Content-Length: 17000\r\n"));
		assert_non_null(strstr(got, "X-Request-Id: 2a-7\r\n"));
		assert_non_null(strstr(got, "ETag: \"x\"\r\n"));
		assert_null(strstr(got, "Status: 500"));
		split = strstr(got, "\r\n\r\n");
		assert_non_null(split);
		assert_int_equal(glen - (size_t)(split + 4 - got), 17000);
		assert_memory_equal(split + 4, page, 17000);
		free(got);
	}
	/* libfcgi's own stream carries the same content under the same framing rules. */
	ref = serve_one(1, NULL, page, 17000, &rlen, &probe);
	/* libfcgi's own end lingers: shutdown first, then reading until we close. */
	assert_int_equal(probe, 0);
	assert_int_equal(rlen, 17000);
	assert_memory_equal(ref, page, 17000);
	free(ref);
	free(page);
}

/* A copy of list (NULL-terminated) as libfcgi's envp: writable strings. */
static char **env_dup(const char *const *list)
{
	size_t n = 0;
	char **v;

	while (list[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(list[i]);
		assert_non_null(v[i]);
	}
	return v;
}

static void env_free(char **v)
{
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* http_req_init's one pass: FCGX_GetParam's answers (the first entry of a name, whole names only). */
static void test_http_req_params(void **state)
{
	static const char *const env1[] = { "HTTP_COOKIE2=x",
					    "REQUEST_METHOD=GET",
					    "HTTP_COOKIE=a=b",
					    "HTTP_COOKIE=second",
					    "SCRIPT_NAME=/api/x",
					    "QUERY_STRING=",
					    "NOEQUALS",
					    "=",
					    "HTTP_ORIGIN=https://o",
					    "REQUEST_METHODX=PUT",
					    "REMOTE_ADDR=::1",
					    NULL };
	static const char *const env2[] = { "SCRIPT_NAME=/s",
					    "DOCUMENT_URI=/api/rooms",
					    "CONTENT_LENGTH=12",
					    "CONTENT_TYPE=application/json",
					    "HTTP_AUTHORIZATION=Bearer t",
					    NULL };
	static const char *const env3[] = { NULL };
	static const char *const names[] = { "REQUEST_METHOD",     "DOCUMENT_URI", "SCRIPT_NAME",
					     "QUERY_STRING",       "CONTENT_TYPE", "CONTENT_LENGTH",
					     "HTTP_AUTHORIZATION", "HTTP_COOKIE",  "REMOTE_ADDR",
					     "HTTP_ORIGIN" };
	const char *const *envs[] = { env1, env2, env3 };
	FCGX_Request fr;
	struct http_req r;

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		const char *want[10];

		memset(&fr, 0, sizeof(fr));
		fr.envp = env_dup(envs[k]);
		http_req_init(&r, &fr, 1, 2);
		/* What the per-name scans gave. */
		for (size_t i = 0; i < 10; i++)
			want[i] = FCGX_GetParam(names[i], fr.envp);
		assert_string_equal(r.method, want[0] ? want[0] : "");
		assert_string_equal(r.path, want[1] ? want[1] : want[2] ? want[2] : "");
		assert_string_equal(r.query, want[3] ? want[3] : "");
		assert_ptr_equal(r.content_type, want[4]);
		assert_ptr_equal(r.content_length, want[5]);
		assert_ptr_equal(r.authorization, want[6]);
		assert_ptr_equal(r.cookie, want[7]);
		assert_ptr_equal(r.remote_addr, want[8]);
		assert_ptr_equal(r.origin, want[9]);
		if (k == 0) {
			assert_string_equal(r.method, "GET");
			assert_string_equal(r.cookie, "a=b");
			assert_string_equal(r.path, "/api/x");
			assert_string_equal(r.remote_addr, "::1");
			assert_string_equal(r.id, "1-2");
		} else if (k == 1) {
			assert_string_equal(r.path, "/api/rooms");
		}
		env_free(fr.envp);
	}
}

/* A body left unread: libfcgi's lingering close (shutdown, then reading until the peer closes). */
static void test_unread_body_lingers(void **state)
{
	size_t glen;
	int probe;
	char *got;

	(void)state;
	got = serve_one(0, "{\"room_name\":\"unread\"}", "{}", 2, &glen, &probe);
	got[glen] = '\0';
	assert_int_equal(glen - (size_t)(strstr(got, "\r\n\r\n") + 4 - got), 2);
	/* EOF came from the shutdown: our end still read what the peer wrote. */
	assert_int_equal(probe, 0);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_at_record_bounds),
		cmocka_unit_test(test_parts_spanning_records),
		cmocka_unit_test(test_large_answer_in_batches),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_parts_out_of_range),
		cmocka_unit_test(test_http_send_through_libfcgi),
		cmocka_unit_test(test_unread_body_lingers),
		cmocka_unit_test(test_http_req_params),
	};

	if (FCGX_Init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
