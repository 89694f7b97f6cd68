/* bug.c -- the report and abort behind BUG() and BUG_ON(). */
#include "bug.h"

#include <stdlib.h>

#include "log.h"

void bug_fail(const char *file, int line, const char *func, const char *what)
{
	log_err("BUG at %s:%d in %s(): %s", file, line, func, what);
	abort();
}
