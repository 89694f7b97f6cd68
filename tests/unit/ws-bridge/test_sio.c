/* test_sio.c -- tests ws-bridge/sio.c: the Engine.IO/Socket.IO codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sio.h"

static int parse(const char *s, struct sio_packet *p)
{
	return sio_parse(s, strlen(s), p);
}

static void test_engine_packets(void **state)
{
	struct sio_packet p;

	(void)state;
	assert_int_equal(parse("2", &p), 0);
	assert_int_equal(p.eio, SIO_EIO_PING);
	assert_int_equal(p.type, -1);
	assert_int_equal(parse("2probe", &p), 0);
	assert_int_equal(p.data_len, 5);
	assert_memory_equal(p.data, "probe", 5);
	assert_int_equal(parse("3", &p), 0);
	assert_int_equal(p.eio, SIO_EIO_PONG);
	assert_int_equal(parse("5", &p), 0);
	assert_int_equal(parse("6", &p), 0);
	assert_int_equal(parse("1", &p), 0);
	assert_int_equal(parse("", &p), -1);
	assert_int_equal(parse("7", &p), -1);
	assert_int_equal(parse("x", &p), -1);
	assert_int_equal(parse("b4AQID", &p), -1); /* base64 binary: refused */
}

static void test_socketio_packets(void **state)
{
	struct sio_packet p;

	(void)state;
	assert_int_equal(parse("40", &p), 0);
	assert_int_equal(p.type, SIO_CONNECT);
	assert_true(sio_is_main_nsp(&p));
	assert_int_equal(p.data_len, 0);
	assert_int_equal(parse("40{\"token\":\"abc\"}", &p), 0);
	assert_int_equal(p.data_len, 15);
	assert_int_equal(parse("40/admin,", &p), 0);
	assert_false(sio_is_main_nsp(&p));
	assert_int_equal(p.nsp_len, 6);
	assert_int_equal(parse("40/admin", &p), 0);
	assert_int_equal(p.nsp_len, 6);
	assert_int_equal(parse("42[\"a\",{}]", &p), 0);
	assert_int_equal(p.type, SIO_EVENT);
	assert_int_equal(p.ack_id, -1);
	assert_int_equal(parse("4217[\"a\",{}]", &p), 0);
	assert_int_equal(p.ack_id, 17);
	assert_memory_equal(p.data, "[\"a\",{}]", 8);
	assert_int_equal(parse("42/chat,5[\"a\"]", &p), 0);
	assert_int_equal(p.ack_id, 5);
	assert_int_equal(p.nsp_len, 5);
	assert_int_equal(parse("451-[\"a\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
	assert_int_equal(p.type, SIO_BINARY_EVENT);
	assert_int_equal(parse("45[\"a\"]", &p), -1);  /* no attachment count */
	assert_int_equal(parse("451[\"a\"]", &p), -1); /* no dash */
	assert_int_equal(parse("47", &p), -1);
	assert_int_equal(parse("4", &p), -1);
	assert_int_equal(parse("4x", &p), -1);
}

static void test_ack_id_bounds(void **state)
{
	struct sio_packet p;

	(void)state;
	assert_int_equal(parse("429007199254740991[\"a\"]", &p), 0);
	assert_true(p.ack_id == 9007199254740991LL);
	assert_int_equal(parse("429007199254740992[\"a\"]", &p), -1);
	assert_int_equal(parse("4299999999999999999999999[\"a\"]", &p), -1);
}

static void test_namespace_too_long(void **state)
{
	char buf[300] = "40/";
	struct sio_packet p;

	(void)state;
	memset(buf + 3, 'a', 200);
	buf[203] = ',';
	buf[204] = '\0';
	assert_int_equal(parse(buf, &p), -1);
}

static void assert_frame(struct frame *f, const char *want)
{
	assert_non_null(f);
	assert_int_equal(f->len, strlen(want));
	assert_memory_equal(frame_payload(f), want, f->len);
	frame_unref(f);
}

static void test_builders(void **state)
{
	(void)state;
	assert_frame(sio_event("new_message", "{\"id\":1}", 8), "42[\"new_message\",{\"id\":1}]");
	assert_frame(sio_ack(7, "{\"ok\":true}", 11), "437[{\"ok\":true}]");
	assert_frame(sio_ack_ok(3, "{\"room\":1}", 10), "433[{\"ok\":true,\"room\":1}]");
	assert_frame(sio_ack_ok(3, "{}", 2), "433[{\"ok\":true}]");
	assert_null(sio_ack_ok(3, "[]", 2));
	assert_frame(sio_connect_ok("abc"), "40{\"sid\":\"abc\"}");
	assert_frame(sio_error_event("forbidden", "no \"way\""),
		     "42[\"error\",{\"code\":\"forbidden\",\"message\":\"no \\\"way\\\"\"}]");
}

static void test_connect_error_and_open(void **state)
{
	struct frame *f;
	json_t *j;

	(void)state;
	f = sio_connect_error("/", 1, "unauthorized", "no token");
	assert_non_null(f);
	assert_memory_equal(frame_payload(f), "44{", 3);
	j = json_loadb(frame_payload(f) + 2, f->len - 2, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "message")), "unauthorized");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "code")),
			    "unauthorized");
	json_decref(j);
	frame_unref(f);
	f = sio_connect_error("/admin", 6, "not_found", "Invalid namespace");
	assert_memory_equal(frame_payload(f), "44/admin,{", 10);
	frame_unref(f);
	/* A namespace that is not clean text is not echoed. */
	f = sio_connect_error("/\xff", 2, "not_found", "Invalid namespace");
	assert_memory_equal(frame_payload(f), "44{", 3);
	frame_unref(f);
	f = sio_open("sid1", 1, 25000, 20000, 65536);
	/* Byte for byte what json_dumps(JSON_COMPACT) wrote before it was printed. */
	assert_int_equal(f->len,
			 strlen("0{\"sid\":\"sid1\",\"upgrades\":[\"websocket\"],"
				"\"pingInterval\":25000,\"pingTimeout\":20000,"
				"\"maxPayload\":65536}"));
	assert_memory_equal(
		frame_payload(f),
		"0{\"sid\":\"sid1\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
		"\"pingTimeout\":20000,\"maxPayload\":65536}",
		f->len);
	j = json_loadb(frame_payload(f) + 1, f->len - 1, 0, NULL);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "upgrades"), 0)),
			    "websocket");
	assert_int_equal(json_integer_value(json_object_get(j, "pingInterval")), 25000);
	json_decref(j);
	frame_unref(f);
	f = sio_open("sid1", 0, 25000, 20000, 65536);
	assert_memory_equal(frame_payload(f), "0{\"sid\":\"sid1\",\"upgrades\":[],\"ping", 34);
	j = json_loadb(frame_payload(f) + 1, f->len - 1, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(j, "upgrades")), 0);
	json_decref(j);
	frame_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_packets),
		cmocka_unit_test(test_socketio_packets),
		cmocka_unit_test(test_ack_id_bounds),
		cmocka_unit_test(test_namespace_too_long),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_connect_error_and_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
