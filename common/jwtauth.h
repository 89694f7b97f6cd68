/* jwtauth.h -- site-minted identity tokens: HS256 JWTs checked against CHAT_JWT_SECRET. */
#ifndef CHAT_JWTAUTH_H
#define CHAT_JWTAUTH_H

#include <stddef.h>

/*
 * A token longer than this is refused before anything is decoded: a
 * header, sub, name and exp fit in a few hundred bytes, and the bound keeps
 * a hostile 100 KB token from costing more than a length check.
 */
#define JWTAUTH_MAX 4096
/* CHAT_JWT_SECRET must have at least this many bytes (RFC 7518 3.2: a
 * key of the hash's size, 256 bits, for HS256). */
#define JWTAUTH_SECRET_MIN 32
/* The sub claim: 1..JWTAUTH_SUB_MAX bytes of UTF-8 without control characters. */
#define JWTAUTH_SUB_MAX 255
/* The name claim: a username (valid_username), at most 128 characters of ASCII. */
#define JWTAUTH_NAME_MAX 128

/* The claims of a verified token. */
struct jwtauth_claims {
	char sub[JWTAUTH_SUB_MAX + 1];   /* the site's stable user id */
	char name[JWTAUTH_NAME_MAX + 1]; /* the username to show */
	double exp;                      /* seconds since the epoch */
};

enum jwtauth_result {
	JWTAUTH_OK = 0,
	JWTAUTH_INVALID = -1,  /* not a JWT we accept: shape, alg, signature, claims */
	JWTAUTH_EXPIRED = -2,  /* well signed, but exp has passed (or nbf is ahead) */
	JWTAUTH_BAD_NAME = -3, /* well signed, but name is no valid username */
};

/*
 * Returns nonzero when tok[0..len) has the outline of a JWT (it holds a
 * '.'): such a token is checked by jwtauth_verify, never taken for a
 * session token (which is hex). Says nothing about its validity.
 */
int jwtauth_shaped(const char *tok, size_t len);

/*
 * Verifies tok[0..len) (not NUL-terminated) with secret: at most
 * JWTAUTH_MAX bytes, a header whose alg is exactly "HS256" (no other
 * algorithm, "none" included, no "crit"), an HMAC-SHA256 signature over
 * the first two segments compared in constant time (then libjwt's own
 * decode, which must agree), and a payload without duplicate keys whose
 * exp is a number after now, nbf (if any) a number not after now, sub a
 * string of 1..JWTAUTH_SUB_MAX bytes without control characters and
 * name a username of at most name_max characters. Returns JWTAUTH_OK
 * with *out filled, or another result with *out zeroed. Logs nothing:
 * neither the secret nor the token may reach a log.
 */
enum jwtauth_result jwtauth_verify(const char *secret, const char *tok, size_t len, double now,
				   long name_max, struct jwtauth_claims *out)
	__attribute__((warn_unused_result));

/* A message for a refusal, for the client (names no secret and no claim value). */
const char *jwtauth_reason(enum jwtauth_result r);

#endif
