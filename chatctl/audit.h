/* audit.h -- chatctl's record of who did what: the OS user, and a line to syslog. */
#ifndef CHATCTL_AUDIT_H
#define CHATCTL_AUDIT_H

#include <stddef.h>

/*
 * Writes who runs chatctl into buf (NUL-terminated, cut to buflen): the
 * name of the effective user (getpwuid(geteuid())), or "uid N" when it has
 * none; under sudo, with the invoking user: "root (sudo: alice)".
 */
void audit_os_user(char *buf, size_t buflen);

/* Opens the syslog connection (ident chatctl, facility authpriv). */
void audit_open(void);

/*
 * One syslog line for an action: notice when done (ok), warning when
 * refused or failed. The strings are printed as given: chatctl's
 * arguments are checked to be text without control characters first.
 */
void audit_syslog(int ok, const char *os_user, const char *action, const char *target,
		  const char *outcome);

#endif
