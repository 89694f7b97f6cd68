/* fuzz_auth.c -- libFuzzer harness for the header and path parsers: tokens, routes, Content-Type. */
#include "fuzz.h"
#include "http.h"
#include "route.h"
#include "tok.h"
#include "valid.h"

static int fuzz_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int fuzz_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Reference for tok_wellformed: exactly TOK_LEN lowercase hex digits. */
static int ref_wellformed(const char *s, size_t len)
{
	if (len != TOK_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!fuzz_hex(s[i]))
			return 0;
	return 1;
}

/* A token found is well formed, and hashes to "\x" and 64 hex digits. */
static void check_token(const char *hdr, const char *tok, size_t len)
{
	char hash[2 + TOK_HASH_HEX_LEN + 1], again[2 + TOK_HASH_HEX_LEN + 1];

	FUZZ_CHECK(tok >= hdr && tok + len <= hdr + strlen(hdr));
	FUZZ_CHECK(tok_wellformed(tok, len));
	FUZZ_CHECK(tok_hash_bytea(tok, len, hash) == 0);
	FUZZ_CHECK(strlen(hash) == 2 + TOK_HASH_HEX_LEN);
	FUZZ_CHECK(hash[0] == '\\' && hash[1] == 'x');
	FUZZ_CHECK(ref_wellformed(hash + 2, TOK_HASH_HEX_LEN));
	FUZZ_CHECK(tok_hash_bytea(tok, len, again) == 0 && strcmp(hash, again) == 0);
}

/*
 * Authorization: FOUND exactly when the value reads, case-insensitively,
 * "bearer", one or more blanks, TOK_LEN lowercase hex, optional blanks.
 */
static void check_authorization(const char *hdr)
{
	const char *tok = (const char *)1;
	size_t len = 99, i, at = 0;
	enum tok_found r = tok_from_authorization(hdr, &tok, &len);
	enum tok_found want = TOK_MALFORMED;

	for (i = 0; i < 6 && hdr[i] && (hdr[i] | 0x20) == "bearer"[i]; i++)
		;
	if (!*hdr) {
		want = TOK_ABSENT;
	} else if (i == 6 && fuzz_blank(hdr[6])) {
		for (at = 6; fuzz_blank(hdr[at]); at++)
			;
		for (i = 0; i < TOK_LEN && fuzz_hex(hdr[at + i]); i++)
			;
		if (i == TOK_LEN) {
			for (i = at + TOK_LEN; fuzz_blank(hdr[i]); i++)
				;
			if (!hdr[i])
				want = TOK_FOUND;
		}
	}
	FUZZ_CHECK(r == want);
	if (r == TOK_FOUND) {
		FUZZ_CHECK(tok == hdr + at && len == TOK_LEN);
		check_token(hdr, tok, len);
	} else {
		FUZZ_CHECK(tok == NULL && len == 0);
	}
}

/*
 * Cookie: split on ';', drop leading blanks; the first piece that starts
 * with name and '=' decides: its value, without trailing blanks and one
 * pair of surrounding quotes, is the token or the header is malformed.
 */
static enum tok_found ref_cookie(const char *hdr, const char *name, const char **v,
				 const char **vend)
{
	const size_t n = strlen(name);
	const char *piece = hdr;

	for (;;) {
		const char *stop = strchr(piece, ';');

		if (!stop)
			stop = piece + strlen(piece);
		while (piece < stop && fuzz_blank(*piece))
			piece++;
		if ((size_t)(stop - piece) > n && memcmp(piece, name, n) == 0 && piece[n] == '=') {
			*v = piece + n + 1;
			*vend = stop;
			while (*vend > *v && fuzz_blank((*vend)[-1]))
				(*vend)--;
			if (*vend - *v >= 2 && (*v)[0] == '"' && (*vend)[-1] == '"') {
				(*v)++;
				(*vend)--;
			}
			return ref_wellformed(*v, (size_t)(*vend - *v)) ? TOK_FOUND : TOK_MALFORMED;
		}
		if (!*stop)
			return TOK_ABSENT;
		piece = stop + 1;
	}
}

/* __Host-chat_token decides when present, else chat_token. */
static void check_cookie(const char *hdr)
{
	const char *tok = (const char *)1;
	size_t len = 99;
	enum tok_found r = tok_from_cookie(hdr, &tok, &len);
	const char *v = NULL, *vend = NULL;
	enum tok_found want = ref_cookie(hdr, TOK_COOKIE_HOST, &v, &vend);

	if (want == TOK_ABSENT)
		want = ref_cookie(hdr, TOK_COOKIE, &v, &vend);
	FUZZ_CHECK(r == want);
	if (r == TOK_FOUND) {
		FUZZ_CHECK(tok == v && len == (size_t)(vend - v));
		check_token(hdr, tok, len);
	} else {
		FUZZ_CHECK(tok == NULL && len == 0);
	}
}

/*
 * route_find against the resource list of route.h, written out again: a
 * route added there must be added here, which is the point.
 */
static void check_route(const char *path)
{
	static const struct {
		const char *path;
		enum route_id id;
	} exact[] = {
		{ "/api/health", ROUTE_HEALTH },           { "/api/join", ROUTE_JOIN },
		{ "/api/session", ROUTE_SESSION },         { "/api/me", ROUTE_ME },
		{ "/api/metrics", ROUTE_METRICS },         { "/api/rooms", ROUTE_ROOMS },
		{ "/api/register", ROUTE_REGISTER },       { "/api/login", ROUTE_LOGIN },
		{ "/api/me/password", ROUTE_ME_PASSWORD }, { "/api/dm", ROUTE_DM },
	};
	/* PREFIX{id}/NAME, and PREFIX{id}/NAME/{id2} where two is set; a NAME
	 * of NULL is any second segment (a message id). */
	static const struct {
		const char *prefix, *name;
		enum route_id one, two;
	} nested[] = {
		{ "/api/rooms/", "members", ROUTE_ROOM_MEMBERS, ROUTE_ROOM_MEMBER },
		{ "/api/rooms/", "read", ROUTE_ROOM_READ, ROUTE_NONE },
		{ "/api/rooms/", "reads", ROUTE_ROOM_READS, ROUTE_NONE },
		{ "/api/messages/", "search", ROUTE_SEARCH, ROUTE_NONE },
		{ "/api/messages/", "changes", ROUTE_CHANGES, ROUTE_NONE },
	};
	static const struct {
		const char *prefix;
		enum route_id id;
	} with_id[] = {
		{ "/api/rooms/", ROUTE_ROOM },
		{ "/api/messages/", ROUTE_MESSAGES },
		{ "/api/users/", ROUTE_USERS },
	};
	struct route_match m;
	enum route_id want = ROUTE_NONE;
	const char *param = NULL, *param2 = NULL;
	size_t param_len = 0;
	enum route_id r;

	memset(&m, 0x5a, sizeof(m));
	r = route_find(path, &m);
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(path, exact[i].path) == 0)
			want = exact[i].id;
	for (size_t i = 0; i < sizeof(with_id) / sizeof(with_id[0]); i++) {
		size_t n = strlen(with_id[i].prefix);

		if (strncmp(path, with_id[i].prefix, n) == 0 && path[n] && !strchr(path + n, '/')) {
			want = with_id[i].id;
			param = path + n;
			param_len = strlen(param);
		}
	}
	/* Nested resources: segments split at '/', the first (the id) not empty. */
	for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
		size_t n = strlen(nested[i].prefix), k = strlen(nested[i].name);
		const char *id = path + n, *seg, *end;

		if (strncmp(path, nested[i].prefix, n) != 0 || !(seg = strchr(id, '/')) ||
		    seg == id)
			continue;
		seg++;
		if (strncmp(seg, nested[i].name, k) != 0)
			continue;
		end = seg + k;
		if (*end == '\0' ||
		    (nested[i].two != ROUTE_NONE && *end == '/' && end[1] &&
		     !strchr(end + 1, '/'))) {
			want = *end ? nested[i].two : nested[i].one;
			param = id;
			param2 = *end ? end + 1 : NULL;
			param_len = (size_t)(seg - 1 - id);
			break;
		}
	}
	/* /api/messages/{room}/{id}: any other second segment, not empty, last. */
	if (want == ROUTE_NONE && strncmp(path, "/api/messages/", 14) == 0) {
		const char *id = path + 14, *seg = strchr(id, '/');

		if (seg && seg != id && seg[1] && !strchr(seg + 1, '/')) {
			want = ROUTE_MESSAGE;
			param = id;
			param_len = (size_t)(seg - id);
			param2 = seg + 1;
		}
	}
	FUZZ_CHECK(r == want && m.id == want);
	FUZZ_CHECK(m.param == param);
	FUZZ_CHECK(m.param_len == (param ? param_len : 0));
	FUZZ_CHECK(m.param2 == param2);
	FUZZ_CHECK(m.param2_len == (param2 ? strlen(param2) : 0));
	if (param) {
		/* What api_room_param then does with it. */
		int ok = valid_room_id(m.param, m.param_len);

		FUZZ_CHECK(!ok || (m.param_len >= 1 && m.param_len <= 64));
		for (size_t i = 0; ok && i < m.param_len; i++) {
			char c = m.param[i];

			FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') || c == '_' || c == '-');
		}
	}
}

/* http_is_json: blanks, "application/json" in any case, blanks, then end or ';'. */
static void check_content_type(const char *ct)
{
	static const char mime[] = "application/json";
	struct http_req req;
	size_t i = 0, k;
	int want = 0;

	memset(&req, 0, sizeof(req));
	req.content_type = ct;
	while (ct[i] == ' ')
		i++;
	for (k = 0; k < sizeof(mime) - 1; k++) {
		char c = ct[i + k];

		if (!c || (c >= 'A' && c <= 'Z' ? c | 0x20 : c) != mime[k])
			break;
	}
	if (k == sizeof(mime) - 1) {
		i += k;
		while (ct[i] == ' ')
			i++;
		want = ct[i] == '\0' || ct[i] == ';';
	}
	FUZZ_CHECK(!!http_is_json(&req) == want);
	/* No Content-Type at all. */
	req.content_type = NULL;
	FUZZ_CHECK(!http_is_json(&req));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr = fuzz_cstr(data, size);
	const char *tok;
	size_t len;

	check_authorization(hdr);
	check_cookie(hdr);
	check_route(hdr);
	check_content_type(hdr);
	FUZZ_CHECK(!!tok_wellformed((const char *)data, size) ==
		   ref_wellformed((const char *)data, size));
	/* A header or a path that is not there. */
	FUZZ_CHECK(route_find(NULL, &(struct route_match){ 0 }) == ROUTE_NONE);
	FUZZ_CHECK(tok_from_authorization(NULL, &tok, &len) == TOK_ABSENT && !tok && !len);
	FUZZ_CHECK(tok_from_cookie(NULL, &tok, &len) == TOK_ABSENT && !tok && !len);
	free(hdr);
	return 0;
}
