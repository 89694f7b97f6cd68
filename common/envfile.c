/* envfile.c -- reads a systemd EnvironmentFile (deploy/chat.env.example) into the environment. */
#include "envfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static int envfile_name_char(char ch, int first)
{
	if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_')
		return 1;
	return !first && ch >= '0' && ch <= '9';
}

int envfile_parse_line(char *line, char **key, char **value, char *err, size_t errlen)
{
	char *eq, *v, *end;
	size_t n;

	*key = NULL;
	*value = NULL;
	if (errlen)
		err[0] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (!*line || *line == '#' || *line == ';')
		return 0;
	eq = strchr(line, '=');
	if (!eq || eq == line) {
		snprintf(err, errlen, "expected NAME=value");
		return -1;
	}
	for (char *p = line; p < eq; p++)
		if (!envfile_name_char(*p, p == line)) {
			snprintf(err, errlen, "invalid variable name");
			return -1;
		}
	*eq = '\0';
	v = eq + 1;
	end = v + strlen(v);
	if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
		end[-1] = '\0';
		v++;
	}
	if (utf8_check_text(v, strlen(v), 0, NULL) != UTF8_OK) {
		snprintf(err, errlen, "the value of %s is not valid UTF-8 text", line);
		return -1;
	}
	*key = line;
	*value = v;
	return 0;
}

int envfile_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t len;
	long lineno = 0;
	int rc = -1;
	char why[128];

	if (!f) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *key, *value;
		const char *cur;

		lineno++;
		total += (size_t)len;
		if (total > ENVFILE_MAX_BYTES || len > ENVFILE_MAX_LINE) {
			snprintf(err, errlen, "cannot read '%s': line %ld: too large", path,
				 lineno);
			goto out;
		}
		if (memchr(line, '\0', (size_t)len)) {
			snprintf(err, errlen, "cannot read '%s': line %ld: a NUL byte", path,
				 lineno);
			goto out;
		}
		if (envfile_parse_line(line, &key, &value, why, sizeof(why))) {
			snprintf(err, errlen, "cannot read '%s': line %ld: %s", path, lineno, why);
			goto out;
		}
		if (!key)
			continue;
		cur = getenv(key);
		if ((!cur || !*cur) && setenv(key, value, 1) != 0) {
			snprintf(err, errlen, "cannot set %s: %s", key, strerror(errno));
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}
