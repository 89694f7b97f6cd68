/* cli.c -- the command line both services share: --help, --version, --check. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "version.h"

int cli_parse(struct cli *c, int argc, char *const *argv, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum cli_action action;
	} opts[] = {
		{ "--help", CLI_HELP }, { "-h", CLI_HELP },       { "--version", CLI_VERSION },
		{ "-V", CLI_VERSION },  { "--check", CLI_CHECK },
	};

	if (errlen)
		err[0] = '\0';
	c->action = CLI_RUN;
	for (int i = 1; i < argc; i++) {
		enum cli_action found = CLI_RUN;

		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k].name) == 0)
				found = opts[k].action;
		if (found == CLI_RUN) {
			snprintf(err, errlen, "%s '%s'",
				 argv[i][0] == '-' ? "unknown option" : "unexpected argument",
				 argv[i]);
			return -1;
		}
		if (c->action != CLI_RUN && c->action != found) {
			snprintf(err, errlen, "'%s' cannot be combined with another option",
				 argv[i]);
			return -1;
		}
		c->action = found;
	}
	return 0;
}

void cli_usage(const struct cli *c, FILE *f)
{
	fprintf(f,
		"Usage: %s [--check | --version | --help]\n"
		"\n"
		"%s"
		"\n"
		"Options:\n"
		"  --check     read the configuration, connect to PostgreSQL, verify that the\n"
		"              schema is up to date and that LISTEN works; print one line per\n"
		"              check and exit 0 when all pass, 1 otherwise\n"
		"  --version   print the release and the schema version this build needs\n"
		"  --help      print this help\n"
		"\n"
		"Configuration is read from the environment only (DATABASE_URL, CHAT_*: see\n"
		"the README's table and /etc/chat/chat.env). Exit status: 0 stopped cleanly,\n"
		"1 a failure a restart may cure, 2 a bad command line or configuration, a\n"
		"database schema behind this build (run deploy/migrate.sh), or, for\n"
		"chat-fcgi, no FastCGI socket.\n",
		c->prog, c->about);
}

void cli_version(const struct cli *c, FILE *f)
{
	fprintf(f, "%s %s (schema %s)\n", c->prog, version_release(), version_schema());
}

int cli_start(struct cli *c, int argc, char *const *argv, struct cfg *cfg)
{
	char err[512];
	int rc;

	if (cli_parse(c, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", c->prog, err, c->prog);
		return CLI_EXIT_USAGE;
	}
	if (c->action == CLI_HELP) {
		cli_usage(c, stdout);
		return CLI_EXIT_OK;
	}
	if (c->action == CLI_VERSION) {
		cli_version(c, stdout);
		return CLI_EXIT_OK;
	}
	rc = cfg_load(cfg, err, sizeof(err));
	if (c->action == CLI_CHECK) {
		if (rc) {
			printf("configuration: FAILED: %s\n%s: 1 check failed\n", err, c->prog);
			return CLI_EXIT_FAIL;
		}
		return check_run(stdout, c->prog, cfg) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	if (rc) {
		fprintf(stderr, "%s: %s\n", c->prog, err);
		return CLI_EXIT_USAGE;
	}
	return -1;
}
