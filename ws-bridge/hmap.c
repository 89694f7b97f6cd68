/* hmap.c -- a small chained hash map from byte-string keys to pointers. */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hmap_node {
	struct hmap_node *next;
	uint64_t hash;
	void *value;
	size_t len;
	unsigned char key[];
};

/* FNV-1a: keys here are ids chosen by the server or validated room ids. */
static uint64_t hmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hmap_release(struct hmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;

			free(n);
			n = next;
		}
	}
	free(m->buckets);
	hmap_init(m);
}

static struct hmap_node **hmap_slot(const struct hmap *m, uint64_t h, const void *key, size_t len)
{
	struct hmap_node **pp;

	if (!m->nbuckets)
		return NULL;
	pp = &m->buckets[h & (m->nbuckets - 1)];
	while (*pp && !((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0))
		pp = &(*pp)->next;
	return pp;
}

void *hmap_get(const struct hmap *m, const void *key, size_t len)
{
	struct hmap_node **pp = hmap_slot(m, hmap_hash(key, len), key, len);

	return pp && *pp ? (*pp)->value : NULL;
}

static int hmap_grow(struct hmap *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
	struct hmap_node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;

			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
	return 0;
}

int hmap_put(struct hmap *m, const void *key, size_t len, void *value)
{
	uint64_t h = hmap_hash(key, len);
	struct hmap_node **pp, *n;

	if (m->count >= m->nbuckets && hmap_grow(m))
		return -1;
	pp = hmap_slot(m, h, key, len);
	if (*pp) {
		(*pp)->value = value;
		return 0;
	}
	n = malloc(sizeof(*n) + len);
	if (!n)
		return -1;
	n->next = NULL;
	n->hash = h;
	n->value = value;
	n->len = len;
	memcpy(n->key, key, len);
	*pp = n;
	m->count++;
	return 0;
}

void *hmap_del(struct hmap *m, const void *key, size_t len)
{
	struct hmap_node **pp = hmap_slot(m, hmap_hash(key, len), key, len);
	struct hmap_node *n;
	void *v;

	if (!pp || !*pp)
		return NULL;
	n = *pp;
	*pp = n->next;
	v = n->value;
	free(n);
	m->count--;
	return v;
}

void hmap_each(const struct hmap *m, void (*fn)(void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct hmap_node *n = m->buckets[i]; n; n = n->next)
			fn(n->value, arg);
}
