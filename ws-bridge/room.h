/* room.h -- room subscriptions and ordered, gap-free fan-out of one frame to many.
 *
 * Each room a local connection joined has a struct room: its subscribers,
 * the highest seq delivered (last_seq) and a ring of the most recent
 * message frames. Each subscription keeps its own last seq: a message is
 * queued to a subscriber only as the next one it lacks, so nobody sees a
 * gap or a repeat. What the ring cannot supply is asked of the layer above
 * through room_ops.need_range.
 *
 * A join_room makes its subscription at once, pending: the room struct then
 * exists while the database answers, so no message announced meanwhile is
 * dropped, and the subscription counts against the member's room limit.
 * A pending subscription receives nothing until room_join_end().
 *
 * A connection takes part as a struct member: the layer above keeps one
 * per session, and this layer its subscriptions and broadcast mark. */
#ifndef CHAT_ROOM_H
#define CHAT_ROOM_H

#include <stdint.h>

#include "conn.h"
#include "frame.h"
#include "hmap.h"

#define ROOM_RING 64
/* Changes (edits, deletions) a room remembers, to follow a message read back from before one. */
#define ROOM_CHANGED 16

struct room;
struct sub;

/*
 * One connection as the room layer sees it: who it is, its subscriptions
 * and its broadcast mark. The layer above keeps one per session (struct
 * session) and sets conn and user_id; the rest is this layer's.
 */
struct member {
	struct conn *conn;
	char user_id[40]; /* set by the session layer once READY; "" before */
	struct sub *subs; /* this member's, through sub.member_next */
	unsigned nsubs;
	unsigned mark; /* broadcast de-duplication epoch */
};

struct sub {
	struct room *room;
	struct member *member;
	uint64_t last;           /* highest seq this subscriber has */
	int catching;            /* waiting for need_range to fill it */
	int pending;             /* its join_room is still on the way: receives nothing */
	int stuck;               /* its connection took no more: never caught up again */
	unsigned joins;          /* join_room requests of it in flight */
	uint64_t gen;            /* the membership it stands for (user_left compares) */
	uint64_t left_gen;       /* pending: the newest membership a user_left ended */
	unsigned changed_mark;   /* the room's changed_n when it was made (pending) */
	int64_t typing_until_ms; /* 0 when not typing */
	int typing_sent;         /* the typing state the room was last told */
	int64_t typing_sent_ms;  /* when; 0 never */
	struct sub *room_prev, *room_next;
	struct sub *member_next;
};

struct room {
	char id[72];
	uint64_t last_seq; /* highest seq delivered here; valid when seq_known */
	int seq_known;
	int filling;        /* a gap read is in flight */
	uint64_t fill_want; /* highest seq announced while filling */
	uint64_t early_max; /* !seq_known: highest seq announced so far */
	int resync;         /* the LISTEN connection was lost while there was no snapshot
			     * yet or a gap read was in flight: read everything after
			     * last_seq once that is over */
	struct sub *subs;
	struct {
		uint64_t seq;
		struct frame *f;
		int current; /* f is the message as a change left it (room_message_changed) */
	} ring[ROOM_RING];
	/*
	 * The latest message_updated and message_deleted frames (a ring;
	 * changed_n counts them all, change n is at (n - 1) % ROOM_CHANGED).
	 */
	struct {
		uint64_t seq, change_seq;
		unsigned n;
		struct frame *f;
	} changed[ROOM_CHANGED];
	unsigned changed_n;
};

struct room_ops {
	/*
	 * Messages (after, upto] are needed: for a gap in the room (s NULL) or
	 * for one subscriber catching up (s set). The answer comes back through
	 * room_fill() and room_fill_done().
	 */
	void (*need_range)(void *arg, struct room *r, struct sub *s, uint64_t after, uint64_t upto);
	void *arg;
};

struct rooms {
	struct hmap map;
	struct room_ops ops;
};

void rooms_init(struct rooms *rs, const struct room_ops *ops);

/* Frees every room; subscriptions must be gone (connections closed). */
void rooms_release(struct rooms *rs);

/* Returns the room or NULL when no local connection is in it. */
struct room *room_find(struct rooms *rs, const char *id);

/*
 * Subscribes m to room id. snapshot is the room's last seq as of the
 * messages m was just given (join_room's ack); m then receives every
 * message after it, in order. Re-subscribing only moves nothing; a
 * pending subscription becomes live. Returns the subscription or NULL when
 * out of memory.
 */
struct sub *room_subscribe(struct rooms *rs, struct member *m, const char *id, uint64_t snapshot);

/*
 * A join_room of m for room id goes to the database: returns m's
 * subscription (its joins counted up), made pending when m had none, or
 * NULL when out of memory. Until the first subscription of a room is live,
 * the room keeps what is announced (the ring, and the highest seq) so that
 * the first live one gets every message after its snapshot.
 */
struct sub *room_join_begin(struct rooms *rs, struct member *m, const char *id);

/*
 * The join_room answered (ok, with the ack's snapshot) or failed (!ok).
 * Counts the join down; ok makes the subscription live (or makes one, when
 * a leave_room took it meanwhile) and returns it. A failed join drops a
 * pending subscription no other join waits for; returns NULL then.
 */
struct sub *room_join_end(struct rooms *rs, struct member *m, const char *id, int ok,
			  uint64_t snapshot);

/* Back to pending (a leave_room answered while a join_room is on its way). */
void room_sub_suspend(struct sub *s);

/* Returns m's subscription to room id, or NULL (also when m is NULL). */
struct sub *room_sub_of(const struct member *m, const char *id);

/* Ends one subscription (frees the room when it was the last). */
void room_unsubscribe(struct rooms *rs, struct sub *s);

/* Ends every subscription of m. */
void room_unsubscribe_all(struct rooms *rs, struct member *m);

/*
 * A message with this seq exists (a NOTIFY said so). f is its new_message
 * frame, or NULL when the NOTIFY carried only a reference. Delivers it, or
 * asks for the gap before it.
 */
void room_message(struct rooms *rs, struct room *r, uint64_t seq, struct frame *f);

/*
 * Message seq of r changed: edited or deleted (a message_updated or
 * message_deleted NOTIFY, which comes after its new_message), as the
 * room's change number change_seq. cur is its new_message frame in its new
 * state (the edited text, or the tombstone; may be NULL), ev the event
 * frame (message_updated or message_deleted). Subscribers that have the
 * message get ev now; the ring keeps cur instead of the old frame, so a
 * subscriber behind gets cur in its place and no ev. A message read back
 * from the database later (the read may predate the change) is followed
 * by the latest ev of its seq, and so are the messages of a join_room
 * answered meanwhile: ROOM_CHANGED changes are remembered for that
 * (docs/notify.md). A change no newer than one already remembered for seq
 * (change_seq not greater) is dropped: a late read must not undo an edit.
 */
void room_message_changed(struct room *r, uint64_t seq, uint64_t change_seq, struct frame *cur,
			  struct frame *ev);

/*
 * One message read back for a need_range request, in seq order: s NULL
 * for a room gap, else for that subscriber.
 */
void room_fill(struct rooms *rs, struct room *r, struct sub *s, uint64_t seq, struct frame *f);

/*
 * The need_range read is over (ok = 0 when it failed). upto is what was
 * asked. Asks again when more arrived meanwhile.
 */
void room_fill_done(struct rooms *rs, struct room *r, struct sub *s, uint64_t upto, int ok);

/* The LISTEN connection was lost: every room must re-read after its last_seq. */
void rooms_resync(struct rooms *rs);

/*
 * Queues f to every subscriber of r, except members of skip_user (may be
 * NULL). Members marked with epoch are skipped and marked with it
 * otherwise (pass 0 to not de-duplicate).
 */
void room_broadcast(struct room *r, struct frame *f, const char *skip_user, unsigned epoch);

#endif
