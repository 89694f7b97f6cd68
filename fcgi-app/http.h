/* http.h -- one FastCGI request: its parameters, its body, its answer. */
#ifndef CHAT_HTTP_H
#define CHAT_HTTP_H

#include <fcgiapp.h>
#include <stddef.h>
#include <sys/uio.h>

#include "err.h"

/* A longer Origin is no entry of CHAT_ALLOWED_ORIGINS that we echo. */
#define HTTP_ORIGIN_MAX 256

struct http_req {
	FCGX_Request *fcgi;
	const char *method;         /* REQUEST_METHOD */
	const char *path;           /* DOCUMENT_URI: decoded, without the query */
	const char *query;          /* QUERY_STRING, "" when none */
	const char *content_type;   /* CONTENT_TYPE or NULL */
	const char *content_length; /* CONTENT_LENGTH or NULL */
	const char *authorization;  /* HTTP_AUTHORIZATION or NULL */
	const char *cookie;         /* HTTP_COOKIE or NULL */
	const char *remote_addr;    /* REMOTE_ADDR or NULL */
	const char *origin;         /* HTTP_ORIGIN or NULL */
	char id[32];                /* request id for logs and X-Request-Id */
	char *body;                 /* owned, NUL-terminated, after http_read_body */
	size_t body_len;
	int status; /* status sent, 0 until then */
	int ended;  /* the answer and the end of the request were written (http_send_parts) */
	char set_cookie[192];             /* a Set-Cookie line every answer carries, or "" */
	char cors[HTTP_ORIGIN_MAX + 192]; /* CORS lines every answer carries, or "" */
};

/*
 * Reads the parameters of an accepted request. The strings point into
 * libfcgi's storage, valid until FCGX_Finish_r. The request id is pid
 * (the process's, given so that it costs no system call) and seq, which
 * makes it unique within the process.
 */
void http_req_init(struct http_req *r, FCGX_Request *fcgi, unsigned pid, unsigned long seq);

/*
 * CORS (DESIGN.md section 7): when the request's Origin is an entry of
 * allowed_origins (CHAT_ALLOWED_ORIGINS), every answer gets
 * Access-Control-Allow-Origin: <that origin>, -Allow-Credentials: true,
 * -Expose-Headers and Vary: Origin. Any other Origin, or none, gets no CORS
 * header at all. Returns nonzero when the origin is allowed.
 */
int http_cors(struct http_req *r, const char *allowed_origins);

/* Frees what the request owns (the body). */
void http_req_release(struct http_req *r);

/*
 * Reads the whole body, at most max bytes, into r->body. Returns ERR_NONE,
 * or ERR_PAYLOAD_TOO_LARGE when the declared or actual length passes max.
 */
enum err_code http_read_body(struct http_req *r, long max) __attribute__((warn_unused_result));

/* Returns nonzero when the Content-Type is application/json (any params). */
int http_is_json(const struct http_req *r);

/*
 * Sends the status, the standard headers, extra_headers (each line ending
 * in "\r\n", or NULL) and the body, and ends the FastCGI request
 * (fcgiout_end: r->ended is set, and the caller releases the request with
 * FCGX_Free instead of FCGX_Finish_r). A request is answered once: a second
 * answer is dropped. Returns 0, or -1 when the client is gone or nothing
 * could be sent.
 */
int http_send(struct http_req *r, int status, const char *extra_headers, const char *body,
	      size_t len);

/* As http_send, with another Content-Type than JSON. */
int http_send_typed(struct http_req *r, int status, const char *type, const char *extra_headers,
		    const char *body, size_t len);

/* As http_send_typed, the body being the concatenation of body[0, nbody), nbody < FCGIOUT_PARTS_MAX. */
int http_send_parts(struct http_req *r, int status, const char *type, const char *extra_headers,
		    const struct iovec *body, int nbody);

/* Sends the error envelope with the code's status. Returns as http_send. */
int http_send_error(struct http_req *r, enum err_code code, const char *message, const char *field,
		    const char *extra_headers);

#endif
