/* pgreq.h -- a statement request of the database loop: parameters, completion, queues.
 *
 * Also the two types every user of the loop sees: how a request ended
 * (enum pg_status) and the callback that hears it (pg_done_fn). */
#ifndef CHAT_PGREQ_H
#define CHAT_PGREQ_H

#include <libpq-fe.h>
#include <stdint.h>

enum pg_status {
	PG_OK = 0,
	PG_UNAVAILABLE = -1, /* no connection, or it broke before the outcome was known */
	PG_FAILED = -2,      /* the statement failed (logged) */
	PG_UNKNOWN = -3,     /* sent, then the connection broke: it may have committed */
};

/*
 * res is valid during the call only; NULL unless status is PG_OK. row is
 * the request's row of res: 0, unless the request ran in a batch.
 */
typedef void (*pg_done_fn)(void *arg, enum pg_status status, const PGresult *res, int row);

enum pgreq_kind {
	PGREQ_STMT,  /* a prepared statement (or a batch of them) */
	PGREQ_SYNC,  /* the end of a pipeline segment */
	PGREQ_SETUP, /* a set-up command of the connection */
	PGREQ_CHAIN, /* an ordered segment's chat_segment_chain (pgbatch.c) */
};

struct pgreq {
	struct pgreq *next;
	enum pgreq_kind kind;
	int64_t sent_us; /* sync markers: when the segment went out */
	int ordered;     /* sync markers: the segment holds an ordered request */
	int stmt;
	int nparams;
	char **params; /* one allocation: pointers then strings */
	pg_done_fn done;
	void *arg;
	PGresult *res;
	int failed, tries;
	int unavailable;    /* failed for a reason of the database, not the request */
	int raced;          /* rolled back by a deadlock or serialization failure */
	struct pgreq *kids; /* a batch: the requests it runs, in order */
	unsigned nkids;
	int batch_params; /* params[i] are separate allocations */
};

/* A FIFO of requests; zeroed is empty. */
struct pgreq_list {
	struct pgreq *head, *tail;
	unsigned n;
};

/*
 * Returns a request of kind for statement stmt with a copy of the
 * nparams parameters (NULL entries stay SQL NULL), or NULL when out of
 * memory. Free it with pgreq_free, or complete it with pgreq_finish.
 */
struct pgreq *pgreq_new(enum pgreq_kind kind, int stmt, int nparams, const char *const *params);

/* Frees r, its result and its parameters (not its kids). */
void pgreq_free(struct pgreq *r);

/*
 * Completes a request: runs its callback (if any) and frees it. A batch
 * completes each of its requests with its own row, or all of them with
 * the batch's failure.
 */
void pgreq_finish(struct pgreq *r, enum pg_status st);

void pgreq_push(struct pgreq_list *l, struct pgreq *r);
void pgreq_push_front(struct pgreq_list *l, struct pgreq *r);

/* Moves every request of front before the head of l, in their order. */
void pgreq_prepend(struct pgreq_list *l, struct pgreq_list *front);

/* Returns the head of l, unlinked, or NULL when l is empty. */
struct pgreq *pgreq_pop(struct pgreq_list *l);

#endif
