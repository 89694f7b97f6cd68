/* request.c -- what an HTTP request or WebSocket handshake brings, and the HTTP answer to it. */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "tok.h"

/*
 * Returns nonzero when the Origin may use the endpoint: no Origin (not a
 * browser), an exact entry of CHAT_ALLOWED_ORIGINS, or the same host as
 * the request (same-origin through nginx). An allowed Origin is copied to
 * echo (CORS) when echo is not NULL.
 */
static int req_origin_ok(struct lws *wsi, const struct cfg *cfg, char *echo, size_t echolen)
{
	char origin[256], host[256];
	const char *o;
	size_t olen;

	if (echo)
		echo[0] = '\0';
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return 1;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return 0;
	olen = strlen(origin);
	if (!cfg_origin_listed(cfg->allowed_origins, origin, olen)) {
		o = strstr(origin, "://");
		if (!o || lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0 ||
		    strcasecmp(o + 3, host) != 0)
			return 0;
	}
	if (echo && olen < echolen)
		memcpy(echo, origin, olen + 1);
	return 1;
}

/* X-Real-IP, else the last X-Forwarded-For hop (addr_client() decides which to believe). */
void req_client_addr(struct lws *wsi, char *out, size_t outlen)
{
	char peer[64] = "", real_ip[64];
	char *xff = NULL;
	int rl = lws_hdr_copy(wsi, real_ip, sizeof(real_ip), WSI_TOKEN_HTTP_X_REAL_IP);
	int xl = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);

	if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
		peer[0] = '\0';
	/* A long X-Forwarded-For is read whole: its last hop is the client. */
	if (rl <= 0 && xl > 0) {
		xff = malloc((size_t)xl + 1);
		if (xff && lws_hdr_copy(wsi, xff, xl + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0) {
			free(xff);
			xff = NULL;
		}
	}
	addr_client(peer, rl > 0 ? real_ip : NULL, xff, out, outlen);
	free(xff);
}

/* ?token= when well-formed, else the cookie's. */
void req_token(struct lws *wsi, char *out)
{
	char buf[512], cookie[1024];
	const char *v, *tok;
	size_t toklen;

	out[0] = '\0';
	/* lws_get_urlarg_by_name() returns a pointer past "name=" in buf. */
	v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (v && tok_wellformed(v, strlen(v))) {
		memcpy(out, v, TOK_LEN + 1);
	} else if (lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE) > 0 &&
		   tok_from_cookie(cookie, &tok, &toklen) == TOK_FOUND) {
		memcpy(out, tok, toklen);
		out[toklen] = '\0';
	}
}

int req_check(const struct cfg *cfg, struct lws *wsi, const char *transport, struct conn_wsi *w,
	      int *status, const char **answer)
{
	/* lws_get_urlarg_by_name() copies each argument into buf while it looks:
	 * a small buf stops the search at the first long one (a token). */
	char uri[128], buf[512];
	const char *v;

	*status = 400;
	if ((lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 &&
	     lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_POST_URI) <= 0 &&
	     lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_OPTIONS_URI) <= 0) ||
	    strncmp(uri, "/socket.io/", 11) != 0) {
		*status = 404;
		*answer = "{\"code\":0,\"message\":\"Not found\"}";
		return -1;
	}
	v = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof(buf));
	if (!v || strcmp(v, "4") != 0) {
		*answer = "{\"code\":5,\"message\":\"Unsupported protocol version\"}";
		return -1;
	}
	v = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof(buf));
	if (!v || strcmp(v, transport) != 0) {
		*answer = "{\"code\":0,\"message\":\"Transport unknown\"}";
		return -1;
	}
	if (!req_origin_ok(wsi, cfg, w->origin, sizeof(w->origin))) {
		*status = 403;
		*answer = "{\"code\":4,\"message\":\"Forbidden\"}";
		log_warn("refused a request: origin not allowed");
		return -1;
	}
	w->sid[0] = '\0';
	v = lws_get_urlarg_by_name(wsi, "sid=", buf, sizeof(buf));
	if (v)
		snprintf(w->sid, sizeof(w->sid), "%s", v);
	return 0;
}

/* ---- the answer ---------------------------------------------------------------- */

int req_reply(struct lws *wsi, const struct conn_wsi *w, unsigned status, const char *type,
	      const char *body, size_t len)
{
	unsigned char *buf = malloc(LWS_PRE + 1024 + len);
	unsigned char *start, *p, *end;
	int rc = -1;

	if (!buf)
		return -1;
	start = p = buf + LWS_PRE;
	end = start + 1024 - 1;
	if (lws_add_http_common_headers(wsi, status, type, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		goto out;
	if (w->origin[0] &&
	    (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
					 (const unsigned char *)w->origin, (int)strlen(w->origin),
					 &p, end) ||
	     lws_add_http_header_by_name(wsi,
					 (const unsigned char *)"access-control-allow-credentials:",
					 (const unsigned char *)"true", 4, &p, end)))
		goto out;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	memcpy(start, body, len);
	if (lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(buf);
	return rc;
}

void req_refuse(struct lws *wsi, const struct conn_wsi *w, unsigned status, const char *answer)
{
	if (req_reply(wsi, w, status, "application/json", answer, strlen(answer)) < 0)
		log_debug("cannot answer a refused upgrade");
}
