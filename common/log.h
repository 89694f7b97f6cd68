/* log.h -- structured one-line logs to stderr (journald reads them there). */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERR };

/*
 * Sets the component name printed on every line ("fcgi", "ws") and the
 * lowest level printed ("debug", "info", "warn", "error"; anything else
 * means info). The component string must outlive the program. When
 * stderr is the journal (systemd's JOURNAL_STREAM names it), each line
 * starts with its syslog priority, "<7>" debug, "<6>" info, "<4>" warn,
 * "<3>" error, which journald reads and strips (sd-daemon(3)).
 */
void log_init(const char *component, const char *min_level);

/*
 * Whether descriptor fd is the stream journal_stream ("DEVICE:INODE",
 * systemd's JOURNAL_STREAM) names. NULL or a malformed value is not.
 */
int log_journal_stream(const char *journal_stream, int fd);

/*
 * Sets the request id and user id printed on following lines until the
 * next call; NULL clears a field. The strings are copied (truncated to 63
 * bytes).
 */
void log_context(const char *request_id, const char *user_id);

/*
 * Prints one line: ts=... level=... comp=... req=... user=... msg="...".
 * The message is escaped so a client-controlled string cannot forge a line.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
