/* sio.c -- Engine.IO v4 / Socket.IO v5 packet codec (text packets only). */
#include "sio.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int sio_parse(const char *buf, size_t len, struct sio_packet *p)
{
	size_t i = 1;

	memset(p, 0, sizeof(*p));
	p->type = -1;
	p->ack_id = -1;
	p->nsp = "/";
	p->nsp_len = 1;
	if (len == 0 || buf[0] < SIO_EIO_OPEN || buf[0] > SIO_EIO_NOOP)
		return -1;
	p->eio = (enum sio_eio)buf[0];
	if (p->eio != SIO_EIO_MESSAGE) {
		p->data = buf + 1;
		p->data_len = len - 1;
		return 0;
	}
	if (len < 2 || buf[1] < '0' || buf[1] > '6')
		return -1;
	p->type = buf[1] - '0';
	i = 2;
	if (p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK) {
		size_t digits = 0;

		while (i < len && buf[i] >= '0' && buf[i] <= '9' && digits < 6) {
			i++;
			digits++;
		}
		if (digits == 0 || i >= len || buf[i] != '-')
			return -1;
		i++;
	}
	if (i < len && buf[i] == '/') {
		size_t start = i;

		while (i < len && buf[i] != ',')
			i++;
		/* A namespace alone ("40/admin") ends the packet without a comma. */
		p->nsp = buf + start;
		p->nsp_len = i - start;
		if (p->nsp_len > 128)
			return -1;
		if (i < len)
			i++;
	}
	if (i < len && buf[i] >= '0' && buf[i] <= '9') {
		long long id = 0;

		while (i < len && buf[i] >= '0' && buf[i] <= '9') {
			id = id * 10 + (buf[i] - '0');
			if (id > SIO_MAX_ACK_ID)
				return -1;
			i++;
		}
		p->ack_id = id;
	}
	p->data = buf + i;
	p->data_len = len - i;
	return 0;
}

int sio_is_main_nsp(const struct sio_packet *p)
{
	return p->nsp_len == 1 && p->nsp[0] == '/';
}

/* Builds head + body + tail into one frame. */
static struct frame *sio_concat(const char *head, size_t hl, const char *body, size_t bl,
				const char *tail, size_t tl)
{
	struct frame *f = frame_alloc(hl + bl + tl);
	char *p;

	if (!f)
		return NULL;
	p = frame_payload(f);
	memcpy(p, head, hl);
	if (bl)
		memcpy(p + hl, body, bl);
	if (tl)
		memcpy(p + hl + bl, tail, tl);
	return f;
}

struct frame *sio_event(const char *name, const char *json, size_t json_len)
{
	char head[96];
	int hl = snprintf(head, sizeof(head), "42[\"%s\",", name);

	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	return sio_concat(head, (size_t)hl, json, json_len, "]", 1);
}

struct frame *sio_ack(long long ack_id, const char *json, size_t json_len)
{
	char head[48];
	int hl = snprintf(head, sizeof(head), "43%lld[", ack_id);

	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	return sio_concat(head, (size_t)hl, json, json_len, "]", 1);
}

struct frame *sio_ack_ok(long long ack_id, const char *obj, size_t obj_len)
{
	char head[64];
	int hl;

	if (obj_len < 2 || obj[0] != '{')
		return NULL;
	/* {"ok":true} alone when the object is empty. */
	hl = snprintf(head, sizeof(head), "43%lld[{\"ok\":true%s", ack_id, obj_len == 2 ? "" : ",");
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	return sio_concat(head, (size_t)hl, obj + 1, obj_len - 1, "]", 1);
}

struct frame *sio_connect_ok(const char *sid)
{
	char buf[96];
	int n = snprintf(buf, sizeof(buf), "40{\"sid\":\"%s\"}", sid);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return frame_from(buf, (size_t)n);
}

/* Dumps a jansson value into a frame after the given prefix; steals v. */
static struct frame *sio_dump(const char *prefix, size_t pl, json_t *v, const char *tail)
{
	char *s;
	struct frame *f;

	if (!v)
		return NULL;
	s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!s)
		return NULL;
	f = sio_concat(prefix, pl, s, strlen(s), tail, strlen(tail));
	free(s);
	return f;
}

struct frame *sio_connect_error(const char *nsp, size_t nsp_len, const char *code,
				const char *message)
{
	char head[160];
	int hl;

	/* A namespace is echoed only when it is clean text (a polling body is
	 * not UTF-8-checked by lws); the client could not match another anyway. */
	if ((nsp_len == 1 && nsp[0] == '/') || utf8_check_text(nsp, nsp_len, 0, NULL) != UTF8_OK ||
	    memchr(nsp, ',', nsp_len))
		hl = snprintf(head, sizeof(head), "44");
	else
		hl = snprintf(head, sizeof(head), "44%.*s,", (int)nsp_len, nsp);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	/* socket.io-client surfaces message as err.message and data as err.data. */
	return sio_dump(head, (size_t)hl,
			json_pack("{s:s, s:{s:s, s:s}}", "message", code, "data", "code", code,
				  "message", message),
			"");
}

struct frame *sio_open(const char *sid, int can_upgrade, long ping_interval_ms,
		       long ping_timeout_ms, long max_payload)
{
	char buf[192];
	/* One per connection: printed, as sio_connect_ok (the sid needs no escape). */
	int n = snprintf(buf, sizeof(buf),
			 "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%ld,"
			 "\"pingTimeout\":%ld,\"maxPayload\":%ld}",
			 sid, can_upgrade ? "\"websocket\"" : "", ping_interval_ms, ping_timeout_ms,
			 max_payload);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return frame_from(buf, (size_t)n);
}

static json_t *sio_error_obj(const char *code, const char *message)
{
	return json_pack("{s:s, s:s}", "code", code, "message", message);
}

struct frame *sio_ack_error(long long ack_id, const char *code, const char *message)
{
	char head[48];
	int hl = snprintf(head, sizeof(head), "43%lld[", ack_id);

	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	return sio_dump(head, (size_t)hl,
			json_pack("{s:b, s:o}", "ok", 0, "error", sio_error_obj(code, message)),
			"]");
}

struct frame *sio_error_event(const char *code, const char *message)
{
	return sio_dump("42[\"error\",", sizeof("42[\"error\",") - 1, sio_error_obj(code, message),
			"]");
}
