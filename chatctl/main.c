/* main.c -- chatctl: site administration from the shell (users, rooms, bans, passwords, deletions). */
#include <stdio.h>
#include <unistd.h>

#include "args.h"
#include "cfg.h"
#include "cmd.h"
#include "envfile.h"
#include "log.h"
#include "audit.h"
#include "version.h"

/* The services' env file (deploy/chat.env.example), read when present. */
#define CHATCTL_ENV_FILE "/etc/chat/chat.env"

int main(int argc, char **argv)
{
	struct ctl_args a;
	struct cfg cfg;
	char err[512];
	const char *env_file;

	if (ctl_args_parse(&a, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "chatctl: %s\n", err);
		if (a.cmd)
			ctl_cmd_usage(stderr, a.cmd);
		else
			fputs("Try 'chatctl --help'.\n", stderr);
		return CTL_EXIT_USAGE;
	}
	if (a.help) {
		if (a.cmd)
			ctl_cmd_usage(stdout, a.cmd);
		else
			ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (a.version) {
		printf("chatctl %s (schema %s)\n", version_release(), CTL_SCHEMA);
		return CTL_EXIT_OK;
	}
	env_file = a.env_file;
	if (!env_file && !a.no_env_file && access(CHATCTL_ENV_FILE, F_OK) == 0)
		env_file = CHATCTL_ENV_FILE;
	if (env_file && envfile_load(env_file, err, sizeof(err))) {
		fprintf(stderr, "chatctl: %s\n", err);
		return CTL_EXIT_USAGE;
	}
	if (cfg_load(&cfg, err, sizeof(err))) {
		fprintf(stderr, "chatctl: %s\n", err);
		return CTL_EXIT_USAGE;
	}
	log_init("chatctl", cfg.log_level);
	audit_open();
	return cmd_run(&a, &cfg);
}
