/* pwhash.c -- password hashes: Argon2id through libsodium, and the dummy hash of unknown users. */
#include "pwhash.h"

#include <sodium.h>
#include <string.h>

#include "log.h"

_Static_assert(crypto_pwhash_STRBYTES <= PWHASH_STR_MAX, "PWHASH_STR_MAX is too small");

int pwhash_init(struct pwhash *p, unsigned long long opslimit, size_t memlimit)
{
	/* sodium_init is idempotent: 1 means an earlier call already did it. */
	if (sodium_init() < 0) {
		log_err("cannot initialize libsodium");
		return -1;
	}
	p->opslimit = opslimit;
	p->memlimit = memlimit;
	p->dummy[0] = '\0';
	return 0;
}

int pwhash_hash(const struct pwhash *p, const char *pw, size_t len, char out[PWHASH_STR_MAX])
{
	if (crypto_pwhash_str_alg(out, pw, len, p->opslimit, p->memlimit,
				  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		log_err("cannot hash a password: out of memory (%zu bytes)", p->memlimit);
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int pwhash_verify(struct pwhash *p, const char *hash, const char *pw, size_t len)
{
	int dummy_rc;

	if (hash && *hash)
		return crypto_pwhash_str_verify(hash, pw, len) == 0;
	/* No user, or one without a password: spend the same time, then fail. */
	if (!p->dummy[0]) {
		unsigned char seed[32];

		randombytes_buf(seed, sizeof(seed));
		if (pwhash_hash(p, (const char *)seed, sizeof(seed), p->dummy))
			return -1;
	}
	/* Its outcome does not matter: nobody knows the random seed. */
	dummy_rc = crypto_pwhash_str_verify(p->dummy, pw, len);
	(void)dummy_rc;
	return 0;
}

int pwhash_needs_rehash(const struct pwhash *p, const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, p->opslimit, p->memlimit) != 0;
}
