/* envfile.h -- reads a systemd EnvironmentFile (deploy/chat.env.example) into the environment. */
#ifndef CHAT_ENVFILE_H
#define CHAT_ENVFILE_H

#include <stddef.h>

/* The largest env file read, and the longest line of one. */
#define ENVFILE_MAX_BYTES (1024 * 1024)
#define ENVFILE_MAX_LINE 8192

/*
 * Parses one line of an env file: blank lines and lines starting with '#'
 * (after leading blanks) are nothing (returns 0 with *key NULL); otherwise
 * NAME=value, NAME of letters, digits and '_' not starting with a digit,
 * the value the rest of the line with one pair of surrounding single or
 * double quotes removed and nothing expanded, as systemd reads
 * EnvironmentFile=. line is modified in place: *key and *value point into
 * it. Returns 0, or -1 with a reason in err (always NUL-terminated).
 */
int envfile_parse_line(char *line, char **key, char **value, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Reads the env file at path and sets each variable that the environment
 * does not already set to a non-empty value (so that `VAR=x chatctl`
 * overrides one line of the file). Returns 0, or -1 with a message naming
 * the file (and line) in err: unreadable, too large, a malformed line.
 */
int envfile_load(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
