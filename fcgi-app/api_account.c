/* api_account.c -- registered accounts: register, log in, change the password (DESIGN.md section 7).
 *
 * Each of them is three steps: a check in the database (the name is free,
 * or the failed-sign-in buckets have a token; the stored hash), the
 * Argon2id computation here inside one of the pool's hashing slots
 * (pwslot.h), then the write. A slot is held only around the hash, never
 * across a database call, and a request that gets none within
 * CHAT_PWHASH_WAIT_MS is answered 503 server_busy at once. */
#include "api_handler.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"

/* The failed-sign-in limits as statement parameters. */
struct account_limits {
	char user_rate[24], user_window[24], addr_rate[24], addr_window[24];
	char akey[ADDR_KEY_MAX];
	const char *addr; /* the client's key, or NULL */
};

static void account_limits(struct api_ctx *x, struct account_limits *l)
{
	const struct cfg *cfg = x->api->cfg;

	snprintf(l->user_rate, sizeof(l->user_rate), "%ld", cfg->login_user_rate);
	snprintf(l->user_window, sizeof(l->user_window), "%ld", cfg->login_user_window);
	snprintf(l->addr_rate, sizeof(l->addr_rate), "%ld", cfg->login_addr_rate);
	snprintf(l->addr_window, sizeof(l->addr_window), "%ld", cfg->login_addr_window);
	l->addr = api_addr_key(x, l->akey, sizeof(l->akey));
}

/*
 * Takes a hashing slot. Returns 0, or -1 once 503 server_busy (with
 * Retry-After) or 500 has been answered.
 */
static int account_slot_take(struct api_ctx *x)
{
	switch (pwslot_take(x->api->slots, x->api->cfg->pwhash_wait_ms)) {
	case PWSLOT_TAKEN:
		return 0;
	case PWSLOT_BUSY:
		log_warn("no password-hashing slot came free within %ld ms",
			 x->api->cfg->pwhash_wait_ms);
		http_send_error(&x->req, ERR_SERVER_BUSY,
				"too many sign-ins at once, try again in a moment", NULL,
				"Retry-After: 1\r\n");
		return -1;
	case PWSLOT_ERROR:
	default:
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
}

/* Gives back the failed-sign-in tokens of an attempt that was never checked. */
static void account_refund(struct api_ctx *x, const char *username, const struct account_limits *l)
{
	const char *params[4] = { username, l->addr, l->user_rate, l->addr_rate };
	PGresult *r = NULL;

	if (db_exec(&x->api->db, DB_LOGIN_REFUND, params, &r) == DB_OK)
		PQclear(r);
}

/*
 * Reads the string member key of the JSON object data[0..len) into
 * out[0..outlen): "" when it is null. Returns 0, or -1 when data is not
 * such an object or the value does not fit (a bug: logged).
 */
static int account_data_string(const char *data, size_t len, const char *key, char *out,
			       size_t outlen)
{
	json_t *o = json_loadb(data, len, 0, NULL);
	const json_t *v = json_object_get(o, key);
	int ret = -1;

	out[0] = '\0';
	if (!json_is_object(o) || !(json_is_null(v) || json_is_string(v)))
		log_err("the account check lacks '%s'", key);
	else if (json_is_string(v) && json_string_length(v) >= outlen)
		log_err("the account check's '%s' is too long", key);
	else {
		if (json_is_string(v))
			memcpy(out, json_string_value(v), json_string_length(v) + 1);
		ret = 0;
	}
	json_decref(o);
	return ret;
}

/* Reads a required password field; answers 400 and returns -1 when it is not one. */
static int account_password_field(struct api_ctx *x, const char *field, const char **pw,
				  size_t *len)
{
	struct valid_err e;

	if (valid_string_field(x->body, field, VALID_REQUIRED, pw, len, &e) ||
	    valid_password(field, *pw, *len, &e)) {
		api_valid_error(x, &e);
		return -1;
	}
	return 0;
}

/* What the check of a sign-in or a password change read (its data object). */
struct account_check {
	char user_id[64];          /* "" for an unknown name */
	char username[160];        /* the account's, else the name asked for */
	char hash[PWHASH_STR_MAX]; /* "" for an unknown name or a guest */
};

/*
 * Runs the check statement stmt (chat_login_check or chat_password_check)
 * for subject, which takes the attempt's failed-sign-in tokens, reads *c
 * from its data, takes a hashing slot and checks pw against c->hash (a
 * dummy hash when there is none: the same work, the same answer as a
 * wrong password). Returns 1 (it matches) or 0 with the slot held: the
 * caller gives it back once its own hashing is done. Returns -1, no slot
 * held, once an error (429, 503 server_busy, 500) has been answered.
 */
static int account_check(struct api_ctx *x, enum db_stmt stmt, const char *subject,
			 const struct account_limits *l, struct account_check *c, const char *pw,
			 size_t pwlen)
{
	const char *params[6] = { subject,        l->addr,      l->user_rate,
				  l->user_window, l->addr_rate, l->addr_window };
	PGresult *r;
	struct dbcall_row row;
	int match;

	if (api_db_call(x, stmt, params, &r, &row))
		return -1;
	if (account_data_string(row.data, row.data_len, "user_id", c->user_id,
				sizeof(c->user_id)) ||
	    account_data_string(row.data, row.data_len, "username", c->username,
				sizeof(c->username)) ||
	    account_data_string(row.data, row.data_len, "password_hash", c->hash,
				sizeof(c->hash))) {
		PQclear(r);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	PQclear(r);
	if (account_slot_take(x)) {
		account_refund(x, c->username, l);
		return -1;
	}
	match = pwhash_verify(&x->api->pw, c->hash, pw, pwlen);
	if (match < 0) {
		pwslot_give(x->api->slots);
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return -1;
	}
	return match;
}

void api_register(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *username, *room_id, *pw;
	size_t ulen, rlen, pwlen;
	struct valid_err e;
	struct api_session sess;
	char rate[24], window[24], akey[ADDR_KEY_MAX], hash[PWHASH_STR_MAX];
	const char *params[6];
	PGresult *r;
	struct dbcall_row row;
	int failed;

	if (valid_string_field(x->body, "username", VALID_REQUIRED, &username, &ulen, &e) ||
	    valid_username(username, ulen, cfg->username_max, &e) ||
	    valid_string_field(x->body, "room_id", VALID_OPTIONAL, &room_id, &rlen, &e)) {
		api_valid_error(x, &e);
		return;
	}
	if (account_password_field(x, "password", &pw, &pwlen))
		return;
	if (room_id && !valid_room_id(room_id, rlen)) {
		api_error(x, ERR_NOT_FOUND, "room not found", "room_id");
		return;
	}
	/* A guest presenting its own live token may register its own name. */
	if (api_auth(x, 0) < 0)
		return;
	x->req.set_cookie[0] = '\0';
	snprintf(rate, sizeof(rate), "%ld", cfg->join_rate);
	snprintf(window, sizeof(window), "%ld", cfg->join_rate_window);
	params[0] = username;
	params[1] = room_id;
	params[2] = x->user_id[0] ? x->user_id : NULL;
	params[3] = api_addr_key(x, akey, sizeof(akey));
	params[4] = rate;
	params[5] = window;
	if (api_db_call(x, DB_REGISTER_CHECK, params, &r, &row))
		return;
	PQclear(r);
	if (account_slot_take(x))
		return;
	failed = pwhash_hash(&x->api->pw, pw, pwlen, hash);
	pwslot_give(x->api->slots);
	if (failed) {
		api_error(x, ERR_INTERNAL, "cannot hash the password", NULL);
		return;
	}
	if (api_session_new(x, &sess))
		return;
	params[0] = username;
	params[1] = hash;
	params[2] = room_id;
	params[3] = sess.hash;
	params[4] = sess.ttl;
	params[5] = x->user_id[0] ? x->user_id : NULL;
	if (api_db_call(x, DB_REGISTER, params, &r, &row))
		return;
	log_info("registered '%s'", username);
	api_session_answer(x, 201, &sess, &row);
	PQclear(r);
}

void api_login(struct api_ctx *x)
{
	const struct cfg *cfg = x->api->cfg;
	const char *username, *pw;
	size_t ulen, pwlen;
	struct valid_err e;
	struct account_limits l;
	struct account_check c;
	struct api_session sess;
	char rehash[PWHASH_STR_MAX];
	const char *params[9];
	PGresult *r;
	struct dbcall_row row;
	int match;

	if (valid_string_field(x->body, "username", VALID_REQUIRED, &username, &ulen, &e) ||
	    valid_username(username, ulen, cfg->username_max, &e)) {
		api_valid_error(x, &e);
		return;
	}
	if (account_password_field(x, "password", &pw, &pwlen))
		return;
	account_limits(x, &l);
	match = account_check(x, DB_LOGIN_CHECK, username, &l, &c, pw, pwlen);
	if (match < 0)
		return;
	rehash[0] = '\0';
	if (match == 1 && pwhash_needs_rehash(&x->api->pw, c.hash) &&
	    pwhash_hash(&x->api->pw, pw, pwlen, rehash))
		rehash[0] = '\0'; /* keep the old one: it still verifies */
	pwslot_give(x->api->slots);
	if (match == 0) {
		log_info("sign-in refused for '%s'", username);
		api_error(x, ERR_INVALID_CREDENTIALS, "invalid username or password", NULL);
		return;
	}
	if (api_session_new(x, &sess))
		return;
	params[0] = c.user_id;
	params[1] = c.hash;
	params[2] = rehash[0] ? rehash : NULL;
	params[3] = sess.hash;
	params[4] = sess.ttl;
	params[5] = username;
	params[6] = l.addr;
	params[7] = l.user_rate;
	params[8] = l.addr_rate;
	if (api_db_call(x, DB_LOGIN, params, &r, &row))
		return;
	api_session_answer(x, 200, &sess, &row);
	PQclear(r);
}

void api_password(struct api_ctx *x)
{
	const char *cur, *next;
	size_t curlen, nextlen;
	struct account_limits l;
	struct account_check c;
	char fresh[PWHASH_STR_MAX];
	const char *params[7];
	PGresult *r;
	struct dbcall_row row;
	int match, failed = 0;

	if (account_password_field(x, "current_password", &cur, &curlen) ||
	    account_password_field(x, "new_password", &next, &nextlen))
		return;
	account_limits(x, &l);
	match = account_check(x, DB_PASSWORD_CHECK, x->user_id, &l, &c, cur, curlen);
	if (match < 0)
		return;
	if (match == 1)
		failed = pwhash_hash(&x->api->pw, next, nextlen, fresh);
	pwslot_give(x->api->slots);
	if (failed) {
		api_error(x, ERR_INTERNAL, "internal error", NULL);
		return;
	}
	if (match == 0) {
		log_info("password change refused for '%s': wrong current password", c.username);
		api_error(x, ERR_FORBIDDEN, "current_password is not correct", "current_password");
		return;
	}
	params[0] = x->user_id;
	params[1] = c.hash;
	params[2] = fresh;
	params[3] = x->token_hash[0] ? x->token_hash : NULL;
	params[4] = l.addr;
	params[5] = l.user_rate;
	params[6] = l.addr_rate;
	if (api_db_call(x, DB_PASSWORD_SET, params, &r, &row))
		return;
	log_info("password changed for '%s'", c.username);
	api_send_data(x, 200, NULL, row.data, row.data_len);
	PQclear(r);
}
