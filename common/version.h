/* version.h -- the release (VERSION at the top of the tree) and the schema this build needs. */
#ifndef CHAT_VERSION_H
#define CHAT_VERSION_H

/* The release version, e.g. "2.0.0" (the file VERSION). A static string. */
const char *version_release(void);

/*
 * The schema version this build needs: the NNNN of the newest file in
 * migrations/ when it was built (deploy/migrate.sh records it in
 * schema_migrations). A static string.
 */
const char *version_schema(void);

#endif
