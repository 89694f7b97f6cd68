/* allow.h -- an address allow-list (CHAT_METRICS_ALLOW): addresses and CIDR networks, IPv4 and IPv6. */
#ifndef CHAT_ALLOW_H
#define CHAT_ALLOW_H

#include <stddef.h>

#define ALLOW_MAX 32 /* entries of one list */

struct allow_net {
	unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d, masked to the prefix */
	int prefix;             /* bits of addr that must match, 0..128 */
};

struct allow {
	int n;
	struct allow_net net[ALLOW_MAX];
};

/*
 * Parses list: entries separated by commas and/or spaces, each an IPv4 or
 * IPv6 address with an optional /prefix (0..32 or 0..128; host bits past
 * the prefix are ignored). Returns 0 with *a filled, or -1 with the bad
 * entry named in err (always NUL-terminated): an empty list, a word that
 * is not an address, a prefix that is not a number in range, more than
 * ALLOW_MAX entries.
 */
int allow_parse(struct allow *a, const char *list, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Whether the address text addr (IPv4, IPv6, or IPv4-mapped IPv6) is in
 * one of a's networks. Anything that is not an address (NULL, "", a unix
 * socket peer) is not.
 */
int allow_match(const struct allow *a, const char *addr);

#endif
