/* tok.c -- session tokens: generation, hashing at rest, and transport parsing. */
#include "tok.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

static const char tok_hex[] = "0123456789abcdef";

static void tok_to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = tok_hex[in[i] >> 4];
		out[2 * i + 1] = tok_hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int tok_new(char out[TOK_LEN + 1])
{
	unsigned char raw[TOK_BYTES];

	out[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	tok_to_hex(raw, sizeof(raw), out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int tok_hash_bytea(const char *tok, size_t len, char out[2 + TOK_HASH_HEX_LEN + 1])
{
	unsigned char md[crypto_hash_sha256_BYTES];

	/* Every authenticated request hashes its token: libsodium's SHA-256 is
	 * a plain function (no sodium_init needed: it has no CPU dispatch),
	 * where OpenSSL 3's EVP_Digest looked the algorithm up in its provider
	 * table and allocated a context each time (5 % of chat-fcgi's CPU per
	 * GET /api/rooms). */
	out[0] = '\0';
	if (crypto_hash_sha256(md, (const unsigned char *)tok, len) != 0)
		return -1;
	out[0] = '\\';
	out[1] = 'x';
	tok_to_hex(md, sizeof(md), out + 2);
	return 0;
}

int tok_wellformed(const char *s, size_t len)
{
	if (!s || len != TOK_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int tok_is_space(char c)
{
	return c == ' ' || c == '\t';
}

int tok_bearer(const char *hdr, const char **val, size_t *len)
{
	const char *p, *end;

	*val = NULL;
	*len = 0;
	if (!hdr || strncasecmp(hdr, "Bearer", 6) != 0 || !tok_is_space(hdr[6]))
		return 0;
	p = hdr + 6;
	while (tok_is_space(*p))
		p++;
	end = p + strlen(p);
	while (end > p && tok_is_space(end[-1]))
		end--;
	*val = p;
	*len = (size_t)(end - p);
	return 1;
}

enum tok_found tok_from_authorization(const char *hdr, const char **tok, size_t *len)
{
	const char *p;
	size_t n;

	*tok = NULL;
	*len = 0;
	if (!hdr || !*hdr)
		return TOK_ABSENT;
	if (!tok_bearer(hdr, &p, &n) || !tok_wellformed(p, n))
		return TOK_MALFORMED;
	*tok = p;
	*len = n;
	return TOK_FOUND;
}

/* tok_from_cookie for one cookie name. */
static enum tok_found tok_cookie_named(const char *hdr, const char *name, const char **tok,
				       size_t *len)
{
	const size_t namelen = strlen(name);
	const char *p = hdr;

	while (*p) {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > namelen && strncmp(p, name, namelen) == 0 &&
		    p[namelen] == '=') {
			const char *v = p + namelen + 1;
			const char *vend = end;

			while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
			if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
				v++;
				vend--;
			}
			if (!tok_wellformed(v, (size_t)(vend - v)))
				return TOK_MALFORMED;
			*tok = v;
			*len = (size_t)(vend - v);
			return TOK_FOUND;
		}
		p = end;
	}
	return TOK_ABSENT;
}

enum tok_found tok_from_cookie(const char *hdr, const char **tok, size_t *len)
{
	enum tok_found r;

	*tok = NULL;
	*len = 0;
	if (!hdr)
		return TOK_ABSENT;
	r = tok_cookie_named(hdr, TOK_COOKIE_HOST, tok, len);
	return r != TOK_ABSENT ? r : tok_cookie_named(hdr, TOK_COOKIE, tok, len);
}
