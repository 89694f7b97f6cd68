/* pwslot.h -- a bound on password hashes computed at once by the whole FastCGI pool.
 *
 * One System V semaphore counting free slots: created by the pool's
 * supervisor before it forks (pwslot_open), or, when no supervisor of ours
 * runs (spawn-fcgi -F, multiwatch), found by a key that every worker of
 * the same FastCGI socket derives from its address (pwslot_open_named). A worker takes a slot with SEM_UNDO, so the
 * kernel gives it back when the worker exits or dies holding it (SIGKILL,
 * a crash): no slot can leak. semtimedop bounds the wait, and the wait
 * queues in the kernel, not in the application. */
#ifndef CHAT_PWSLOT_H
#define CHAT_PWSLOT_H

#include <sys/types.h>

struct pwslot {
	int semid;   /* -1 when closed */
	pid_t owner; /* the process that created it removes it */
	long slots;
};

/*
 * Creates a private semaphore with `slots` free slots (at least 1).
 * Processes forked afterwards share it. Returns 0, or -1 with the cause
 * logged.
 */
int pwslot_open(struct pwslot *s, long slots) __attribute__((warn_unused_result));

/*
 * Opens the semaphore every process calling this with the same name shares
 * (for chat-fcgi: the FastCGI socket's address), creating it with `slots`
 * free slots (at least 1) if it does not exist yet. It has no owner and
 * outlives the processes (one per name and user; `ipcs -s` shows it, and
 * `ipcrm -S KEY` removes it while nobody uses it); SEM_UNDO keeps its count
 * right however they end. A process asking for another number of slots than
 * the set was made with gets the set's number, with a warning. Returns 0,
 * or -1 with the cause logged.
 */
int pwslot_open_named(struct pwslot *s, long slots, const char *name)
	__attribute__((warn_unused_result));

/* The key pwslot_open_named uses for name (never IPC_PRIVATE). */
key_t pwslot_key(const char *name);

/* Removes the semaphore when called by its creator; a no-op in its children and for a named one. */
void pwslot_close(struct pwslot *s);

enum pwslot_take {
	PWSLOT_TAKEN = 0, /* the caller holds a slot: pwslot_give it back */
	PWSLOT_BUSY = 1,  /* none came free within wait_ms (or a signal came) */
	PWSLOT_ERROR = -1 /* the semaphore is gone: logged */
};

/* Takes a slot, waiting at most wait_ms milliseconds (0: do not wait). */
enum pwslot_take pwslot_take(const struct pwslot *s, long wait_ms)
	__attribute__((warn_unused_result));

/* Gives back the slot pwslot_take gave. */
void pwslot_give(const struct pwslot *s);

#endif
