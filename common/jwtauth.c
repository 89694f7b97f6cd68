/* jwtauth.c -- site-minted identity tokens: HS256 JWTs checked against CHAT_JWT_SECRET. */
#include "jwtauth.h"

#include <jansson.h>
#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "valid.h"

#define JWTAUTH_SIG_BYTES 32 /* HMAC-SHA256 */

/* The value of one base64url character, or -1. */
static int b64url_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/*
 * Decodes unpadded base64url s[0..len) into out (room for len * 3 / 4
 * bytes). Returns the decoded length, or -1 for a character outside the
 * alphabet, an impossible length or nonzero unused bits (so that each
 * byte string has exactly one encoding).
 */
static long b64url_decode(const char *s, size_t len, unsigned char *out)
{
	unsigned long acc = 0;
	int bits = 0;
	long n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_val((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return n;
}

/* Decodes one base64url segment holding a JSON object (duplicate keys refused). */
static json_t *segment_json(const char *s, size_t len)
{
	unsigned char buf[JWTAUTH_MAX];
	long n = b64url_decode(s, len, buf);
	json_t *j;

	if (n < 0)
		return NULL;
	j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The header: alg exactly "HS256", typ absent or "JWT", no extension we would have to understand. */
static int header_ok(const json_t *h)
{
	const json_t *alg = json_object_get(h, "alg");
	const json_t *typ = json_object_get(h, "typ");

	if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
		return 0;
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		return 0;
	return json_object_get(h, "crit") == NULL;
}

/* The signature over tok[0..signed_len), compared in constant time with sig[0..siglen). */
static int signature_ok(const char *secret, const char *tok, size_t signed_len, const char *sig,
			size_t siglen)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[JWTAUTH_MAX];
	unsigned int wantlen = 0;
	long n = b64url_decode(sig, siglen, got);

	if (n != JWTAUTH_SIG_BYTES)
		return 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, signed_len,
		  want, &wantlen) ||
	    wantlen != JWTAUTH_SIG_BYTES)
		return 0;
	return CRYPTO_memcmp(want, got, JWTAUTH_SIG_BYTES) == 0;
}

/* libjwt's decode of the NUL-terminated copy must agree: verified, and HS256. */
static int libjwt_agrees(const char *secret, const char *tok, size_t len)
{
	char copy[JWTAUTH_MAX + 1];
	jwt_t *j = NULL;
	int ok;

	memcpy(copy, tok, len);
	copy[len] = '\0';
	if (jwt_decode(&j, copy, (const unsigned char *)secret, (int)strlen(secret)) != 0 || !j)
		return 0;
	ok = jwt_get_alg(j) == JWT_ALG_HS256;
	jwt_free(j);
	return ok;
}

/* A NumericDate: a finite JSON number. */
static int numeric_date(const json_t *v, double *out)
{
	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return isfinite(*out);
}

static int sub_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (!s || len == 0 || len > JWTAUTH_SUB_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The claims, once the token is known to be ours. */
static enum jwtauth_result claims_read(const json_t *p, double now, long name_max,
				       struct jwtauth_claims *out)
{
	const json_t *sub = json_object_get(p, "sub");
	const json_t *name = json_object_get(p, "name");
	struct valid_err e;
	double exp = 0, nbf = 0;

	if (!numeric_date(json_object_get(p, "exp"), &exp) || !sub_ok(sub) || !json_is_string(name))
		return JWTAUTH_INVALID;
	if (json_object_get(p, "nbf") && !numeric_date(json_object_get(p, "nbf"), &nbf))
		return JWTAUTH_INVALID;
	if (exp <= now || (json_object_get(p, "nbf") && nbf > now))
		return JWTAUTH_EXPIRED;
	if (name_max > JWTAUTH_NAME_MAX || json_string_length(name) > JWTAUTH_NAME_MAX ||
	    valid_username(json_string_value(name), json_string_length(name), name_max, &e))
		return JWTAUTH_BAD_NAME;
	memcpy(out->sub, json_string_value(sub), json_string_length(sub) + 1);
	memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
	out->exp = exp;
	return JWTAUTH_OK;
}

int jwtauth_shaped(const char *tok, size_t len)
{
	return tok && memchr(tok, '.', len) != NULL;
}

enum jwtauth_result jwtauth_verify(const char *secret, const char *tok, size_t len, double now,
				   long name_max, struct jwtauth_claims *out)
{
	const char *dot1, *dot2;
	json_t *head = NULL, *payload = NULL;
	enum jwtauth_result r = JWTAUTH_INVALID;

	memset(out, 0, sizeof(*out));
	if (!secret || strlen(secret) < JWTAUTH_SECRET_MIN || !tok || len == 0 || len > JWTAUTH_MAX)
		return JWTAUTH_INVALID;
	dot1 = memchr(tok, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
	/* Exactly three segments: JWE's five and a trailing dot are not ours. */
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)))
		return JWTAUTH_INVALID;
	head = segment_json(tok, (size_t)(dot1 - tok));
	if (!head || !header_ok(head))
		goto out;
	if (!signature_ok(secret, tok, (size_t)(dot2 - tok), dot2 + 1,
			  len - (size_t)(dot2 + 1 - tok)))
		goto out;
	payload = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!payload || !libjwt_agrees(secret, tok, len))
		goto out;
	r = claims_read(payload, now, name_max, out);
out:
	if (r != JWTAUTH_OK)
		memset(out, 0, sizeof(*out));
	json_decref(head);
	json_decref(payload);
	return r;
}

const char *jwtauth_reason(enum jwtauth_result r)
{
	switch (r) {
	case JWTAUTH_OK:
		return "ok";
	case JWTAUTH_EXPIRED:
		return "the token has expired or is not valid yet";
	case JWTAUTH_BAD_NAME:
		return "the token's name is not a valid username";
	case JWTAUTH_INVALID:
	default:
		return "the token is invalid";
	}
}
