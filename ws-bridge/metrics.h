/* metrics.h -- the bridge's /metrics page, in the Prometheus text format. */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stddef.h>

/*
 * The connection layer's metrics callback (struct conn_ops, arg: the
 * bridge): returns the page as a malloc'd text of *len bytes (the caller
 * frees it), or NULL when out of memory.
 */
char *metrics_page(void *arg, size_t *len);

#endif
