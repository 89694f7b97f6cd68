/* args.h -- chatctl's command line: global options, the subcommand, its arguments and options. */
#ifndef CHATCTL_ARGS_H
#define CHATCTL_ARGS_H

#include <stdio.h>

/* The migration chatctl's SQL functions come with. */
#define CTL_SCHEMA "0020"

/* The exit codes of chatctl. */
enum ctl_exit {
	CTL_EXIT_OK = 0,    /* done (also: nothing to change) */
	CTL_EXIT_FAIL = 1,  /* refused or failed: no such user, room or message, database error */
	CTL_EXIT_USAGE = 2, /* bad command line, bad input, bad configuration */
};

enum ctl_cmd_id {
	CTL_USERS,
	CTL_ROOMS,
	CTL_BAN,
	CTL_UNBAN,
	CTL_RESET_PASSWORD,
	CTL_REVOKE_SESSIONS,
	CTL_DELETE_MESSAGE,
	CTL_DELETE_ROOM,
	CTL_MAKE_ADMIN,
	CTL_REVOKE_ADMIN,
};

/* What a subcommand's positional arguments are; each is checked by kind. */
enum ctl_arg_kind {
	CTL_ARG_NONE = 0,
	CTL_ARG_USER,    /* a username or a user id */
	CTL_ARG_ROOM,    /* a room id */
	CTL_ARG_MESSAGE, /* a message id, a positive integer */
};

enum ctl_opt_flags {
	CTL_OPT_LIST = 1 << 0,   /* --like PATTERN, --limit N */
	CTL_OPT_REASON = 1 << 1, /* --reason TEXT */
};

struct ctl_cmd {
	const char *name;
	enum ctl_cmd_id id;
	enum ctl_arg_kind args[2]; /* up to two, in order */
	unsigned opts;             /* enum ctl_opt_flags */
	const char *synopsis;      /* after the name */
	const char *help;          /* what it does, a few lines */
};

#define CTL_LIMIT_DEFAULT 100
#define CTL_LIMIT_MAX 10000
#define CTL_USER_MAX 255    /* bytes of a USER argument */
#define CTL_PATTERN_MAX 255 /* bytes of a --like pattern */
#define CTL_REASON_MAX 500  /* characters of a --reason */

/* A parsed command line. The strings point into argv. */
struct ctl_args {
	const char *env_file; /* --env-file PATH, or NULL */
	int no_env_file;      /* --no-env-file */
	int help;             /* --help: of cmd when set, else of chatctl */
	int version;          /* --version */
	const struct ctl_cmd *cmd;
	const char *pos[2]; /* the positional arguments, checked */
	long message_id;    /* CTL_ARG_MESSAGE's value */
	const char *like;   /* --like, or NULL */
	long limit;         /* --limit, CTL_LIMIT_DEFAULT unless given */
	const char *reason; /* --reason, or NULL */
};

/* The subcommand of that name, or NULL. */
const struct ctl_cmd *ctl_cmd_find(const char *name);

/*
 * Parses argv[1..argc): [global options] SUBCOMMAND [arguments and
 * options], "--" ending the options. Every argument is checked (a USER is
 * 1..255 bytes of UTF-8 text, a ROOM_ID what valid_room_id accepts, a
 * MESSAGE_ID a positive integer, --limit 1..10000, --like 1..255 bytes of
 * UTF-8 text, --reason 1..500 characters). Returns 0 with *a filled
 * (a->help or a->version set: nothing else need be), or -1 with the reason
 * in err (always NUL-terminated): the caller prints it with the usage and
 * exits CTL_EXIT_USAGE.
 */
int ctl_args_parse(struct ctl_args *a, int argc, char *const *argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Prints chatctl's manual (--help) to f. */
void ctl_usage(FILE *f);

/* Prints one subcommand's synopsis and help to f. */
void ctl_cmd_usage(FILE *f, const struct ctl_cmd *cmd);

#endif
