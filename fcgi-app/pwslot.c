/* pwslot.c -- a bound on password hashes computed at once by the whole FastCGI pool. */
#define _GNU_SOURCE /* semtimedop */
#include "pwslot.h"

#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* semctl's fourth argument, which the caller defines (semctl(2)). */
union pwslot_semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

int pwslot_open(struct pwslot *s, long slots)
{
	union pwslot_semun arg;

	s->semid = -1;
	s->owner = getpid();
	s->slots = slots < 1 ? 1 : slots;
	s->semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (s->semid < 0) {
		log_err("cannot create the password-hashing semaphore: %s", strerror(errno));
		return -1;
	}
	arg.val = (int)s->slots;
	if (semctl(s->semid, 0, SETVAL, arg) < 0) {
		log_err("cannot set the password-hashing semaphore: %s", strerror(errno));
		pwslot_close(s);
		return -1;
	}
	return 0;
}

void pwslot_close(struct pwslot *s)
{
	if (s->semid >= 0 && s->owner == getpid() && semctl(s->semid, 0, IPC_RMID) < 0)
		log_warn("cannot remove the password-hashing semaphore: %s", strerror(errno));
	s->semid = -1;
}

enum pwslot_take pwslot_take(const struct pwslot *s, long wait_ms)
{
	struct sembuf op = { .sem_num = 0, .sem_op = -1, .sem_flg = SEM_UNDO };
	struct timespec ts = { .tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L };
	int rc;

	if (wait_ms <= 0)
		op.sem_flg |= IPC_NOWAIT;
	rc = semtimedop(s->semid, &op, 1, wait_ms > 0 ? &ts : NULL);
	if (rc == 0)
		return PWSLOT_TAKEN;
	if (errno == EAGAIN || errno == EINTR)
		return PWSLOT_BUSY;
	log_err("cannot take a password-hashing slot: %s", strerror(errno));
	return PWSLOT_ERROR;
}

void pwslot_give(const struct pwslot *s)
{
	struct sembuf op = { .sem_num = 0, .sem_op = 1, .sem_flg = SEM_UNDO };

	if (semop(s->semid, &op, 1) < 0)
		log_err("cannot give back a password-hashing slot: %s", strerror(errno));
}
