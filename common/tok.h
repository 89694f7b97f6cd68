/* tok.h -- session tokens: generation, hashing at rest, and transport parsing. */
#ifndef CHAT_TOK_H
#define CHAT_TOK_H

#include <stddef.h>

#define TOK_BYTES 32            /* 256 random bits */
#define TOK_LEN (TOK_BYTES * 2) /* lowercase hex characters */
#define TOK_HASH_HEX_LEN 64     /* SHA-256 as hex */
#define TOK_COOKIE "chat_token"
/* The name with CHAT_COOKIE_SECURE: a __Host- cookie is Secure, Path=/, host-only. */
#define TOK_COOKIE_HOST "__Host-" TOK_COOKIE

/*
 * Fills out with a new token from the OpenSSL CSPRNG and a NUL.
 * Returns 0, or -1 when the generator fails (out is then empty).
 */
int tok_new(char out[TOK_LEN + 1]) __attribute__((warn_unused_result));

/*
 * Writes "\x" followed by the hex SHA-256 of tok[0..len) and a NUL, the
 * bytea literal the database stores instead of the token.
 * Returns 0, or -1 on a digest failure.
 */
int tok_hash_bytea(const char *tok, size_t len, char out[2 + TOK_HASH_HEX_LEN + 1])
	__attribute__((warn_unused_result));

/* Returns nonzero when s[0..len) has the shape of a token (TOK_LEN hex). */
int tok_wellformed(const char *s, size_t len);

enum tok_found { TOK_ABSENT = 0, TOK_FOUND = 1, TOK_MALFORMED = -1 };

/*
 * Finds the credentials of a "Bearer <value>" Authorization header value
 * (scheme case-insensitive, spaces around the value dropped), whatever
 * their shape: a session token or a site's JWT (jwtauth.h). Returns 1
 * with *val and *len pointing into hdr, or 0 (no header, another scheme).
 */
int tok_bearer(const char *hdr, const char **val, size_t *len);

/*
 * Finds the token in an Authorization header value ("Bearer <token>",
 * scheme case-insensitive). hdr may be NULL. On TOK_FOUND *tok and *len
 * point into hdr.
 */
enum tok_found tok_from_authorization(const char *hdr, const char **tok, size_t *len);

/*
 * Finds the session cookie in a Cookie header value ("a=b; chat_token=...").
 * Both names are read: __Host-chat_token (CHAT_COOKIE_SECURE=1) decides
 * when present, wherever it stands, since nothing but this host over HTTPS
 * can have set it; else chat_token. The first cookie of the deciding name
 * is the token or the header is malformed. hdr may be NULL. On TOK_FOUND
 * *tok and *len point into hdr.
 */
enum tok_found tok_from_cookie(const char *hdr, const char **tok, size_t *len);

#endif
