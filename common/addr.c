/* addr.c -- the client address the per-address limits count (both programs). */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int addr_key(const char *ip, char *out, size_t outlen)
{
	unsigned char a6[16];
	struct in_addr a4;
	char text[INET6_ADDRSTRLEN];
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (outlen)
		out[0] = '\0';
	if (!ip || strlen(ip) >= 64)
		return -1;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		if (!inet_ntop(AF_INET, &a4, text, sizeof(text)))
			return -1;
	} else if (inet_pton(AF_INET6, ip, a6) == 1) {
		if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
			memcpy(&a4, a6 + 12, 4);
			if (!inet_ntop(AF_INET, &a4, text, sizeof(text)))
				return -1;
		} else {
			size_t n;

			memset(a6 + 8, 0, 8);
			if (!inet_ntop(AF_INET6, a6, text, sizeof(text)))
				return -1;
			n = strlen(text);
			if (n + 4 > sizeof(text))
				return -1;
			memcpy(text + n, "/64", 4);
		}
	} else {
		return -1;
	}
	if (strlen(text) >= outlen)
		return -1;
	memcpy(out, text, strlen(text) + 1);
	return 0;
}

int addr_peer_trusted(const char *peer)
{
	unsigned char a6[16];
	struct in_addr a4;
	static const unsigned char loop6[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!peer || !peer[0])
		return 1;
	if (inet_pton(AF_INET, peer, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, peer, a6) == 1)
		return memcmp(a6, loop6, 16) == 0 ||
			(memcmp(a6, mapped, sizeof(mapped)) == 0 && a6[12] == 127);
	return 0;
}

int addr_xff_last(const char *xff, char *out, size_t outlen)
{
	const char *last;
	size_t n;

	if (outlen)
		out[0] = '\0';
	if (!xff)
		return -1;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strlen(last);
	while (n && (last[n - 1] == ' ' || last[n - 1] == '\t'))
		n--;
	if (!n || n >= outlen)
		return -1;
	memcpy(out, last, n);
	out[n] = '\0';
	return 0;
}

void addr_client(const char *peer, const char *real_ip, const char *xff, char *out, size_t outlen)
{
	char hop[64];

	if (addr_peer_trusted(peer)) {
		if (real_ip && addr_key(real_ip, out, outlen) == 0)
			return;
		if (addr_xff_last(xff, hop, sizeof(hop)) == 0 && addr_key(hop, out, outlen) == 0)
			return;
	}
	if (peer && peer[0] && addr_key(peer, out, outlen) == 0)
		return;
	snprintf(out, outlen, "%s", peer && peer[0] ? peer : "local");
}
