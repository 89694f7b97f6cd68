/* pgreq.c -- a statement request of the database loop: parameters, completion, queues. */
#include "pgreq.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void pgreq_push(struct pgreq_list *l, struct pgreq *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

void pgreq_push_front(struct pgreq_list *l, struct pgreq *r)
{
	r->next = l->head;
	l->head = r;
	if (!l->tail)
		l->tail = r;
	l->n++;
}

void pgreq_prepend(struct pgreq_list *l, struct pgreq_list *front)
{
	if (!front->head)
		return;
	front->tail->next = l->head;
	l->head = front->head;
	if (!l->tail)
		l->tail = front->tail;
	l->n += front->n;
	front->head = front->tail = NULL;
	front->n = 0;
}

struct pgreq *pgreq_pop(struct pgreq_list *l)
{
	struct pgreq *r = l->head;

	if (!r)
		return NULL;
	l->head = r->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	r->next = NULL;
	return r;
}

void pgreq_free(struct pgreq *r)
{
	if (r->res)
		PQclear(r->res);
	if (r->batch_params)
		for (int i = 0; i < r->nparams; i++)
			free(r->params[i]);
	free(r->params);
	free(r);
}

void pgreq_finish(struct pgreq *r, enum pg_status st)
{
	struct pgreq *k;
	int row = 0;

	if (r->done)
		r->done(r->arg, st, st == PG_OK ? r->res : NULL, 0);
	if (r->nkids && st == PG_OK && (!r->res || PQntuples(r->res) != (int)r->nkids)) {
		log_err("batch of %u got %d rows", r->nkids, r->res ? PQntuples(r->res) : -1);
		st = PG_FAILED;
	}
	while ((k = r->kids)) {
		r->kids = k->next;
		if (k->done)
			k->done(k->arg, st, st == PG_OK ? r->res : NULL, row);
		row++;
		pgreq_free(k);
	}
	pgreq_free(r);
}

struct pgreq *pgreq_new(enum pgreq_kind kind, int stmt, int nparams, const char *const *params)
{
	size_t bytes = (size_t)nparams * sizeof(char *);
	struct pgreq *r = calloc(1, sizeof(*r));
	char *p;

	if (!r)
		return NULL;
	r->kind = kind;
	r->stmt = stmt;
	r->nparams = nparams;
	if (nparams <= 0)
		return r;
	for (int i = 0; i < nparams; i++)
		if (params[i])
			bytes += strlen(params[i]) + 1;
	r->params = malloc(bytes);
	if (!r->params) {
		free(r);
		return NULL;
	}
	p = (char *)(r->params + nparams);
	for (int i = 0; i < nparams; i++) {
		if (!params[i]) {
			r->params[i] = NULL;
			continue;
		}
		size_t n = strlen(params[i]) + 1;

		memcpy(p, params[i], n);
		r->params[i] = p;
		p += n;
	}
	return r;
}
