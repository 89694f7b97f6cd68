/* fuzz_sio.c -- libFuzzer harness for sio_parse and the Socket.IO frame builders. */
#include <jansson.h>
#include <unistr.h>

#include "err.h"
#include "fuzz.h"
#include "sio.h"
#include "utf8.h"

static int fuzz_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Checks that f holds exactly head, then mid, then tail, NUL-terminated; drops f. */
static void check_frame(struct frame *f, const char *head, size_t hl, const char *mid, size_t ml,
			const char *tail)
{
	size_t tl = strlen(tail);
	const char *p;

	FUZZ_CHECK(f != NULL);
	p = frame_payload(f);
	FUZZ_CHECK(f->refs == 1);
	FUZZ_CHECK(f->len == hl + ml + tl);
	FUZZ_CHECK(memcmp(p, head, hl) == 0);
	FUZZ_CHECK(ml == 0 || memcmp(p + hl, mid, ml) == 0);
	FUZZ_CHECK(memcmp(p + hl + ml, tail, tl) == 0);
	FUZZ_CHECK(p[f->len] == '\0');
	frame_unref(f);
}

/*
 * Checks a frame whose payload is prefix followed by JSON text (and tail),
 * returns the parsed JSON (the caller releases it) and drops f.
 */
static json_t *frame_json(struct frame *f, const char *prefix, size_t pl, size_t tl)
{
	const char *p;
	json_t *v;
	json_error_t jerr;

	FUZZ_CHECK(f != NULL);
	p = frame_payload(f);
	FUZZ_CHECK(f->len >= pl + tl);
	FUZZ_CHECK(memcmp(p, prefix, pl) == 0);
	/* What the bridge sends is a WebSocket text frame: UTF-8 throughout. */
	FUZZ_CHECK(u8_check((const uint8_t *)p, f->len) == NULL);
	v = json_loadb(p + pl, f->len - pl - tl, 0, &jerr);
	FUZZ_CHECK(v != NULL);
	frame_unref(f);
	return v;
}

/* The answers the bridge builds from a parsed packet (bridge_on_message, ev_fail). */
static void run_builders(const struct sio_packet *p, int utf8_input)
{
	char head[64];
	int hl;
	json_t *v;
	struct frame *f;

	/* A client ping gets a pong carrying the same data. */
	if (p->eio == SIO_EIO_PING) {
		f = frame_alloc(1 + p->data_len);
		FUZZ_CHECK(f != NULL);
		frame_payload(f)[0] = SIO_EIO_PONG;
		memcpy(frame_payload(f) + 1, p->data, p->data_len);
		check_frame(f, "3", 1, p->data, p->data_len, "");
	}
	if (p->eio != SIO_EIO_MESSAGE)
		return;

	/* CONNECT to another namespace is refused naming that namespace, when
	 * it is clean text without a comma; else without a namespace. */
	if (!sio_is_main_nsp(p)) {
		int echoed = utf8_check_text(p->nsp, p->nsp_len, 0, NULL) == UTF8_OK &&
			!memchr(p->nsp, ',', p->nsp_len);
		size_t shown = echoed ? strnlen(p->nsp, p->nsp_len) : 0;
		size_t head_len = echoed ? 3 + shown : 2;

		f = sio_connect_error(p->nsp, p->nsp_len, "not_found", "Invalid namespace");
		FUZZ_CHECK(f != NULL);
		FUZZ_CHECK(f->len > head_len);
		FUZZ_CHECK(memcmp(frame_payload(f), "44", 2) == 0);
		if (echoed) {
			FUZZ_CHECK(memcmp(frame_payload(f) + 2, p->nsp, shown) == 0);
			FUZZ_CHECK(frame_payload(f)[2 + shown] == ',');
		} else {
			FUZZ_CHECK(frame_payload(f)[2] == '{');
		}
		if (utf8_input) {
			char prefix[160];

			memcpy(prefix, frame_payload(f), head_len);
			v = frame_json(f, prefix, head_len, 0);
			FUZZ_CHECK(json_is_string(json_object_get(v, "message")));
			json_decref(v);
		} else {
			frame_unref(f);
		}
	}

	/* Any answer to an event with an ack id. */
	if (p->ack_id >= 0) {
		hl = snprintf(head, sizeof(head), "43%lld[", p->ack_id);
		FUZZ_CHECK(hl > 3 && (size_t)hl < sizeof(head));
		check_frame(sio_ack(p->ack_id, p->data, p->data_len), head, (size_t)hl, p->data,
			    p->data_len, "]");

		f = sio_ack_ok(p->ack_id, p->data, p->data_len);
		if (p->data_len < 2 || p->data[0] != '{') {
			FUZZ_CHECK(f == NULL);
		} else {
			hl = snprintf(head, sizeof(head), "43%lld[{\"ok\":true%s", p->ack_id,
				      p->data_len == 2 ? "" : ",");
			FUZZ_CHECK(hl > 0 && (size_t)hl < sizeof(head));
			check_frame(f, head, (size_t)hl, p->data + 1, p->data_len - 1, "]");
		}

		hl = snprintf(head, sizeof(head), "43%lld", p->ack_id);
		v = frame_json(sio_ack_error(p->ack_id, err_name(ERR_VALIDATION),
					     "binary attachments are not supported"),
			       head, (size_t)hl, 0);
		FUZZ_CHECK(json_is_array(v) && json_array_size(v) == 1);
		FUZZ_CHECK(json_is_false(json_object_get(json_array_get(v, 0), "ok")));
		json_decref(v);
	}

	/* Events built around JSON from the database; here the client's bytes. */
	check_frame(sio_event("new_message", p->data, p->data_len), "42[\"new_message\",", 17,
		    p->data, p->data_len, "]");
	v = frame_json(sio_error_event(err_name(ERR_INVALID_JSON), "an event is a JSON array"),
		       "42", 2, 0);
	FUZZ_CHECK(json_is_array(v) && json_array_size(v) == 2);
	json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *end = buf + size;
	const char *pos;
	struct sio_packet p;
	int nsp_in_buf;

	if (sio_parse(buf, size, &p) != 0)
		return 0;

	/* The Engine.IO layer: a type digit, then data running to the end. */
	FUZZ_CHECK(size >= 1);
	FUZZ_CHECK(p.eio == (enum sio_eio)buf[0]);
	FUZZ_CHECK(p.eio >= SIO_EIO_OPEN && p.eio <= SIO_EIO_NOOP);
	FUZZ_CHECK(p.data >= buf + 1 && p.data <= end);
	FUZZ_CHECK(p.data_len == (size_t)(end - p.data));
	FUZZ_CHECK(p.nsp != NULL && p.nsp_len >= 1 && p.nsp[0] == '/');
	FUZZ_CHECK(sio_is_main_nsp(&p) == (p.nsp_len == 1));
	if (p.eio != SIO_EIO_MESSAGE) {
		FUZZ_CHECK(p.type == -1);
		FUZZ_CHECK(p.ack_id == -1);
		FUZZ_CHECK(p.data == buf + 1);
		FUZZ_CHECK(sio_is_main_nsp(&p));
		run_builders(&p, u8_check(data, size) == NULL);
		return 0;
	}

	/* The Socket.IO layer: rebuild the header from its parts. */
	FUZZ_CHECK(size >= 2);
	FUZZ_CHECK(p.type >= SIO_CONNECT && p.type <= SIO_BINARY_ACK);
	FUZZ_CHECK(p.type == buf[1] - '0');
	FUZZ_CHECK(p.ack_id >= -1 && p.ack_id <= SIO_MAX_ACK_ID);
	pos = buf + 2;
	if (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) {
		const char *d = pos;

		while (pos < end && fuzz_digit(*pos))
			pos++;
		FUZZ_CHECK(pos > d && pos - d <= 6);
		FUZZ_CHECK(pos < end && *pos == '-');
		pos++;
	}
	nsp_in_buf = p.nsp >= buf && p.nsp < end;
	if (nsp_in_buf) {
		FUZZ_CHECK(p.nsp == pos);
		FUZZ_CHECK(p.nsp_len <= 128);
		FUZZ_CHECK(p.nsp + p.nsp_len <= end);
		FUZZ_CHECK(memchr(p.nsp, ',', p.nsp_len) == NULL);
		pos += p.nsp_len;
		if (pos < end) {
			FUZZ_CHECK(*pos == ',');
			pos++;
		}
	} else {
		/* No namespace in the packet: the default, "/". */
		FUZZ_CHECK(p.nsp_len == 1);
		FUZZ_CHECK(pos == end || *pos != '/');
	}
	if (p.ack_id >= 0) {
		long long id = 0;

		FUZZ_CHECK(pos < end && fuzz_digit(*pos));
		while (pos < end && fuzz_digit(*pos)) {
			id = id * 10 + (*pos - '0');
			FUZZ_CHECK(id <= SIO_MAX_ACK_ID);
			pos++;
		}
		FUZZ_CHECK(id == p.ack_id);
	}
	FUZZ_CHECK(pos == p.data);
	/* The digits of an ack id are all taken: data never starts with one. */
	FUZZ_CHECK(p.data_len == 0 || !fuzz_digit(p.data[0]));

	run_builders(&p, u8_check(data, size) == NULL);
	return 0;
}
