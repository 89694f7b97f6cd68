/* bug.h -- BUG() and BUG_ON(): a programmer error stops the program, with file and line. */
#ifndef CHAT_BUG_H
#define CHAT_BUG_H

/*
 * For what can only happen when the code itself is wrong: a statement index
 * out of range, a state a caller may not be in, a parameter count that does
 * not match the prepared statement. Such a mistake is never a runtime error
 * to return: it is reported with file and line and the program aborts, so
 * that a test (and a sanitizer build) shows it at once (git's BUG(), redis's
 * serverAssert). A database that is down or a client that sends garbage is
 * not a bug: return an error code for those.
 */
_Noreturn void bug_fail(const char *file, int line, const char *func, const char *what);

#define BUG(what) bug_fail(__FILE__, __LINE__, __func__, (what))

#define BUG_ON(cond) \
	do { \
		if (cond) \
			bug_fail(__FILE__, __LINE__, __func__, #cond); \
	} while (0)

#endif
