/* basis_int.h - the basis table's entries and buckets, shared by the
 * rules (basis.c, basis_change.c) and the table that keeps them
 * (basis_table.c), and the helpers both halves of the rules use.  Every
 * function here that takes the table wants bt->mu held. */
#ifndef RFS_BASIS_INT_H
#define RFS_BASIS_INT_H

#include "basis.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <xxhash.h>

enum { B_EXPLICIT = 1, B_IMPLICIT, B_MARK, B_CONFLICT };

/* One allocation per entry: the key is kept inline, after the fields. */
struct bent {
	struct bent *next;
	uint32_t h;
	uint8_t kind;
	pid_t pid;
	uint64_t start;
	uid_t uid;
	uint64_t version;
	uint64_t reg_ticks;
	/* The section of bt->mu it was registered in, whose last pid
	 * handed out (struct lp_slot) tells a task started in the same tick
	 * whether it is older (registered_after). */
	uint32_t reg_seq;
	int64_t expires_ns;
	uint64_t group;
	char *text;
	uint8_t grace;  /* a mark: refused a path operation (basis_grace) */
	uint8_t made;   /* implicit, from a child's create (basis_created):
			   a read replaces it, as if none were held */
	uint8_t pinned; /* made, and its holder (or a child of it, as a read
			   registers) has since read that very version:
			   a read of a later one no longer replaces it */
	uint8_t seen;   /* implicit, from a read (basis_seen), not from a
			   change its holder's tree made */
	uint8_t gone;   /* implicit, from a removal its holder's tree made
			   (basis_removed): a read of a later version
			   replaces it, as it does a create's */
	/* Seen, held as the reader's parent: that reader (basis_changed
	 * passes over it for a change by the same reader). */
	pid_t by;
	uint64_t by_start;
	/* Implicit, made by a change on an ancestor's basis: that ancestor,
	 * whose registration moved to the same version (basis_changed). */
	pid_t via;
	uint64_t via_start;
	uint8_t lent;   /* implicit, held for a descendant's read, create or
			   change: counted in its holder's n_lent, else in
			   its n_own (struct share) */
	char key[];
};

/* Buckets: a power of 2, at least NBUCKETS_MIN, doubled whenever the
 * entries outnumber them (a reader registers an entry per record it
 * reads, for itself and for its parent: a long-lived shell that runs a
 * reader of 10,000 records holds 10,000 entries), so that a chain stays
 * about one entry long.
 *
 * Each bucket keeps, beside its chain, a summary of its entries' hashes:
 * bit (h >> 27) for each entry's h.  Invariant: every entry's bit is set
 * in its bucket's summary (a bit may stay set after its entries are
 * gone, until the next walk that drops something recomputes it).  A key
 * whose bit is clear has no entry, and the chain is not walked: with the
 * table larger than the caches, each entry walked is a miss (~0.2 us
 * here), and most creates look up a key nobody holds. */
#define NBUCKETS_MIN 4096

struct bslot {
	struct bent *head;
	uint32_t sum; /* the hashes' summary: sum_bit() of each entry */
};

struct holder {
	pid_t pid;
	uint64_t start;
};

/* How far up a process's line of ancestors is kept (struct chain), and
 * how long it is taken as read. */
#define CREATED_UP 8
#define CHAIN_TTL_NS 1000000000ll
#define NCHAINS 8

/* How long a table found full of live holders' entries goes unswept. */
#define GC_FULL_NS 1000000000ll

/* A process's line of ancestors, from its parent in the basis sense up
 * to its session leader (@leader: the line ends at it) or CREATED_UP of
 * them, as read at @at_ns.  A create registers for the first few and
 * the leader (basis_created), and a change moves holders along it
 * (follow_up_locked): without it each would cost a /proc proof per
 * ancestor (a script that copies 8,000 files asks for the same line
 * 8,000 times).  For up to CHAIN_TTL_NS an ancestor that has exited (no
 * process can take its pid and start time again), or that a reparenting
 * took out of the line, may still be in it; neither is outside the
 * session. */
struct chain {
	struct holder up[CREATED_UP];
	int n, leader;
	int64_t at_ns;
};

/* The implicit entries one holder has, counted exactly per holder (in an
 * open-addressed table of the holders that have any) and held to a
 * share of the table, so that no one process fills it for everyone
 * while it lives: a shell that ran `cp -r` or `grep -r` over a million
 * records, or that grep itself.
 *  - Its own (its reads and changes): a quarter of the table.
 *  - Lent (its descendants' reads, creates and changes): an eighth, so
 *    that a creator's whole line (its parent, the two above and the
 *    session leader: basis_created) takes half the table at most.
 * Past a share, the holder registers no new key (a later change from
 * it to that key finds no basis of its own: EPERM, or its session's),
 * but what it holds stays, and moves with its changes in place.  It
 * never forgets a version it saw: a process that did could read the
 * record again after someone else's change and be let through on that
 * (vim reads the file again before it saves; SPEC, "Implicit"). */
#define OWN_SHARE 4
#define LEND_SHARE 8

struct share {
	pid_t pid; /* 0: a free slot */
	uint64_t start;
	size_t n_own, n_lent;
};

/* The last pid the kernel had handed out when a section of bt->mu that
 * registered entries ended (bt_unlock).  Read once per such section, not
 * per entry: /proc/sys/kernel/ns_last_pid costs about a microsecond, and
 * a save registers three or four entries.  Read after the registrations,
 * so a task forked before any of them has a pid no higher; one forked in
 * between counts as older, which can only refuse it (the safe side). */
#define LP_RING 4096
struct lp_slot {
	uint32_t seq;
	pid_t pid; /* 0: unknown */
};

struct basis_table {
	pthread_mutex_t mu;
	struct bslot *tab;
	size_t nb;          /* buckets in tab */
	size_t count, max;
	size_t gc_at;       /* next count at which dead holders are swept */
	int64_t gc_retry_ns;/* a full table is not swept again before it */
	int64_t full_log_ns;/* a full table is not logged again before it */
	unsigned ttl_s;
	int implicit;
	uint64_t next_group;
	struct chain chains[NCHAINS]; /* by the first's pid */
	struct share *shares;
	size_t nshares, shares_cap; /* used slots; slots (a power of 2) */
	size_t own_max, lent_max;   /* a holder's shares (OWN_SHARE, ...) */
	uint32_t lp_seq;            /* the section registering now */
	int lp_dirty;               /* it has registered an entry */
	struct lp_slot lp_ring[LP_RING]; /* by seq % LP_RING */
};

static const struct holder NOBODY = { 0, 0 }; /* no entry has pid 0 */

#define KIND(k) (1u << (k))

static inline uint32_t basis_hash(const char *key)
{
	return (uint32_t)XXH3_64bits(key, strlen(key));
}

/* The bucket takes the low bits of a hash, the summary its top 5. */
static inline uint32_t sum_bit(uint32_t h)
{
	return 1u << (h >> 27);
}

static inline struct bslot *bucket(struct basis_table *bt, uint32_t h)
{
	return &bt->tab[h & (bt->nb - 1)];
}

/* May @b hold an entry of hash @h?  0 proves it holds none. */
static inline int may_hold(const struct bslot *b, uint32_t h)
{
	return (b->sum & sum_bit(h)) != 0;
}

/* @holder's entry of @kind for @key, or NULL. */
struct bent *bent_find(struct basis_table *bt, uint8_t kind, const char *key,
		       uint32_t h, struct holder ho);
/* A new entry, first in its bucket (sweeping dead holders' entries
 * whenever the table doubled, growing the buckets as it fills); NULL
 * when the table is full (bt->max), when memory is short, or for an
 * implicit entry when its holder's share (@lent: the lent one, else its
 * own) is used up. */
struct bent *bent_add(struct basis_table *bt, uint8_t kind, const char *key,
		      uint32_t h, struct holder ho, uid_t uid,
		      uint64_t version, uint64_t group, int lent);
/* @e, an implicit entry, names @version anew, as if just added (its
 * holder's count and its place stay). */
void bent_reuse(struct basis_table *bt, struct bent *e, uid_t uid,
		uint64_t version);
/* @e is registered now (its tick and section).  Caller holds bt->mu. */
void bent_registered(struct basis_table *bt, struct bent *e);
/* Unlock bt->mu, first noting the last pid if the section registered. */
void bt_unlock(struct basis_table *bt);
/* Remove @ho's entries for @key of the kinds in @kinds (KIND() bits). */
void bent_drop(struct basis_table *bt, unsigned kinds, const char *key,
	       uint32_t h, struct holder ho);
/* Remove a declaration's entries (@group: next_group's, never 0). */
void bent_drop_group(struct basis_table *bt, const char *key, uint32_t h,
		     uint64_t group);
/* @ho's implicit entries, its own and lent (tests). */
void bent_counts(struct basis_table *bt, struct holder ho, size_t *own,
		 size_t *lent);
/* Remove the entries of holders that are gone; @return those left. */
size_t basis_gc_locked(struct basis_table *bt);

/* The rules' helpers, shared by basis.c and basis_change.c. */

/* The uid of a mark that two users' refusals left at one holder: every
 * user's lookup meets it (mark_at). */
#define MARK_ANYONE ((uid_t)-1)

/* Holders a walk above passed over (basis_walk_locked): at most this many. */
#define WALK_SKIP 4

/* Does @t lead its session (a terminal's shell, a setsid'd daemon)? */
static inline int leads_session(const struct proc_info *t)
{
	return t->tid == t->sid && t->tid == t->tgid;
}

/* Does a climb from @p stop at @cur?  At the leader of a session, except
 * for root, which goes on (sudo starts a new session). */
static inline int climb_ends(const struct proc_info *p,
			     const struct proc_info *cur)
{
	return leads_session(cur) && p->uid != 0;
}

/* The task's parent in the basis sense: a thread's process, else the
 * process's parent.  Never pid 1.  @return 0 and *out, or -ESRCH. */
static inline int parent_of(const struct proc_info *p, struct proc_info *out)
{
	pid_t next = proc_basis_parent(p);

	if (next <= 1)
		return -ESRCH;
	return proc_get(next, out);
}

static inline struct holder self_of(const struct proc_info *p)
{
	return (struct holder){ p->tid, p->start };
}

/* Registration targets: the task and its parent.  @p fresh from
 * proc_get() carries the parent's start time, proven with the task (no
 * second proof); otherwise the parent is asked for. */
static inline int holders(const struct proc_info *p, struct holder ho[2])
{
	pid_t next = proc_basis_parent(p);
	struct proc_info par;
	int n = 0;

	if (p->tid > 1)
		ho[n++] = self_of(p);
	if (next > 1 && p->pstart)
		ho[n++] = (struct holder){ next, p->pstart };
	else if (parent_of(p, &par) == 0)
		ho[n++] = self_of(&par);
	return n;
}

/* Does holder @ho run as @uid?  Asked only where an entry may change
 * hands (basis_seen, basis_changed), which is rare. */
static inline int holder_runs_as(struct holder ho, uid_t uid)
{
	struct proc_info hp;

	return proc_get(ho.pid, &hp) == 0 && hp.start == ho.start &&
	       hp.uid == uid;
}

/* Does any holder have a basis or a mark for @key, other than @but's
 * task and process (if @but) and @also (if its pid is not 0)?  Caller
 * holds bt->mu. */
static inline int key_held(struct basis_table *bt, const char *key, uint32_t h,
			   const struct proc_info *but, struct holder also)
{
	struct bslot *b = bucket(bt, h);

	if (!may_hold(b, h))
		return 0;
	for (struct bent *e = b->head; e; e = e->next)
		if (e->h == h && e->kind != B_CONFLICT &&
		    !(but && (e->pid == but->tid || e->pid == but->tgid)) &&
		    !(e->pid == also.pid && e->start == also.start) &&
		    strcmp(e->key, key) == 0)
			return 1;
	return 0;
}

/* The walk of a lookup from @p up its ancestors (basis.c). */
void basis_walk_locked(struct basis_table *bt, const struct proc_info *p,
		       const char *key, uint32_t h, uint64_t version,
		       struct bent **skip, int *nskip, struct basis_hit *hit);

#endif
