/* typing.c -- a subscription's typing state, told to its room through the database, coalesced. */
#include "typing.h"

#include "bridge.h"
#include "dbreq.h"

#define TYPING_GAP_MS 1000 /* typing changes of one subscription, at most one per */

/* A typing change is answered only when the client asked for an ack. */
static const struct dbreq_kind typing_kind = { NULL, NULL, 1 };

/*
 * Tells the room (through the database, so every bridge hears it). A
 * client's own typing event (from_client) waits in its user's share of the
 * queue and is answered on failure; the bridge's own changes (a leave, a
 * close, the expiry, a change held back by the coalescing) are not.
 */
static void typing_tell(struct bridge *b, struct member *m, const char *room, int is_typing,
			long long ack_id, int from_client)
{
	const char *params[3] = { m->user_id, room, is_typing ? "true" : "false" };
	struct conn *c = m->conn;
	struct dbreq *q;

	if (from_client) {
		dbreq_event(b, c, ack_id, room, &typing_kind, BS_TYPING, 3, params);
		return;
	}
	q = dbreq_new(b, c, -1, room);
	if (q)
		dbreq_call(b, q, &typing_kind, BS_TYPING, 3, params);
}

void typing_stop(struct bridge *b, struct sub *s)
{
	if (s->typing_sent)
		typing_tell(b, s->member, s->room->id, 0, -1, 0);
}

int typing_flush(struct bridge *b, struct sub *s, long long ack_id, int from_client)
{
	int64_t now = conn_now_ms();
	int want = s->typing_until_ms != 0;

	if (want == s->typing_sent ||
	    (s->typing_sent_ms && now - s->typing_sent_ms < TYPING_GAP_MS))
		return 0;
	s->typing_sent = want;
	s->typing_sent_ms = now;
	typing_tell(b, s->member, s->room->id, want, ack_id, from_client);
	return 1;
}

int typing_sweep(struct bridge *b, struct conn *c, int64_t now_ms)
{
	const struct member *m = session_member(c);
	int busy = 0;

	for (struct sub *s = m ? m->subs : NULL; s; s = s->member_next) {
		if (s->typing_until_ms && now_ms >= s->typing_until_ms)
			s->typing_until_ms = 0;
		typing_flush(b, s, -1, 0);
		busy |= s->typing_until_ms != 0 || s->typing_sent;
	}
	return busy;
}
