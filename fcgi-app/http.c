/* http.c -- one FastCGI request: its parameters, its body, its answer. */
#include "http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "envelope.h"
#include "fcgiout.h"
#include "log.h"

/* The parameters http_req_init takes, as "NAME=" (the order of its fields[]). */
#define HTTP_EQ(name) \
	{ \
		name "=", sizeof(name) \
	}
static const struct {
	const char *eq;
	size_t len; /* of eq */
} http_param_eq[] = {
	HTTP_EQ("REQUEST_METHOD"), HTTP_EQ("DOCUMENT_URI"),   HTTP_EQ("QUERY_STRING"),
	HTTP_EQ("CONTENT_TYPE"),   HTTP_EQ("CONTENT_LENGTH"), HTTP_EQ("HTTP_AUTHORIZATION"),
	HTTP_EQ("HTTP_COOKIE"),    HTTP_EQ("REMOTE_ADDR"),    HTTP_EQ("HTTP_ORIGIN"),
	HTTP_EQ("SCRIPT_NAME"),
};

#define HTTP_NPARAMS (sizeof(http_param_eq) / sizeof(http_param_eq[0]))

void http_req_init(struct http_req *r, FCGX_Request *fcgi, unsigned pid, unsigned long seq)
{
	const char *script = NULL;
	const char **fields[HTTP_NPARAMS] = {
		&r->method,         &r->path,          &r->query,  &r->content_type,
		&r->content_length, &r->authorization, &r->cookie, &r->remote_addr,
		&r->origin,         &script,
	};

	memset(r, 0, sizeof(*r));
	r->fcgi = fcgi;
	/* One pass over the environment (about 40 entries from nginx), not
	 * one FCGX_GetParam scan per name; as FCGX_GetParam, the first entry
	 * of a name wins. */
	for (char **e = fcgi->envp; e && *e; e++) {
		for (size_t i = 0; i < HTTP_NPARAMS; i++) {
			const char *eq = http_param_eq[i].eq;

			if ((*e)[0] == eq[0] && !*fields[i] &&
			    strncmp(*e, eq, http_param_eq[i].len) == 0) {
				*fields[i] = *e + http_param_eq[i].len;
				break;
			}
		}
	}
	if (!r->path)
		r->path = script;
	if (!r->method)
		r->method = "";
	if (!r->path)
		r->path = "";
	if (!r->query)
		r->query = "";
	snprintf(r->id, sizeof(r->id), "%x-%lx", pid, seq);
}

int http_cors(struct http_req *r, const char *allowed_origins)
{
	size_t olen = r->origin ? strlen(r->origin) : 0;

	r->cors[0] = '\0';
	/* Echoed into a header: only an exact entry of the list, without controls. */
	if (!olen || olen > HTTP_ORIGIN_MAX || strcspn(r->origin, "\r\n") != olen ||
	    !cfg_origin_listed(allowed_origins, r->origin, olen))
		return 0;
	snprintf(r->cors, sizeof(r->cors),
		 "Access-Control-Allow-Origin: %s\r\n"
		 "Access-Control-Allow-Credentials: true\r\n"
		 "Access-Control-Expose-Headers: Retry-After, X-Request-Id\r\n"
		 "Vary: Origin\r\n",
		 r->origin);
	return 1;
}

void http_req_release(struct http_req *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

enum err_code http_read_body(struct http_req *r, long max)
{
	long declared = 0;
	size_t cap, len = 0;
	char *buf;

	if (r->content_length && *r->content_length &&
	    cfg_parse_long(r->content_length, 0, max, &declared))
		return ERR_PAYLOAD_TOO_LARGE;
	/* Read one byte past the limit so a body longer than declared is caught. */
	cap = (size_t)max + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return ERR_INTERNAL;
	for (;;) {
		int n = FCGX_GetStr(buf + len, (int)(cap - len), r->fcgi->in);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= cap)
			break;
	}
	if (len > (size_t)max) {
		free(buf);
		return ERR_PAYLOAD_TOO_LARGE;
	}
	buf[len] = '\0';
	r->body = buf;
	r->body_len = len;
	return ERR_NONE;
}

int http_is_json(const struct http_req *r)
{
	const char *ct = r->content_type;
	size_t n = sizeof("application/json") - 1;

	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

int http_send(struct http_req *r, int status, const char *extra_headers, const char *body,
	      size_t len)
{
	return http_send_typed(r, status, "application/json; charset=utf-8", extra_headers, body,
			       len);
}

int http_send_typed(struct http_req *r, int status, const char *type, const char *extra_headers,
		    const char *body, size_t len)
{
	struct iovec part = { (void *)(uintptr_t)body, len };

	return http_send_parts(r, status, type, extra_headers, &part, 1);
}

int http_send_parts(struct http_req *r, int status, const char *type, const char *extra_headers,
		    const struct iovec *body, int nbody)
{
	struct iovec parts[FCGIOUT_PARTS_MAX];
	char head[2048];
	size_t len = 0;
	int n;

	if (r->ended) {
		log_err("a second answer (%d) for request '%s' dropped", status, r->id);
		return -1;
	}
	if (nbody < 0 || nbody >= FCGIOUT_PARTS_MAX) {
		log_err("answer of %d parts for request '%s'", nbody, r->id);
		return -1;
	}
	for (int i = 0; i < nbody; i++)
		len += body[i].iov_len;
	n = snprintf(head, sizeof(head),
		     "Status: %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Cache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "X-Request-Id: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "%s%s%s\r\n",
		     status, http_reason(status), type, r->id, len, r->set_cookie, r->cors,
		     extra_headers ? extra_headers : "");
	r->status = status;
	if (n < 0 || (size_t)n >= sizeof(head)) {
		log_err("response header too long for request '%s'", r->id);
		return -1;
	}
	parts[0] = (struct iovec){ head, (size_t)n };
	if (nbody > 0)
		memcpy(parts + 1, body, (size_t)nbody * sizeof(*body));
	/* Whatever happens now, the request is over (fcgiout.h). */
	r->ended = 1;
	return fcgiout_end(r->fcgi->ipcFd, r->fcgi->requestId, parts, nbody + 1) ? -1 : 0;
}

int http_send_error(struct http_req *r, enum err_code code, const char *message, const char *field,
		    const char *extra_headers)
{
	size_t len = 0;
	char *body = envelope_error(code, message, field, &len);
	int rc;

	if (!body) {
		static const char oom[] =
			"{\"success\":false,\"error\":{\"code\":\"internal_error\","
			"\"message\":\"out of memory\"}}";

		return http_send(r, 500, NULL, oom, sizeof(oom) - 1);
	}
	rc = http_send(r, err_http_status(code), extra_headers, body, len);
	free(body);
	return rc;
}
