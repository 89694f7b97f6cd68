/* allow.c -- an address allow-list (CHAT_METRICS_ALLOW): addresses and CIDR networks, IPv4 and IPv6. */
#include "allow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

/* Reads an address as 16 bytes (IPv4 mapped). Returns 4 or 6 for its family, 0 for none. */
static int allow_addr(const char *text, unsigned char out[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 4;
	}
	if (inet_pton(AF_INET6, text, out) == 1)
		return 6;
	return 0;
}

static int allow_bits_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (!rest)
		return 1;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Parses one entry (NUL-terminated) into *net. Returns 0, or -1 with err. */
static int allow_entry(struct allow_net *net, char *word, char *err, size_t errlen)
{
	char *slash = strchr(word, '/');
	long prefix = -1;
	int family, max;

	if (slash)
		*slash = '\0';
	family = allow_addr(word, net->addr);
	if (slash)
		*slash = '/';
	if (!family) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address or network", word);
		return -1;
	}
	max = family == 4 ? 32 : 128;
	if (slash && cfg_parse_long(slash + 1, 0, max, &prefix)) {
		snprintf(err, errlen, "'%s': the prefix length must be a number from 0 to %d", word,
			 max);
		return -1;
	}
	net->prefix = (int)(prefix < 0 ? max : prefix) + (family == 4 ? 96 : 0);
	/* Keep only the network bits, so that matching compares prefixes. */
	for (int i = 0; i < 16; i++) {
		int keep = net->prefix - i * 8;

		if (keep <= 0)
			net->addr[i] = 0;
		else if (keep < 8)
			net->addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	return 0;
}

int allow_parse(struct allow *a, const char *list, char *err, size_t errlen)
{
	const char *p = list ? list : "";

	if (errlen)
		err[0] = '\0';
	a->n = 0;
	for (;;) {
		char word[80];
		size_t len;

		p += strspn(p, ", \t");
		if (!*p)
			break;
		len = strcspn(p, ", \t");
		if (len >= sizeof(word)) {
			snprintf(err, errlen, "'%.*s...' is not an IPv4 or IPv6 address or network",
				 20, p);
			return -1;
		}
		if (a->n == ALLOW_MAX) {
			snprintf(err, errlen, "more than %d entries", ALLOW_MAX);
			return -1;
		}
		memcpy(word, p, len);
		word[len] = '\0';
		if (allow_entry(&a->net[a->n], word, err, errlen))
			return -1;
		a->n++;
		p += len;
	}
	if (!a->n) {
		snprintf(err, errlen, "no address or network given");
		return -1;
	}
	return 0;
}

int allow_match(const struct allow *a, const char *addr)
{
	unsigned char b[16];

	if (!addr || !allow_addr(addr, b))
		return 0;
	for (int i = 0; i < a->n; i++)
		if (allow_bits_match(a->net[i].addr, b, a->net[i].prefix))
			return 1;
	return 0;
}
