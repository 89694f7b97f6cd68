/* pwhash-bench.c -- milliseconds per Argon2id hash (and verify) for candidate cost parameters.
 *
 * Usage: pwhash-bench [ROUNDS] [OPS:MIB ...]
 * Without pairs it measures the candidates docs/security.md compares; with
 * them, those. Each is hashed and verified ROUNDS times (default 5) in one
 * process, as one chat-fcgi worker would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "pwhash.h"

static double ms_since(clockid_t clk, const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(clk, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int bench_one(long rounds, long ops, long mib)
{
	struct pwhash p;
	char hash[PWHASH_STR_MAX];
	struct timespec t0, c0;
	double hash_ms, hash_cpu, verify_ms, verify_cpu;
	static const char pw[] = "correct horse battery staple";

	if (pwhash_init(&p, (unsigned long long)ops, (size_t)mib << 20))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (long i = 0; i < rounds; i++)
		if (pwhash_hash(&p, pw, sizeof(pw) - 1, hash))
			return -1;
	hash_ms = ms_since(CLOCK_MONOTONIC, &t0) / (double)rounds;
	hash_cpu = ms_since(CLOCK_PROCESS_CPUTIME_ID, &c0) / (double)rounds;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (long i = 0; i < rounds; i++)
		if (pwhash_verify(&p, hash, "wrong horse battery staple", 26) != 0)
			return -1;
	verify_ms = ms_since(CLOCK_MONOTONIC, &t0) / (double)rounds;
	verify_cpu = ms_since(CLOCK_PROCESS_CPUTIME_ID, &c0) / (double)rounds;
	/* Wall time includes waiting for a busy CPU; CPU time is the cost itself. */
	printf("opslimit=%ld memlimit=%4ldMiB  hash %6.1f ms (cpu %6.1f)  verify %6.1f ms (cpu "
	       "%6.1f)\n",
	       ops, mib, hash_ms, hash_cpu, verify_ms, verify_cpu);
	return 0;
}

int main(int argc, char **argv)
{
	static const long defaults[][2] = { { 1, 19 }, { 2, 19 }, { 2, 32 }, { 3, 32 },
					    { 2, 64 }, { 3, 64 }, { 4, 128 } };
	long rounds = 5;

	if (argc > 1 && cfg_parse_long(argv[1], 1, 1000, &rounds)) {
		fprintf(stderr, "usage: pwhash-bench [ROUNDS] [OPS:MIB ...]\n");
		return 2;
	}
	if (argc <= 2) {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			if (bench_one(rounds, defaults[i][0], defaults[i][1]))
				return 1;
		return 0;
	}
	for (int i = 2; i < argc; i++) {
		long ops, mib;
		char *colon = strchr(argv[i], ':');

		if (!colon)
			return 2;
		*colon = '\0';
		if (cfg_parse_long(argv[i], 1, 100, &ops) ||
		    cfg_parse_long(colon + 1, 1, 4096, &mib))
			return 2;
		if (bench_one(rounds, ops, mib))
			return 1;
	}
	return 0;
}
