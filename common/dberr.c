/* dberr.c -- which PostgreSQL errors mean "the database is unavailable". */
#include "dberr.h"

#include <string.h>

int dberr_unavailable(const char *sqlstate)
{
	if (!sqlstate || strlen(sqlstate) != 5)
		return 1;
	return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
		strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "58", 2) == 0 ||
		strcmp(sqlstate, "25006") == 0;
}

int dberr_retry(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "40P01") == 0 || strcmp(sqlstate, "40001") == 0);
}
