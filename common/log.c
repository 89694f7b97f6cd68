/* log.c -- structured one-line logs to stderr (journald reads them there). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The logger is the one piece of process-wide state besides the stop flag:
 * every module logs, and threading a handle through each call would add
 * noise without adding safety in these single-threaded programs. */
static struct {
	const char *component;
	enum log_level min;
	int journal; /* stderr is the journal: lines start with <priority> */
	char req[64];
	char user[64];
} log_state = { "chat", LOG_INFO, 0, "", "" };

static const char *const log_names[] = { "debug", "info", "warn", "error" };

/* syslog priorities (sd-daemon.h's SD_DEBUG ... SD_ERR) of debug, info, warn, error. */
static const char log_prio[] = { '7', '6', '4', '3' };

int log_journal_stream(const char *journal_stream, int fd)
{
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!journal_stream || sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return 0;
	if (fstat(fd, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *component, const char *min_level)
{
	log_state.component = component;
	log_state.journal = log_journal_stream(getenv("JOURNAL_STREAM"), 2);
	log_state.min = LOG_INFO;
	for (int i = 0; i < 4; i++)
		if (min_level && strcmp(min_level, log_names[i]) == 0)
			log_state.min = (enum log_level)i;
}

static void log_copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void log_context(const char *request_id, const char *user_id)
{
	log_copy(log_state.req, sizeof(log_state.req), request_id);
	log_copy(log_state.user, sizeof(log_state.user), user_id);
}

/* Writes s with quotes, backslashes and control bytes escaped. */
static size_t log_escape(char *dst, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
	return o;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[1024], esc[2048], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level < log_state.min)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(esc, sizeof(esc), raw);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_state.journal)
		fprintf(stderr, "<%c>", log_prio[level]);
	fprintf(stderr, "ts=%s.%03ldZ level=%s comp=%s%s%s%s%s msg=\"%s\"\n", ts,
		now.tv_nsec / 1000000L, log_names[level], log_state.component,
		log_state.req[0] ? " req=" : "", log_state.req, log_state.user[0] ? " user=" : "",
		log_state.user, esc);
}
