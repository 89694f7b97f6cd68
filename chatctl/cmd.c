/* cmd.c -- chatctl's subcommands against the database: the lists and the logged actions. */
#include "cmd.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "audit.h"
#include "dbcall.h"
#include "log.h"
#include "pwhash.h"
#include "valid.h"

/* The SQL of each subcommand; $1.. are filled by cmd_params. */
static const char *const cmd_sql[] = {
	[CTL_USERS] = "SELECT * FROM chat_admin_users($1, $2::int)",
	[CTL_ROOMS] = "SELECT * FROM chat_admin_rooms($1, $2::int)",
	[CTL_BAN] = DBCALL_SELECT "chat_admin_ban($1, true, $2, $3)",
	[CTL_UNBAN] = DBCALL_SELECT "chat_admin_ban($1, false, NULL, NULL)",
	[CTL_RESET_PASSWORD] = DBCALL_SELECT "chat_admin_password($1, $2)",
	[CTL_REVOKE_SESSIONS] = DBCALL_SELECT "chat_admin_revoke($1)",
	[CTL_DELETE_MESSAGE] = DBCALL_SELECT "chat_message_delete(NULL, $1, $2::bigint)",
	[CTL_DELETE_ROOM] = DBCALL_SELECT "chat_room_delete(NULL, $1)",
	[CTL_MAKE_ADMIN] = DBCALL_SELECT "chat_admin_site_admin($1, true)",
	[CTL_REVOKE_ADMIN] = DBCALL_SELECT "chat_admin_site_admin($1, false)",
};

#define CMD_LOG_SQL "SELECT chat_admin_log($1, $2, $3, $4::json)"

/* Connects and applies the services' session settings. Returns NULL after saying why. */
static PGconn *cmd_connect(const struct cfg *cfg)
{
	struct dbcall_conn dc;
	PGconn *c;

	dbcall_conn_init(&dc, cfg, "chatctl");
	c = PQconnectdbParams(dc.keys, dc.vals, dc.expand_dbname);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		log_err("cannot connect to the database: %s",
			c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, dbcall_notice, NULL);
	for (int i = 0; i < DBCALL_NSETTINGS; i++) {
		PGresult *r = PQexecParams(c, dc.settings[i].sql, 1, NULL, &dc.settings[i].param,
					   NULL, NULL, 0);

		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			log_err("cannot set up the session: %s", PQerrorMessage(c));
			PQclear(r);
			PQfinish(c);
			return NULL;
		}
		PQclear(r);
	}
	return c;
}

/* Prints s with control characters and backslashes escaped: one field of a row. */
static void cmd_print_field(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* users, rooms: a header line, then one tab-separated line per row. */
static int cmd_list(PGconn *c, const struct ctl_args *a)
{
	char limit[24];
	const char *params[2];
	PGresult *r;
	int rows, cols;

	snprintf(limit, sizeof(limit), "%ld", a->limit);
	params[0] = a->like;
	params[1] = limit;
	r = PQexecParams(c, cmd_sql[a->cmd->id], 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("cannot list %s: %s", a->cmd->name, PQerrorMessage(c));
		PQclear(r);
		return CTL_EXIT_FAIL;
	}
	rows = PQntuples(r);
	cols = PQnfields(r);
	for (int j = 0; j < cols; j++)
		printf("%s%s", j ? "\t" : "", PQfname(r, j));
	putchar('\n');
	for (int i = 0; i < rows; i++) {
		for (int j = 0; j < cols; j++) {
			if (j)
				putchar('\t');
			cmd_print_field(PQgetisnull(r, i, j) ? "-" : PQgetvalue(r, i, j));
		}
		putchar('\n');
	}
	PQclear(r);
	return CTL_EXIT_OK;
}

/* Reads a line from the terminal without echo into buf; returns its length or -1. */
static ssize_t cmd_read_tty(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	ssize_t n = 0;
	int echo_off = tcgetattr(STDIN_FILENO, &old) == 0;

	fputs(prompt, stderr);
	fflush(stderr);
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	while ((size_t)n < cap) {
		char ch;
		ssize_t got = read(STDIN_FILENO, &ch, 1);

		if (got <= 0 || ch == '\n')
			break;
		buf[n++] = ch;
	}
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return n;
}

/*
 * The new password, from standard input: one line (its "\n" or "\r\n"
 * removed), asked twice without echo on a terminal. Returns its length
 * (buf holds it, not NUL-terminated), or -1 after saying why.
 */
static ssize_t cmd_read_password(char *buf, size_t cap)
{
	ssize_t n = 0;
	struct valid_err e;

	if (isatty(STDIN_FILENO)) {
		char again[VALID_PASSWORD_MAX + 2];
		ssize_t m;

		n = cmd_read_tty("New password: ", buf, cap);
		m = cmd_read_tty("Retype it: ", again, sizeof(again));
		if (m != n || memcmp(buf, again, (size_t)n) != 0) {
			sodium_memzero(again, sizeof(again));
			log_err("cannot set the password: the two did not match");
			return -1;
		}
		sodium_memzero(again, sizeof(again));
	} else {
		size_t got;
		const char *nl;

		while ((got = fread(buf + n, 1, cap - (size_t)n, stdin)) > 0)
			n += (ssize_t)got;
		/* Longer than cap: cut there, and valid_password refuses it. */
		nl = memchr(buf, '\n', (size_t)n);
		if (nl && nl + 1 < buf + n) {
			log_err("cannot set the password: standard input holds more than one line");
			return -1;
		}
		if (nl)
			n = nl - buf;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (memchr(buf, '\0', (size_t)n)) {
		log_err("cannot set the password: it holds a NUL byte");
		return -1;
	}
	if (valid_password("password", buf, (size_t)n, &e)) {
		log_err("cannot set the password: %s", e.message);
		return -1;
	}
	return n;
}

/* The password's Argon2id hash into hash, with chat-fcgi's cost. 0, or -1 after saying why. */
static int cmd_password_hash(const struct cfg *cfg, char hash[PWHASH_STR_MAX])
{
	/* Room to see that a piped password is too long. */
	char pw[VALID_PASSWORD_MAX + 8];
	struct pwhash p;
	ssize_t n;
	int rc = -1;

	if (pwhash_init(&p, (unsigned long long)cfg->pwhash_opslimit, (size_t)cfg->pwhash_memlimit))
		return -1;
	n = cmd_read_password(pw, sizeof(pw));
	if (n >= 0 && pwhash_hash(&p, pw, (size_t)n, hash) == 0)
		rc = 0;
	sodium_memzero(pw, sizeof(pw));
	return rc;
}

static PGresult *cmd_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
	return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

/* Runs a statement without rows (BEGIN, COMMIT, ROLLBACK); 0 or -1. */
static int cmd_simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		log_err("cannot %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

/*
 * The action's statement and its admin_log row in one transaction. On
 * success prints the answer's data; returns an enum ctl_exit code, with
 * *outcome (static or in outbuf) saying what happened.
 */
static int cmd_action(PGconn *c, const struct ctl_args *a, const char *os_user, const char *hash,
		      const char *target, char *outbuf, size_t outlen, const char **outcome)
{
	const char *params[3] = { a->pos[0], NULL, NULL };
	const char *logp[4];
	int nparams = 1, rc = CTL_EXIT_FAIL;
	PGresult *r = NULL, *lr = NULL;
	struct dbcall_row row;

	*outcome = "database error";
	switch (a->cmd->id) {
	case CTL_BAN:
		params[1] = os_user;
		params[2] = a->reason;
		nparams = 3;
		break;
	case CTL_RESET_PASSWORD:
		params[1] = hash;
		nparams = 2;
		break;
	case CTL_DELETE_MESSAGE:
		params[1] = a->pos[1];
		nparams = 2;
		break;
	default:
		break;
	}
	if (cmd_simple(c, "BEGIN"))
		return CTL_EXIT_FAIL;
	r = cmd_exec(c, cmd_sql[a->cmd->id], nparams, params);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || dbcall_row(&row, r, 0)) {
		log_err("cannot %s '%s': %s", a->cmd->name, target, PQerrorMessage(c));
		goto rollback;
	}
	if (row.err) {
		snprintf(outbuf, outlen, "%s: %s", row.err, row.msg);
		*outcome = outbuf;
		goto rollback;
	}
	logp[0] = os_user;
	logp[1] = a->cmd->name;
	logp[2] = target;
	logp[3] = row.data;
	lr = cmd_exec(c, CMD_LOG_SQL, 4, logp);
	if (PQresultStatus(lr) != PGRES_TUPLES_OK) {
		log_err("cannot write admin_log: %s", PQerrorMessage(c));
		goto rollback;
	}
	if (cmd_simple(c, "COMMIT"))
		goto out;
	printf("%s\n", row.data);
	*outcome = "ok";
	rc = CTL_EXIT_OK;
	goto out;
rollback:
	if (cmd_simple(c, "ROLLBACK"))
		log_err("the transaction was not rolled back cleanly");
out:
	PQclear(lr);
	PQclear(r);
	return rc;
}

int cmd_run(const struct ctl_args *a, const struct cfg *cfg)
{
	char os_user[160], target[320], outbuf[512], hash[PWHASH_STR_MAX];
	const char *outcome = "refused";
	PGconn *c = NULL;
	int rc;

	hash[0] = '\0';
	if (a->cmd->id == CTL_USERS || a->cmd->id == CTL_ROOMS) {
		c = cmd_connect(cfg);
		rc = c ? cmd_list(c, a) : CTL_EXIT_FAIL;
		PQfinish(c);
		return rc;
	}
	audit_os_user(os_user, sizeof(os_user));
	if (a->cmd->id == CTL_DELETE_MESSAGE)
		snprintf(target, sizeof(target), "%s/%s", a->pos[0], a->pos[1]);
	else
		snprintf(target, sizeof(target), "%s", a->pos[0]);
	/* The password first: nothing is logged for a refused one but the refusal. */
	if (a->cmd->id == CTL_RESET_PASSWORD && cmd_password_hash(cfg, hash)) {
		rc = CTL_EXIT_USAGE;
		outcome = "refused: bad password";
		goto out;
	}
	c = cmd_connect(cfg);
	rc = c ? cmd_action(c, a, os_user, hash, target, outbuf, sizeof(outbuf), &outcome)
	       : CTL_EXIT_FAIL;
out:
	audit_syslog(rc == CTL_EXIT_OK, os_user, a->cmd->name, target, outcome);
	if (rc == CTL_EXIT_OK)
		log_info("%s '%s' by '%s': done", a->cmd->name, target, os_user);
	else
		log_err("%s '%s' by '%s' failed: %s", a->cmd->name, target, os_user, outcome);
	sodium_memzero(hash, sizeof(hash));
	PQfinish(c);
	return rc;
}
