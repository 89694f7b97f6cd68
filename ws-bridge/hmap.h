/* hmap.h -- a small chained hash map from byte-string keys to pointers. */
#ifndef CHAT_HMAP_H
#define CHAT_HMAP_H

#include <stddef.h>

struct hmap_node;

struct hmap {
	struct hmap_node **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

void hmap_init(struct hmap *m);

/* Frees the nodes (not the values). */
void hmap_release(struct hmap *m);

/* Returns the value stored under key, or NULL. */
void *hmap_get(const struct hmap *m, const void *key, size_t len);

/*
 * Stores value under key (copied), replacing an existing value.
 * Returns 0, or -1 when out of memory (the map is unchanged).
 */
int hmap_put(struct hmap *m, const void *key, size_t len, void *value)
	__attribute__((warn_unused_result));

/* Removes key; returns its value or NULL when absent. */
void *hmap_del(struct hmap *m, const void *key, size_t len);

/*
 * Calls fn(value, arg) for every entry; fn must not change the map.
 * Order is unspecified.
 */
void hmap_each(const struct hmap *m, void (*fn)(void *value, void *arg), void *arg);

#endif
