/* metrics.h -- the bridge's /metrics page, in the Prometheus text format. */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stddef.h>

/*
 * The connection layer's page callback (struct conn_ops.page, arg: the
 * bridge): GET /metrics, the Prometheus text, to the addresses of
 * CHAT_METRICS_ALLOW (403 to others); GET /healthz, 200 when both
 * database connections are up, else 503, with one line saying which.
 * Returns the status with *body malloc'd (the caller frees it; NULL when
 * out of memory) and *type set, or 0 when uri is neither.
 */
int metrics_page(void *arg, const char *uri, const char *addr, char **body, const char **type);

#endif
