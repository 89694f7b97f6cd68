/* fnv.h -- FNV-1a over C strings: spreads names and tokens over slots and buckets. */
#ifndef CHAT_FNV_H
#define CHAT_FNV_H

#include <stdint.h>

#define FNV1A_INIT 2166136261u

/* Continues hash h over s (start with FNV1A_INIT); chains over several strings. */
static inline uint32_t fnv1a(uint32_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

#endif
