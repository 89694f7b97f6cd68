/* pwhash.h -- password hashes: Argon2id through libsodium, and the dummy hash of unknown users. */
#ifndef CHAT_PWHASH_H
#define CHAT_PWHASH_H

#include <stddef.h>

/* Room for one encoded hash: crypto_pwhash_STRBYTES (checked in pwhash.c),
 * and the longest that users.password_hash holds (255 bytes). */
#define PWHASH_STR_MAX 256

struct pwhash {
	unsigned long long opslimit; /* Argon2id passes (CHAT_PWHASH_OPSLIMIT) */
	size_t memlimit;             /* bytes of memory per hash (CHAT_PWHASH_MEMLIMIT) */
	char dummy[PWHASH_STR_MAX];  /* a hash of no password, "" until first needed */
};

/*
 * Initializes libsodium (once per process; safe to call again) and *p with
 * the cost parameters. Returns 0, or -1 when libsodium cannot start.
 */
int pwhash_init(struct pwhash *p, unsigned long long opslimit, size_t memlimit)
	__attribute__((warn_unused_result));

/*
 * Hashes pw[0..len) into out (NUL-terminated, at most PWHASH_STR_MAX
 * bytes). Returns 0, or -1 when libsodium fails (out of memory).
 */
int pwhash_hash(const struct pwhash *p, const char *pw, size_t len, char out[PWHASH_STR_MAX])
	__attribute__((warn_unused_result));

/*
 * Checks pw[0..len) against the encoded hash (NULL or "" for a user that
 * has none: then the check runs against a dummy hash of the same cost, so
 * that an unknown user costs the same time as a wrong password, and
 * fails). Returns 1 when it matches, 0 when not, -1 when the dummy hash
 * cannot be made.
 */
int pwhash_verify(struct pwhash *p, const char *hash, const char *pw, size_t len);

/*
 * Returns nonzero when hash was made with other parameters than p's (it
 * still verifies; a successful sign-in may store a new one).
 */
int pwhash_needs_rehash(const struct pwhash *p, const char *hash);

#endif
