/* version.c -- the release (VERSION at the top of the tree) and the schema this build needs. */
#include "version.h"

/*
 * The Makefile defines both for this file alone (from VERSION and the
 * newest migrations/NNNN_*.sql), so that a new migration rebuilds one
 * object. Builds that do not (the fuzz harnesses compile common/ on their
 * own) never ask.
 */
#ifndef CHAT_VERSION
#define CHAT_VERSION "unknown"
#endif
#ifndef CHAT_SCHEMA
#define CHAT_SCHEMA "unknown"
#endif

const char *version_release(void)
{
	return CHAT_VERSION;
}

const char *version_schema(void)
{
	return CHAT_SCHEMA;
}
