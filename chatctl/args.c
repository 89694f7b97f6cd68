/* args.c -- chatctl's command line: global options, the subcommand, its arguments and options. */
#include "args.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "utf8.h"
#include "valid.h"

static const struct ctl_cmd ctl_cmds[] = {
	{ "users",
	  CTL_USERS,
	  { CTL_ARG_NONE, CTL_ARG_NONE },
	  CTL_OPT_LIST,
	  "[--like PATTERN] [--limit N]",
	  "Lists users by name: id, username, registered, site_admin, banned, rooms (memberships),\n"
	  "online, last_seen; tab-separated with a header line. PATTERN is a SQL LIKE pattern\n"
	  "matched against the username or id, case-insensitive ('%' any text, '_' one\n"
	  "character, no escape character; e.g. 'ali%'). N: 1..10000, default 100." },
	{ "rooms",
	  CTL_ROOMS,
	  { CTL_ARG_NONE, CTL_ARG_NONE },
	  CTL_OPT_LIST,
	  "[--like PATTERN] [--limit N]",
	  "Lists rooms by creation: id, name (a direct room: its members), visibility,\n"
	  "members, messages (the last seq), created_at; tab-separated with a header line.\n"
	  "PATTERN and N as for users." },
	{ "ban",
	  CTL_BAN,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  CTL_OPT_REASON,
	  "USER [--reason TEXT]",
	  "Bans USER (a username or a user id) from the site: every session is revoked and\n"
	  "every socket of the user closes at once; sign-in by any path (join, register,\n"
	  "login, a site token, a socket CONNECT) is refused with 'forbidden' until unban." },
	{ "unban",
	  CTL_UNBAN,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  0,
	  "USER",
	  "Lifts USER's site ban: the user may sign in again." },
	{ "reset-password",
	  CTL_RESET_PASSWORD,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  0,
	  "USER",
	  "Sets USER's password to the one read from standard input (never from the command\n"
	  "line; one line, its newline removed; asked for without echo on a terminal): 8 to\n"
	  "256 bytes of UTF-8, hashed with Argon2id at CHAT_PWHASH_OPSLIMIT and\n"
	  "CHAT_PWHASH_MEMLIMIT as chat-fcgi does. The user becomes registered; every\n"
	  "session is revoked." },
	{ "revoke-sessions",
	  CTL_REVOKE_SESSIONS,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  0,
	  "USER",
	  "Revokes every session of USER; their sockets close. Site-token users have no\n"
	  "session: ban them, or let their tokens expire." },
	{ "delete-message",
	  CTL_DELETE_MESSAGE,
	  { CTL_ARG_ROOM, CTL_ARG_MESSAGE },
	  0,
	  "ROOM_ID MESSAGE_ID",
	  "Deletes a message: its text is erased from the database, it stays in history as a\n"
	  "tombstone (\"deleted\": true, \"content\": null, the same seq) and the room's sockets\n"
	  "get message_deleted." },
	{ "delete-room",
	  CTL_DELETE_ROOM,
	  { CTL_ARG_ROOM, CTL_ARG_NONE },
	  0,
	  "ROOM_ID",
	  "Deletes a room with its messages, memberships and bans. Its members' sockets get\n"
	  "room_removed {room_id, reason: \"deleted\"} and leave it." },
	{ "make-admin",
	  CTL_MAKE_ADMIN,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  0,
	  "USER",
	  "Makes USER a site administrator: they moderate every room." },
	{ "revoke-admin",
	  CTL_REVOKE_ADMIN,
	  { CTL_ARG_USER, CTL_ARG_NONE },
	  0,
	  "USER",
	  "USER is no longer a site administrator." },
};

#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < CTL_NCMDS; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

void ctl_cmd_usage(FILE *f, const struct ctl_cmd *cmd)
{
	fprintf(f, "usage: chatctl [GLOBAL OPTIONS] %s %s\n\n%s\n", cmd->name, cmd->synopsis,
		cmd->help);
}

void ctl_usage(FILE *f)
{
	fputs("NAME\n"
	      "    chatctl - administer the chat site from the shell\n"
	      "\n"
	      "SYNOPSIS\n"
	      "    chatctl [--env-file PATH | --no-env-file] SUBCOMMAND [ARGS]\n"
	      "    chatctl SUBCOMMAND --help\n"
	      "    chatctl --help | --version\n"
	      "\n"
	      "SUBCOMMANDS\n",
	      f);
	for (size_t i = 0; i < CTL_NCMDS; i++)
		fprintf(f, "    %s %s\n", ctl_cmds[i].name, ctl_cmds[i].synopsis);
	fputs("\n"
	      "    USER is a username (any case) or a user id. `chatctl SUBCOMMAND --help`\n"
	      "    says what each does.\n"
	      "\n"
	      "CONFIGURATION\n"
	      "    The same as chat-fcgi's and chat-ws's: DATABASE_URL, CHAT_DB_TIMEOUT,\n"
	      "    CHAT_PWHASH_OPSLIMIT, CHAT_PWHASH_MEMLIMIT... from the environment, filled from\n"
	      "    the env file: --env-file PATH, else /etc/chat/chat.env when it exists\n"
	      "    (--no-env-file: the environment only). A variable set in the environment\n"
	      "    wins over the file's line.\n"
	      "\n"
	      "LOGGING\n"
	      "    Every action is logged: a line to syslog (facility authpriv, ident chatctl)\n"
	      "    and to standard error, and, when it was carried out, a row of the table\n"
	      "    admin_log (the OS user, the action, its target, the answer, the time).\n"
	      "\n"
	      "EXIT STATUS\n"
	      "    0  done (also when there was nothing to change)\n"
	      "    1  refused or failed: no such user, room or message; database error\n"
	      "    2  bad command line, bad input (a password too short...), bad configuration\n",
	      f);
}

/* A text argument: 1..max_bytes bytes of UTF-8 text without control characters. */
static int ctl_check_text(const char *what, const char *s, size_t max_bytes, char *err,
			  size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > max_bytes) {
		snprintf(err, errlen, "%s must be 1 to %zu bytes", what, max_bytes);
		return -1;
	}
	if (utf8_check_text(s, n, 0, NULL) != UTF8_OK) {
		snprintf(err, errlen, "%s is not valid UTF-8 text", what);
		return -1;
	}
	return 0;
}

static int ctl_check_pos(struct ctl_args *a, enum ctl_arg_kind kind, const char *s, char *err,
			 size_t errlen)
{
	switch (kind) {
	case CTL_ARG_USER:
		return ctl_check_text("USER", s, CTL_USER_MAX, err, errlen);
	case CTL_ARG_ROOM:
		if (!valid_room_id(s, strlen(s))) {
			snprintf(err, errlen,
				 "ROOM_ID must be 1 to 64 of letters, digits, '-' and '_'");
			return -1;
		}
		return 0;
	case CTL_ARG_MESSAGE:
		if (cfg_parse_long(s, 1, LONG_MAX, &a->message_id) || s[0] == '-') {
			snprintf(err, errlen, "MESSAGE_ID must be a positive integer");
			return -1;
		}
		return 0;
	case CTL_ARG_NONE:
		break;
	}
	snprintf(err, errlen, "too many arguments");
	return -1;
}

/*
 * The option at argv[*i] (name given as "--name value" or "--name=value"):
 * its value in *value, *i moved past it. Returns 1 when argv[*i] is that
 * option, 0 when not, -1 when its value is missing.
 */
static int ctl_opt_value(const char *name, int argc, char *const *argv, int *i, const char **value,
			 char *err, size_t errlen)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "%s needs a value", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

/* One subcommand option at argv[*i]: 0 when taken, -1 on error. */
static int ctl_cmd_option(struct ctl_args *a, int argc, char *const *argv, int *i, char *err,
			  size_t errlen)
{
	const unsigned opts = a->cmd->opts;
	const char *v = NULL;
	int r;

	if (opts & CTL_OPT_LIST) {
		r = ctl_opt_value("--like", argc, argv, i, &v, err, errlen);
		if (r < 0)
			return -1;
		if (r > 0) {
			a->like = v;
			return ctl_check_text("--like", v, CTL_PATTERN_MAX, err, errlen);
		}
		r = ctl_opt_value("--limit", argc, argv, i, &v, err, errlen);
		if (r < 0)
			return -1;
		if (r > 0) {
			if (cfg_parse_long(v, 1, CTL_LIMIT_MAX, &a->limit)) {
				snprintf(err, errlen, "--limit must be an integer from 1 to %d",
					 CTL_LIMIT_MAX);
				return -1;
			}
			return 0;
		}
	}
	if (opts & CTL_OPT_REASON) {
		r = ctl_opt_value("--reason", argc, argv, i, &v, err, errlen);
		if (r < 0)
			return -1;
		if (r > 0) {
			size_t chars = 0;

			a->reason = v;
			if (utf8_check_text(v, strlen(v), 0, &chars) != UTF8_OK || chars < 1 ||
			    chars > CTL_REASON_MAX) {
				snprintf(err, errlen,
					 "--reason must be 1 to %d characters of UTF-8 text",
					 CTL_REASON_MAX);
				return -1;
			}
			return 0;
		}
	}
	snprintf(err, errlen, "unknown option '%.64s' for %s", argv[*i], a->cmd->name);
	return -1;
}

/* The global options before the subcommand; returns the index of the subcommand. */
static int ctl_global_options(struct ctl_args *a, int argc, char *const *argv, char *err,
			      size_t errlen)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v = NULL;
		int r;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			a->help = 1;
			return argc;
		}
		if (strcmp(argv[i], "--version") == 0) {
			a->version = 1;
			return argc;
		}
		if (strcmp(argv[i], "--no-env-file") == 0) {
			a->no_env_file = 1;
			continue;
		}
		r = ctl_opt_value("--env-file", argc, argv, &i, &v, err, errlen);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(err, errlen, "unknown option '%.64s'", argv[i]);
			return -1;
		}
		if (!*v) {
			snprintf(err, errlen, "--env-file needs a path");
			return -1;
		}
		a->env_file = v;
	}
	if (a->env_file && a->no_env_file) {
		snprintf(err, errlen, "--env-file and --no-env-file exclude each other");
		return -1;
	}
	return i;
}

int ctl_args_parse(struct ctl_args *a, int argc, char *const *argv, char *err, size_t errlen)
{
	int i, npos = 0, options = 1;

	memset(a, 0, sizeof(*a));
	a->limit = CTL_LIMIT_DEFAULT;
	if (errlen)
		err[0] = '\0';
	i = ctl_global_options(a, argc, argv, err, errlen);
	if (i < 0)
		return -1;
	if (a->help || a->version)
		return 0;
	if (i >= argc) {
		snprintf(err, errlen, "a subcommand is required");
		return -1;
	}
	a->cmd = ctl_cmd_find(argv[i]);
	if (!a->cmd) {
		snprintf(err, errlen, "unknown subcommand '%.64s'", argv[i]);
		return -1;
	}
	for (i++; i < argc; i++) {
		const char *s = argv[i];

		if (options && strcmp(s, "--") == 0) {
			options = 0;
			continue;
		}
		if (options && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)) {
			a->help = 1;
			return 0;
		}
		if (options && s[0] == '-' && s[1] != '\0') {
			if (ctl_cmd_option(a, argc, argv, &i, err, errlen))
				return -1;
			continue;
		}
		if (npos >= 2 || a->cmd->args[npos] == CTL_ARG_NONE) {
			snprintf(err, errlen, "too many arguments for %s", a->cmd->name);
			return -1;
		}
		if (ctl_check_pos(a, a->cmd->args[npos], s, err, errlen))
			return -1;
		a->pos[npos++] = s;
	}
	if (npos < 2 && a->cmd->args[npos] != CTL_ARG_NONE) {
		snprintf(err, errlen, "%s needs %s", a->cmd->name, a->cmd->synopsis);
		return -1;
	}
	return 0;
}
