/* setup.c -- the REST set-up of a run over libcurl (many requests in flight) and jansson. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "setup.h"

#define RESP_MAX (4u * 1024u * 1024u)
#define MAX_TRIES 5

/* Parses one answer body; returns 0 or -1 with a message in err. */
typedef int (*done_fn)(void *arg, size_t i, const json_t *data, char *err, size_t errlen);
/* Writes request i's path and body. */
typedef void (*make_fn)(void *arg, size_t i, char *path, size_t plen, char *body, size_t blen);

struct slot {
	CURL *h;
	size_t job;
	int tries;
	char *resp;
	size_t len, cap;
	char path[256];
	char body[1024];
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t n = size * nmemb;

	if (s->len + n + 1 > RESP_MAX)
		return 0;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 8192;
		char *nb;

		while (cap < s->len + n + 1)
			cap *= 2;
		nb = realloc(s->resp, cap);
		if (!nb)
			return 0;
		s->resp = nb;
		s->cap = cap;
	}
	memcpy(s->resp + s->len, ptr, n);
	s->len += n;
	s->resp[s->len] = '\0';
	return n;
}

int setup_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int start(CURLM *m, struct slot *s, const char *base, struct curl_slist *hdrs, make_fn make,
		 void *arg)
{
	char url[512];

	make(arg, s->job, s->path, sizeof(s->path), s->body, sizeof(s->body));
	snprintf(url, sizeof(url), "%s%s", base, s->path);
	s->len = 0;
	curl_easy_reset(s->h);
	curl_easy_setopt(s->h, CURLOPT_URL, url);
	curl_easy_setopt(s->h, CURLOPT_COPYPOSTFIELDS, s->body);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 60L);
	return curl_multi_add_handle(m, s->h) == CURLM_OK ? 0 : -1;
}

/*
 * Runs n POST requests with at most `conc` in flight; hands each answer's
 * data to done(). A 429/502/503/504 or transport error is retried a few
 * times. Returns 0, or -1 with a message in err.
 */
static int post_all(const char *base, const char *token, size_t n, long conc, make_fn make,
		    done_fn done, void *arg, char *err, size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	struct slot *slots;
	CURLM *m = curl_multi_init();
	size_t next = 0, finished = 0, i;
	int running = 0, rc = -1;
	char auth[BENCH_TOKEN_LEN + 32];

	if (conc < 1)
		conc = 1;
	if ((size_t)conc > n)
		conc = (long)(n ? n : 1);
	slots = calloc((size_t)conc, sizeof(*slots));
	if (!m || !slots) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	for (i = 0; i < (size_t)conc && next < n; i++) {
		slots[i].h = curl_easy_init();
		slots[i].job = next++;
		if (!slots[i].h || start(m, &slots[i], base, hdrs, make, arg)) {
			snprintf(err, errlen, "cannot start a request");
			goto out;
		}
	}
	while (finished < n) {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			snprintf(err, errlen, "libcurl multi failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &left))) {
			struct slot *s;
			char *priv = NULL;
			long status = 0;
			json_t *root = NULL, *data;
			json_error_t jerr;
			int retry;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			s = (struct slot *)(void *)priv;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_multi_remove_handle(m, msg->easy_handle);
			retry = msg->data.result != CURLE_OK || status == 429 || status == 502 ||
				status == 503 || status == 504;
			if (retry && ++s->tries < MAX_TRIES) {
				struct timespec ts = { 0, 200 * 1000000L * s->tries };

				nanosleep(&ts, NULL);
				if (start(m, s, base, hdrs, make, arg)) {
					snprintf(err, errlen, "cannot restart a request");
					goto out;
				}
				continue;
			}
			if (msg->data.result != CURLE_OK) {
				snprintf(err, errlen, "POST %s: %s", s->path,
					 curl_easy_strerror(msg->data.result));
				goto out;
			}
			root = s->len ? json_loadb(s->resp, s->len, 0, &jerr) : NULL;
			data = json_object_get(root, "data");
			if (status < 200 || status > 299 || !json_is_object(data)) {
				snprintf(err, errlen, "POST %s: HTTP %ld %.200s", s->path, status,
					 s->resp ? s->resp : "");
				json_decref(root);
				goto out;
			}
			if (done(arg, s->job, data, err, errlen)) {
				json_decref(root);
				goto out;
			}
			json_decref(root);
			finished++;
			if (next < n) {
				s->job = next++;
				s->tries = 0;
				if (start(m, s, base, hdrs, make, arg)) {
					snprintf(err, errlen, "cannot start a request");
					goto out;
				}
			}
		}
	}
	rc = 0;
out:
	for (i = 0; slots && i < (size_t)conc; i++) {
		if (slots[i].h) {
			curl_multi_remove_handle(m, slots[i].h);
			curl_easy_cleanup(slots[i].h);
		}
		free(slots[i].resp);
	}
	free(slots);
	curl_slist_free_all(hdrs);
	if (m)
		curl_multi_cleanup(m);
	return rc;
}

/* Copies a string member into buf; returns 0 or -1 when it is missing or too long. */
static int copy_str(const json_t *obj, const char *key, char *buf, size_t len)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || strlen(v) >= len)
		return -1;
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

/*
 * The session token: data.token here, data.user.token in the peers'
 * variant; the user id: a UUID here, an integer in the Node peer.
 */
static int take_user(const json_t *data, char id[BENCH_ID_LEN], char token[BENCH_TOKEN_LEN])
{
	const json_t *user = json_object_get(data, "user");
	const json_t *uid = json_object_get(user, "id");

	if (json_is_integer(uid))
		snprintf(id, BENCH_ID_LEN, "%" JSON_INTEGER_FORMAT, json_integer_value(uid));
	else if (copy_str(user, "id", id, BENCH_ID_LEN))
		return -1;
	if (copy_str(data, "token", token, BENCH_TOKEN_LEN) &&
	    copy_str(user, "token", token, BENCH_TOKEN_LEN))
		return -1;
	return 0;
}

struct one_user {
	const char *name, *room;
	char *id, *token;
};

static void make_one(void *arg, size_t i, char *path, size_t plen, char *body, size_t blen)
{
	const struct one_user *u = arg;

	(void)i;
	snprintf(path, plen, "/api/join");
	if (u->room)
		snprintf(body, blen, "{\"username\":\"%s\",\"room_id\":\"%s\"}", u->name, u->room);
	else
		snprintf(body, blen, "{\"username\":\"%s\"}", u->name);
}

static int done_one(void *arg, size_t i, const json_t *data, char *err, size_t errlen)
{
	struct one_user *u = arg;

	(void)i;
	if (take_user(data, u->id, u->token)) {
		snprintf(err, errlen, "POST /api/join: no user id or token in the answer");
		return -1;
	}
	return 0;
}

int setup_user(const char *base, const char *name, const char *room_id, char id[BENCH_ID_LEN],
	       char token[BENCH_TOKEN_LEN], char *err, size_t errlen)
{
	struct one_user u = { name, room_id, id, token };

	return post_all(base, NULL, 1, 1, make_one, done_one, &u, err, errlen);
}

struct many {
	const char *prefix;
	struct bench_plan *pl;
};

static void make_room(void *arg, size_t i, char *path, size_t plen, char *body, size_t blen)
{
	const struct many *m = arg;

	snprintf(path, plen, "/api/rooms");
	snprintf(body, blen, "{\"room_name\":\"%s-%zu\",\"description\":\"chat-bench\"}", m->prefix,
		 i);
}

static int done_room(void *arg, size_t i, const json_t *data, char *err, size_t errlen)
{
	struct many *m = arg;

	if (copy_str(json_object_get(data, "room"), "id", m->pl->room_id[i], BENCH_ID_LEN)) {
		snprintf(err, errlen, "POST /api/rooms: no room id in the answer");
		return -1;
	}
	return 0;
}

int setup_rooms(const char *base, const char *token, const char *prefix, struct bench_plan *pl,
		long concurrency, char *err, size_t errlen)
{
	struct many m = { prefix, pl };

	return post_all(base, token, pl->nrooms, concurrency, make_room, done_room, &m, err,
			errlen);
}

static void make_user(void *arg, size_t i, char *path, size_t plen, char *body, size_t blen)
{
	const struct many *m = arg;

	snprintf(path, plen, "/api/join");
	snprintf(body, blen, "{\"username\":\"%s_%zu\",\"room_id\":\"%s\"}", m->prefix, i,
		 m->pl->room_id[m->pl->user_room[i]]);
}

static int done_user(void *arg, size_t i, const json_t *data, char *err, size_t errlen)
{
	struct many *m = arg;

	if (take_user(data, m->pl->user_id[i], m->pl->user_token[i])) {
		snprintf(err, errlen, "POST /api/join: no user id or token in the answer");
		return -1;
	}
	return 0;
}

int setup_users(const char *base, const char *prefix, struct bench_plan *pl, long concurrency,
		char *err, size_t errlen)
{
	struct many m = { prefix, pl };

	return post_all(base, NULL, pl->nusers, concurrency, make_user, done_user, &m, err, errlen);
}
