/* logsink.h -- chat-fcgi's log lines to syslog when its stderr leads nowhere (spawn-fcgi -F). */
#ifndef CHAT_LOGSINK_H
#define CHAT_LOGSINK_H

/*
 * spawn-fcgi -F points a worker's stderr at /dev/null, where every log line
 * would be lost. When stderr is /dev/null (or closed), this sends each line
 * written to stderr as one syslog datagram to the socket at path (the
 * local syslog daemon or journald, normally /dev/log), tagged ident[pid],
 * facility daemon, at the priority of its level= field, without its ts=
 * field (syslog stamps its own). Returns 1 when it did so, 0 when stderr
 * leads somewhere (nothing changes), -1 when the socket cannot be
 * reached (nothing changes; the caller can say so nowhere but in its exit
 * status, and goes on).
 */
int logsink_syslog_if_lost(const char *path, const char *ident);

#endif
