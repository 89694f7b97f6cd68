/* pwslot.c -- a bound on password hashes computed at once by the whole FastCGI pool. */
#define _GNU_SOURCE /* semtimedop */
#include "pwslot.h"

#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
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

key_t pwslot_key(const char *name)
{
	/* FNV-1a over a prefix of ours and the name; 0 is IPC_PRIVATE. */
	uint32_t h = fnv1a(fnv1a(FNV1A_INIT, "chat-fcgi pwslot "), name) & 0x7fffffffu;

	return (key_t)(h ? h : 1);
}

/* Waits (at most a second) until the creator has set the slots: sem 1 holds their number. */
static int pwslot_wait_init(const struct pwslot *s)
{
	for (int i = 0; i < 100; i++) {
		int total = semctl(s->semid, 1, GETVAL);

		if (total < 0)
			return -1;
		if (total > 0)
			return total;
		usleep(10000);
	}
	errno = ETIMEDOUT;
	return -1;
}

int pwslot_open_named(struct pwslot *s, long slots, const char *name)
{
	key_t key = pwslot_key(name);
	union pwslot_semun arg;
	int total;

	s->owner = 0;                                             /* nobody removes it */
	s->slots = slots < 1 ? 1 : slots > 32767 ? 32767 : slots; /* a semop adds a short */
	s->semid = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
	if (s->semid >= 0) {
		struct sembuf mark = { .sem_num = 1, .sem_op = (short)s->slots, .sem_flg = 0 };

		arg.val = (int)s->slots;
		if (semctl(s->semid, 0, SETVAL, arg) < 0 || semop(s->semid, &mark, 1) < 0) {
			log_err("cannot set the password-hashing semaphore: %s", strerror(errno));
			semctl(s->semid, 0, IPC_RMID);
			s->semid = -1;
			return -1;
		}
		return 0;
	}
	if (errno == EEXIST)
		s->semid = semget(key, 2, 0600);
	if (s->semid < 0 || (total = pwslot_wait_init(s)) < 0) {
		log_err("cannot open the password-hashing semaphore 0x%08x of '%s': %s",
			(unsigned)key, name, strerror(errno));
		s->semid = -1;
		return -1;
	}
	if (total != s->slots) {
		log_warn("the password-hashing semaphore 0x%08x has %d slots, not %ld: "
			 "remove it with ipcrm -S 0x%08x while chat-fcgi is stopped to change it",
			 (unsigned)key, total, s->slots, (unsigned)key);
		s->slots = total;
	}
	return 0;
}

void pwslot_close(struct pwslot *s)
{
	if (s->semid >= 0 && s->owner > 0 && s->owner == getpid() &&
	    semctl(s->semid, 0, IPC_RMID) < 0)
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
