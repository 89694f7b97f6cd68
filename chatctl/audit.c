/* audit.c -- chatctl's record of who did what: the OS user, and a line to syslog. */
#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

void audit_os_user(char *buf, size_t buflen)
{
	uid_t uid = geteuid();
	const struct passwd *pw = getpwuid(uid);
	const char *sudo = getenv("SUDO_USER");

	if (pw && pw->pw_name && *pw->pw_name)
		snprintf(buf, buflen, "%s", pw->pw_name);
	else
		snprintf(buf, buflen, "uid %lu", (unsigned long)uid);
	/* SUDO_USER is only believed for root: anyone else could set it. */
	if (uid == 0 && sudo && *sudo) {
		size_t n = 0;

		while (n < buflen && buf[n])
			n++;
		snprintf(buf + n, buflen - n, " (sudo: %.64s)", sudo);
	}
}

void audit_open(void)
{
	openlog("chatctl", LOG_PID, LOG_AUTHPRIV);
}

void audit_syslog(int ok, const char *os_user, const char *action, const char *target,
		  const char *outcome)
{
	syslog(ok ? LOG_NOTICE : LOG_WARNING, "%s by '%s': %s '%s': %s", ok ? "done" : "refused",
	       os_user, action, target ? target : "", outcome);
}
