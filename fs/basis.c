/* basis.c - the basis rules: who holds which basis, what a lookup
 * finds, and who moves with a change.  The table that keeps the entries
 * is basis_table.c.
 *
 * Every entry is (kind, key, holder pid + start time, uid).  A holder is
 * a task: a thread holds its own bases and its process holds the
 * process's.  Invariants:
 * - an explicit declaration is one registration (group) held by two
 *   holders; consuming it removes both entries;
 * - a holder has at most one implicit basis per key: the first version
 *   it saw since its own last change or refusal;
 * - a stale mark stops a lookup at its holder until the holder (or a
 *   child) reads the key again or declares;
 * - nothing is held for pid 1.
 */
#include "basis_int.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BASIS_GRACE_NS 2000000000ll

/* The uid of a mark that two users' refusals left at one holder: every
 * user's lookup meets it (mark_at). */
#define MARK_ANYONE ((uid_t)-1)

/* Does @t lead its session (a terminal's shell, a setsid'd daemon)? */
static int leads_session(const struct proc_info *t)
{
	return t->tid == t->sid && t->tid == t->tgid;
}

/* Does a climb from @p stop at @cur?  At the leader of a session, except
 * for root, which goes on (sudo starts a new session). */
static int climb_ends(const struct proc_info *p, const struct proc_info *cur)
{
	return leads_session(cur) && p->uid != 0;
}

/* The task's parent in the basis sense: a thread's process, else the
 * process's parent.  Never pid 1.  @return 0 and *out, or -ESRCH. */
static int parent_of(const struct proc_info *p, struct proc_info *out)
{
	pid_t next = proc_basis_parent(p);

	if (next <= 1)
		return -ESRCH;
	return proc_get(next, out);
}

static struct holder self_of(const struct proc_info *p)
{
	return (struct holder){ p->tid, p->start };
}

/* The process of @p, a thread whose request is being served, as a
 * holder.  Its start time came with @p (pstart, proven with the
 * thread); only when that is unknown is the process asked for, as the
 * caller's (proc_get_caller: no poll within the trust window).  A poll
 * per lookup cost more than the lookup (eight writer threads: 0.8 polls
 * per save).  @return 0 or -ESRCH. */
static int own_process(const struct proc_info *p, struct holder *out)
{
	struct proc_info proc;

	if (p->pstart) {
		*out = (struct holder){ p->tgid, p->pstart };
		return 0;
	}
	if (proc_get_caller(p->tgid, &proc) < 0)
		return -ESRCH;
	*out = self_of(&proc);
	return 0;
}

/* Registration targets: the task and its parent.  @p fresh from
 * proc_get() carries the parent's start time, proven with the task (no
 * second proof); otherwise the parent is asked for. */
static int holders(const struct proc_info *p, struct holder ho[2])
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
static int holder_runs_as(struct holder ho, uid_t uid)
{
	struct proc_info hp;

	return proc_get(ho.pid, &hp) == 0 && hp.start == ho.start &&
	       hp.uid == uid;
}

int basis_declare(struct basis_table *bt, const struct proc_info *p,
		  const char *key, uint64_t version)
{
	struct holder ho[2];
	uint32_t h = basis_hash(key);
	int n = holders(p, ho), rc = 0;
	int64_t expires = proc_mono_ns() + (int64_t)bt->ttl_s * 1000000000;
	uint64_t group;

	pthread_mutex_lock(&bt->mu);
	group = bt->next_group++;
	for (int i = 0; i < n; i++) {
		struct bent *e;
		/* A new declaration replaces this holder's older one (and
		 * its mark), and only here: a sibling that declared through
		 * the same parent keeps its own. */
		bent_drop(bt, KIND(B_MARK) | KIND(B_EXPLICIT), key, h, ho[i]);
		e = bent_add(bt, B_EXPLICIT, key, h, ho[i], p->uid, version,
			     group, 0);
		if (!e) {
			bent_drop_group(bt, key, h, group);
			rc = -ENOSPC;
			break;
		}
		e->expires_ns = expires;
	}
	bt_unlock(bt);
	return rc;
}

/* A declaration can be taken back before a change uses it: a script
 * that gives up (recctl put --expect N meeting EBUSY) must not leave its
 * shell a basis it never read, for its next blind write to take. */
void basis_withdraw(struct basis_table *bt, const struct proc_info *p,
		    const char *key)
{
	struct holder ho[2];
	uint32_t h = basis_hash(key);
	int n = holders(p, ho);

	pthread_mutex_lock(&bt->mu);
	for (int i = 0; i < n; i++)
		bent_drop(bt, KIND(B_EXPLICIT), key, h, ho[i]);
	bt_unlock(bt);
}

static int key_held(struct basis_table *bt, const char *key, uint32_t h,
		    const struct proc_info *but, struct holder also);
static void walk_locked(struct basis_table *bt, const struct proc_info *p,
			const char *key, uint32_t h, uint64_t version,
			struct bent **skip, int *nskip, struct basis_hit *hit);

/* What @p's look at @key, found deleted at @version, reads
 * (look_reads_locked). */
enum look { LOOK_PARENT, LOOK_BOTH, LOOK_NONE };

/* Is @p's look at @key, found deleted at @version, a read of the
 * deletion for @p itself (LOOK_BOTH, else LOOK_PARENT: for its parent
 * only)?  Only where its change would otherwise use no
 * basis, one of the deletion itself, or one its holder's tree made (it
 * wrote the record, or a command of its made it: git gc's commands make
 * and remove their lock files on those, a spool's producer moves a file
 * into a name its consumer removes), or meet a mark (a refused writer
 * looks, then makes it anew).  Not over a basis read or declared before
 * the deletion: every create looks the name up first, so cp's own look
 * outranked its shell's stale read (`cat f`, another's `rm f`, then
 * `cp x f` made f again).  LOOK_NONE: an ancestor's basis its tree
 * made, which @p and its parent reach, is the read (at the deletion):
 * an entry of theirs beside it would stand between @p and it, and @p's
 * change would move neither (make stats its target, which make clean removed
 * on the shell's basis, and then its cp makes it anew: the shell stayed
 * at the deletion, and the next make's cp was refused as stale).
 * Not where the ancestor read the deletion itself: it stays where it
 * was when its command makes the record (an editor that saw it gone).
 * Caller holds bt->mu. */
static enum look look_reads_locked(struct basis_table *bt,
				   const struct proc_info *p, const char *key,
				   uint32_t h, uint64_t version)
{
	struct basis_hit hit;
	struct bent *e;

	if (!key_held(bt, key, h, NULL, NOBODY))
		return LOOK_BOTH;
	walk_locked(bt, p, key, h, 0, NULL, NULL, &hit);
	if (!hit.found)
		return LOOK_BOTH;
	if (hit.expired ||
	    (hit.version != version && (hit.explicit_ || hit.seen)))
		return LOOK_PARENT;
	e = !hit.holder_is_self && !hit.explicit_ && !hit.seen &&
		    hit.uid == p->uid && hit.holder > 1
		? bent_find(bt, B_IMPLICIT, key, h,
			    (struct holder){ hit.holder, hit.holder_start })
		: NULL;
	if (!e)
		return LOOK_BOTH;
	/* An ancestor's basis its tree made moves to the deletion its
	 * command read: it kept the first version seen (seen()), so the
	 * shell that wrote f, whose `cp x f` then made f again after
	 * another's `rm f`, stood a version behind its own command, and
	 * its `rm f` was refused as stale for good.  The looker's own stays
	 * (its create's own lookup is such a look: a process that wrote f
	 * itself must not make it again unseen, SPEC).  Its registration
	 * stays too: whoever could use it before may use it now, and the
	 * looker's look passes over it anyway. */
	e->version = version;
	e->pinned = 0; /* its holder has not read the deletion */
	return LOOK_NONE;
}

/* @always: register even without implicit bases (noimplicit).  @look:
 * a lookup that found @key deleted (basis_looked). */
static void seen(struct basis_table *bt, const struct proc_info *p,
		 const char *key, uint64_t version, int always, int look)
{
	struct holder ho[2];
	uint32_t h = basis_hash(key);
	int n = holders(p, ho), from = 0;

	pthread_mutex_lock(&bt->mu);
	if (look) {
		switch (look_reads_locked(bt, p, key, h, version)) {
		case LOOK_PARENT:
			from = 1; /* it then has seen the deletion */
			break;
		case LOOK_NONE:
			from = n;
			break;
		case LOOK_BOTH:
			break;
		}
	}
	for (int i = from; i < n; i++) {
		struct bent *m = bent_find(bt, B_MARK, key, h, ho[i]);
		/* A process's own read just after a refused rename or
		 * unlink is part of the refused save, not a re-read by its
		 * user: vim, its rename refused, reads the record to copy a
		 * backup and then unlinks and rewrites it.  That read must
		 * not bless the stale buffer, so it clears nothing for the
		 * reader itself (a child's read, a declaration or a later
		 * read do).  After a refused write there is no such grace:
		 * a program that reads again and retries gets its basis. */
		if (i == 0 && m && m->grace &&
		    proc_mono_ns() - m->expires_ns < BASIS_GRACE_NS)
			continue;
		if (m)
			bent_drop(bt, KIND(B_MARK), key, h, ho[i]);
		struct bent *cur = bent_find(bt, B_IMPLICIT, key, h, ho[i]);
		/* A user's read of the very version another uid's entry
		 * here names makes it the user's, if root's create lent it
		 * (made) to a holder that runs as that user: sudo made the
		 * record under the user's shell, and the shell has now
		 * seen that version itself.  The version stays, so nothing
		 * is blessed; a root reader keeps the user's (it may use it
		 * as it is), and at another version the entry stays its
		 * uid's first seen (root could use a moved one on what it
		 * read before).  A root holder's entry stays root's: a
		 * user's change would otherwise move a root parent's basis
		 * along (the model checker caught that, 2026-12-06). */
		if (cur && cur->made && cur->uid != p->uid && p->uid != 0 &&
		    cur->version == version &&
		    (i == 0 || holder_runs_as(ho[i], p->uid)))
			cur->uid = p->uid;
		/* The first version seen counts.  A create's basis gives way
		 * to a read of a later version; at its own version it stays a
		 * create's, which a change by its tree moves along
		 * (basis_changed): `seq 9 > f; sort -o f f; rm f`.  So does a
		 * removal its tree made, to a read (not a look) of a later
		 * record: the tree has seen nothing of the name since it
		 * removed it, and this is the first version it sees.  A
		 * queue's consumer (cat q; rm q, while another refills q)
		 * stayed at its last removal, and every other rm was refused
		 * as stale.  But once the holder (or its child) has read the
		 * very version its tree made, that read is its first seen:
		 * a read of a later version no longer moves it, or a
		 * process that made a record, read it, and read it again
		 * after another's change wrote over that change unseen. */
		if (cur && cur->made && cur->version == version && !look &&
		    (cur->uid == p->uid || p->uid == 0))
			cur->pinned = 1;
		if (!(bt->implicit || always) ||
		    (cur && (!cur->made || cur->pinned ||
			     cur->version == version) &&
		     !(cur->gone && !look && version > cur->version)))
			continue;
		/* The parent's is lent.  Past a share the holder registers
		 * nothing new (struct share). */
		if (cur)
			bent_reuse(bt, cur, p->uid, version);
		else
			cur = bent_add(bt, B_IMPLICIT, key, h, ho[i], p->uid,
				       version, 0, i == 1);
		if (cur)
			cur->seen = 1;
		if (cur && i == 1) {
			cur->by = ho[0].pid;
			cur->by_start = ho[0].start;
		}
	}
	bt_unlock(bt);
}

void basis_seen(struct basis_table *bt, const struct proc_info *p,
		const char *key, uint64_t version)
{
	seen(bt, p, key, version, 0, 0);
}

void basis_seen_always(struct basis_table *bt, const struct proc_info *p,
		       const char *key, uint64_t version)
{
	seen(bt, p, key, version, 1, 0);
}

void basis_looked(struct basis_table *bt, const struct proc_info *p,
		  const char *key, uint64_t version)
{
	seen(bt, p, key, version, 0, 1);
}

void basis_prefetch(struct basis_table *bt, const char *key)
{
	uint32_t h = basis_hash(key);

	pthread_mutex_lock(&bt->mu);
	__builtin_prefetch(bucket(bt, h));
	bt_unlock(bt);
}

/* Does any holder have a basis or a mark for @key, other than @but's
 * task and process (if @but) and @also (if its pid is not 0)?  Caller
 * holds bt->mu. */
static int key_held(struct basis_table *bt, const char *key, uint32_t h,
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

int basis_held(struct basis_table *bt, const char *key)
{
	uint32_t h = basis_hash(key);
	int held;

	pthread_mutex_lock(&bt->mu);
	held = key_held(bt, key, h, NULL, NOBODY);
	bt_unlock(bt);
	return held;
}

/* Holders a walk above passed over (walk_locked): at most this many. */
#define WALK_SKIP 4

/* How soon after a registration a lookup may take the pids' wrap into
 * account (registered_after): 10 ticks, 100 ms. */
#define WRAP_TICKS 10

/* Was @e registered after task @pid, which started at clock tick
 * @start, began?  Start times are in ticks (10 ms), and a script's
 * children forked together share the tick of the first one's commit,
 * which registers its new version at their parent: counted as before
 * the tick (SPEC's "a tie counts as before"), the other child took that
 * version as its basis and overwrote the first one's change unseen
 * (`setfattr ...; (cmd1 > rec) & (cmd2 > rec) &`: both passed, 18 of 30
 * rounds).  In a tie the pids tell: a task forked after the registration
 * has a pid above the last one handed out then, @s->pid, unless the
 * pids wrapped at pid_max since.  Then the last pid now is below
 * @s->pid, and a task at or below it was forked after the wrap: before
 * 2026-12-07 it was refused, and a script's `cp a rec; cp b rec` failed
 * its second cp (EPERM, no basis) whenever the pids wrapped between the
 * two (pid_max is 32768 on Debian 12: e2e_races in CI).  A task forked
 * before the registration, in its tick, has a pid just below @s->pid:
 * the pids would have to go round nearly all of pid_max to reach it
 * again, which WRAP_TICKS rules out (32,000 forks in 100 ms); past
 * that, a task below @s->pid is taken as older, the safe side. */
static int registered_after(const struct basis_table *bt,
			    const struct bent *e, uint64_t start, pid_t pid)
{
	const struct lp_slot *s = &bt->lp_ring[e->reg_seq % LP_RING];
	pid_t last;

	if (e->reg_ticks != start)
		return e->reg_ticks > start;
	/* Its section's pid gone from the ring (LP_RING sections in one
	 * tick), or not yet noted (this very section): after, the safe
	 * side.  An unknown pid (no /proc/sys): before, as the spec's tie. */
	if (s->seq != e->reg_seq || (e->reg_seq == bt->lp_seq && bt->lp_dirty))
		return 1;
	if (s->pid <= 0 || pid > s->pid)
		return 0;
	if (proc_now_ticks() - e->reg_ticks > WRAP_TICKS)
		return 1;
	last = proc_last_pid();
	return !(last > 0 && last < s->pid && pid <= last);
}

/* The walk of a lookup, from @p up its ancestors: the nearest holder of
 * a mark or a basis for @key wins (an explicit basis over an implicit
 * one there).  An ancestor's basis counts only if it was registered
 * before the task the walk came up from (the ancestor's child on the
 * path: @p itself for @p's parent) started: a script that was already
 * running when its shell read the record must not write it on the
 * shell's basis, neither itself nor through a command it starts later
 * (its cp started after the read, but the script did not).  A thread's
 * process is @p's own (self), so a thread always may use its process's
 * bases, and its process's parent is compared with the process's start.
 * With @skip (basis_changed asks which ancestor a change on
 * @p's own basis, of @version, stands beside), registration times are
 * not compared, and @p's own entries (its task's and its process's) are
 * passed over, and so are those its own read of @version left at an
 * ancestor as the reader's parent (`find -exec sed -i`: find holds what
 * sed read), up to WALK_SKIP of them, whose entries go into @skip
 * (*@nskip of them): the walk stops, finding nothing, at one more.
 * Caller holds bt->mu. */
static void walk_locked(struct basis_table *bt, const struct proc_info *p,
			const char *key, uint32_t h, uint64_t version,
			struct bent **skip, int *nskip, struct basis_hit *hit)
{
	struct proc_info cur = *p, proc;
	/* Invariant: the start of the task the walk came up from to @cur
	 * (unused while @cur is @p's own task or process). */
	uint64_t cstart = p->start;
	pid_t cpid = p->tid; /* and its pid */
	int64_t now = proc_mono_ns();
	int above = skip != NULL;

	memset(hit, 0, sizeof(*hit));
	for (int depth = 0; depth < 64; depth++) {
		struct holder ho = self_of(&cur);
		int self = cur.tid == p->tid || cur.tid == p->tgid;
		struct bent *m = NULL, *x = NULL, *im = NULL;

		if (!(above && self)) {
			m = bent_find(bt, B_MARK, key, h, ho);
			x = bent_find(bt, B_EXPLICIT, key, h, ho);
			im = bent_find(bt, B_IMPLICIT, key, h, ho);
		}
		if (above && !m && !x && im && im->seen &&
		    im->version == version && im->by == p->tid &&
		    im->by_start == p->start) {
			if (*nskip == WALK_SKIP)
				break;
			skip[(*nskip)++] = im;
			im = NULL;
		}
		if (m && (m->uid == p->uid || p->uid == 0 ||
			  m->uid == MARK_ANYONE)) {
			hit->stale = 1;
			hit->version = m->version; /* the basis refused */
			hit->uid = m->uid;
			hit->holder = ho.pid;
			hit->holder_start = ho.start;
			hit->holder_is_self = self;
			break;
		}
		for (int k = 0; k < 2; k++) {
			struct bent *e = k == 0 ? x : im;
			if (!e || (e->uid != p->uid && p->uid != 0))
				continue;
			if (!self && !above &&
			    registered_after(bt, e, cstart, cpid))
				continue; /* registered after the child began */
			hit->found = 1;
			hit->explicit_ = k == 0;
			hit->seen = k == 1 && e->seen;
			hit->version = e->version;
			hit->uid = e->uid;
			hit->group = e->group;
			hit->holder = ho.pid;
			hit->holder_start = ho.start;
			hit->holder_is_self = self;
			hit->expired = k == 0 && e->expires_ns < now;
			hit->via = e->via;
			hit->via_start = e->via_start;
			break;
		}
		if (hit->found)
			break;
		/* Stop at the session leader; root goes on (sudo starts a
		 * new session). */
		if (climb_ends(p, &cur))
			break;
		if (parent_of(&cur, &proc) < 0)
			break;
		/* A task in another session than its parent, and not its
		 * own session's leader (that ended the climb above), was
		 * adopted there: an orphan a child subreaper took in
		 * (systemd --user, tini), which holds nothing for it
		 * (SPEC).  Linux shows no subreaper flag; this is how one
		 * shows.  Root goes on, as at a leader. */
		if (p->uid != 0 && proc.tgid == proc.tid &&
		    proc.sid != cur.sid && cur.tgid != proc.tgid)
			break;
		cstart = cur.start;
		cpid = cur.tid;
		cur = proc;
	}
}

void basis_lookup(struct basis_table *bt, const struct proc_info *p,
		  const char *key, struct basis_hit *hit)
{
	uint32_t h = basis_hash(key);

	memset(hit, 0, sizeof(*hit));
	pthread_mutex_lock(&bt->mu);
	/* A key nobody holds anything for (a new name, most creates) needs
	 * no walk: each ancestor would cost a proc_get(). */
	if (key_held(bt, key, h, NULL, NOBODY))
		walk_locked(bt, p, key, h, 0, NULL, NULL, hit);
	bt_unlock(bt);
}

/* Explicit bases are one-shot: remove the registration. */
static void consume_locked(struct basis_table *bt, const char *key,
			   const struct basis_hit *hit)
{
	if (hit->found && hit->explicit_)
		bent_drop_group(bt, key, basis_hash(key), hit->group);
}

/* A stale mark and a conflict line at @ho, for @uid: only @uid's
 * lookups (and root's) meet them.  Nothing for pid 1. */
static void mark_at(struct basis_table *bt, const char *key, uint32_t h,
		    struct holder ho, uid_t uid, uint64_t basis,
		    const char *conflict)
{
	struct bent *e;

	if (ho.pid <= 1)
		return;
	bent_drop(bt, KIND(B_IMPLICIT), key, h, ho);
	e = bent_find(bt, B_MARK, key, h, ho);
	if (!e)
		e = bent_add(bt, B_MARK, key, h, ho, uid, 0, 0, 0);
	else if (e->uid != uid && uid != 0)
		/* Refused for another user too: the mark is for both (root
		 * meets every mark anyway).  It kept its first user's, and
		 * the second user's retry passed over it: EPERM, where a
		 * basis of that user's further up would have let it through
		 * (model checker, 2026-12-07). */
		e->uid = e->uid == 0 ? uid : MARK_ANYONE;
	if (e) {
		e->expires_ns = proc_mono_ns(); /* when it was refused */
		e->grace = 0;
		e->version = basis; /* what a refusal on the mark names */
	}
	bent_drop(bt, KIND(B_CONFLICT), key, h, ho);
	e = bent_add(bt, B_CONFLICT, key, h, ho, uid, 0, 0, 0);
	if (e)
		e->text = strdup(conflict);
}

void basis_grace(struct basis_table *bt, const struct proc_info *p,
		 const char *key)
{
	uint32_t h = basis_hash(key);
	struct holder pho;
	struct bent *m;

	pthread_mutex_lock(&bt->mu);
	m = bent_find(bt, B_MARK, key, h, self_of(p));
	if (m)
		m->grace = 1;
	if (p->tid != p->tgid && own_process(p, &pho) == 0) {
		m = bent_find(bt, B_MARK, key, h, pho);
		if (m)
			m->grace = 1;
	}
	bt_unlock(bt);
}

void basis_refused(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t basis, const char *conflict)
{
	uint32_t h = basis_hash(key);

	pthread_mutex_lock(&bt->mu);
	consume_locked(bt, key, hit);
	mark_at(bt, key, h, self_of(p), p->uid, basis, conflict);
	if (p->tid != p->tgid) {
		struct holder pho;
		if (own_process(p, &pho) == 0)
			mark_at(bt, key, h, pho, p->uid, basis, conflict);
	}
	/* The holder's mark is stamped with the uid of the basis refused
	 * there, not the refuser's: after a sudo's refusal on a user
	 * script's basis, the script's own next change must meet it (a
	 * root-stamped one it passed over, and wrote on its shell's newer
	 * basis: a lost update).  A mark only refuses, so its holder's
	 * user sees no other user's basis through it. */
	if ((hit->found || hit->stale) && hit->holder > 1)
		mark_at(bt, key, h,
			(struct holder){ hit->holder, hit->holder_start },
			hit->uid, basis, conflict);
	bt_unlock(bt);
}

/* Move implicit entry @e, in place, to @newv, which a change by its
 * holder's tree made: the registration is the change's, not a read's. */
static void move_to(struct basis_table *bt, struct bent *e, uint64_t newv)
{
	e->version = newv;
	bent_registered(bt, e);
	e->pinned = e->seen = e->gone = 0;
	e->by = 0;
	e->by_start = 0;
}

/* A change by @p on its own implicit basis (@version: it read the record
 * or looked the name up itself) made @newv.  Who stands beside it:
 * - what @p's own read left at its ancestors (as the reader's parent,
 *   SPEC) is of the version it has now changed, and moves with it to
 *   @newv: the shell that ran `python3 edit.py f` may then `git checkout
 *   f`, as if python had used its basis;
 * - past those, the nearest ancestor holding a basis, if it stands at
 *   @version and its tree made that version (it wrote, created or changed
 *   the record; it did not read it): nobody's commit came in between, so
 *   it moves along as well (`echo x > f; gzip f; gunzip f.gz; rm f`,
 *   `find -exec sed -i`).  It is returned (pid 0: none), *@made its
 *   entry's flag, for basis_changed to move.
 * An ancestor that read the record stays where it was: an editor's
 * buffer, a script's `n=$(cat f)`, is what it read, and a child's change
 * must not bless it.  Caller holds bt->mu. */
static struct holder own_change_locked(struct basis_table *bt,
				       const struct proc_info *p,
				       uint64_t version, const char *key,
				       uint32_t h, uint64_t newv, int *made)
{
	struct bent *skip[WALK_SKIP];
	struct holder anc = { 0, 0 };
	struct basis_hit up;
	struct bent *e;
	int nskip = 0;

	walk_locked(bt, p, key, h, version, skip, &nskip, &up);
	e = up.found && !up.explicit_ && up.version == version
		? bent_find(bt, B_IMPLICIT, key, h,
		       (struct holder){ up.holder, up.holder_start })
		: NULL;
	if (e && !e->seen && up.holder > 1) {
		anc = (struct holder){ up.holder, up.holder_start };
		*made = e->made;
	}
	for (int i = 0; i < nskip; i++)
		move_to(bt, skip[i], newv);
	return anc;
}

/* How many of a creator's line, from its parent up, hold what it creates
 * (basis_created), besides the session leader: `bash -c "make; rm out"`
 * needs the bash two above make's recipe shell. */
#define CREATED_NEAR 3

/* @p's line of ancestors (struct chain) into @c, from bt->chains when
 * it was read less than CHAIN_TTL_NS ago.  Root's stops at the session
 * leader too, though its lookups go on (sudo): what a root session made
 * must not be held by the sshd above every session.  Caller holds bt->mu
 * (as for a walk's /proc reads).  @return c->n (0: no parent). */
static int line_locked(struct basis_table *bt, const struct proc_info *p,
		       struct chain *c)
{
	struct holder ho[2];
	struct proc_info cur, par;
	struct chain *m;
	int64_t now = proc_mono_ns();

	memset(c, 0, sizeof(*c));
	if (holders(p, ho) < 2)
		return 0;
	m = &bt->chains[(unsigned)ho[1].pid % NCHAINS];
	if (m->n && m->up[0].pid == ho[1].pid &&
	    m->up[0].start == ho[1].start && now - m->at_ns < CHAIN_TTL_NS) {
		*c = *m;
		return c->n;
	}
	c->up[c->n++] = ho[1];
	c->at_ns = now;
	if (proc_get(ho[1].pid, &cur) < 0 || cur.start != ho[1].start)
		return c->n; /* not kept: the next asks again */
	for (;;) {
		if (leads_session(&cur)) {
			c->leader = 1;
			break;
		}
		if (c->n == CREATED_UP || parent_of(&cur, &par) < 0)
			break;
		c->up[c->n++] = self_of(&par);
		cur = par;
	}
	*m = *c;
	return c->n;
}

/* One holder above a moved ancestor (follow_up_locked): 1 when it may
 * move along, *@im its entry at @version, which its tree made (NULL: it
 * holds none and is passed over); 0 when the climb stops at it. */
static int follows(struct basis_table *bt, const struct proc_info *p,
		   const char *key, uint32_t h, struct holder ho,
		   uint64_t version, struct bent **im)
{
	*im = bent_find(bt, B_IMPLICIT, key, h, ho);
	if (bent_find(bt, B_MARK, key, h, ho) ||
	    bent_find(bt, B_EXPLICIT, key, h, ho))
		return 0;
	return !*im || ((*im)->version == version && !(*im)->seen &&
			((*im)->uid == p->uid || p->uid == 0));
}

/* @anc, an ancestor of @p, moves from @version to @newv with @p's change
 * (basis_changed).  The ancestors above it that stand at @version too,
 * with a basis their tree made (a script's bash wrote the file, and the
 * terminal's shell holds it as the creator's parent: basis_created), move
 * with it, as far up as such bases go without a gap of another kind: so
 * when the script has exited and the shell's basis is the nearest, it is
 * not one the script's own later changes left behind.  Nobody's commit
 * came between @version and @newv.  The climb follows @p's kept line
 * (line_locked) when @anc is in it, else it walks /proc.  Caller holds
 * bt->mu. */
static void follow_up_locked(struct basis_table *bt, const struct proc_info *p,
			     const char *key, uint32_t h, struct holder anc,
			     uint64_t version, uint64_t newv)
{
	struct proc_info cur = *p, par;
	struct bent *up[WALK_SKIP], *im;
	struct chain line;
	int n = 0, passed = 0, i;

	if (!key_held(bt, key, h, p, anc))
		return;
	if (climb_ends(p, p))
		return; /* nothing above @p in its session */
	line_locked(bt, p, &line);
	for (i = 0; i < line.n; i++)
		if (line.up[i].pid == anc.pid && line.up[i].start == anc.start)
			break;
	if (i < line.n) {
		while (++i < line.n && n < WALK_SKIP &&
		       follows(bt, p, key, h, line.up[i], version, &im))
			if (im)
				up[n++] = im;
		goto move;
	}
	for (int depth = 0; depth < 64 && n < WALK_SKIP; depth++) {
		struct holder ho = self_of(&cur);
		if (passed) {
			if (!follows(bt, p, key, h, ho, version, &im))
				break;
			if (im)
				up[n++] = im;
		} else if (ho.pid == anc.pid && ho.start == anc.start) {
			passed = 1;
		}
		if (climb_ends(p, &cur))
			break;
		if (parent_of(&cur, &par) < 0)
			break;
		cur = par;
	}
move:
	for (i = 0; i < n; i++)
		move_to(bt, up[i], newv);
}

/* @p's change on @anc's basis (@version), or on a basis its earlier
 * change left it through @anc (the via branch of changed_locked), moves
 * the holders between @p and @anc that stand at @version with a basis
 * their tree made: git gc's pack-refs looked at a deleted lock file,
 * made it and removed it, and gc, its parent, stayed at the make, a step
 * behind its child's removal: a change of gc's own on that basis would
 * have been refused as stale.  Those between that hold nothing get
 * @newv as a new registration (lent, its flag @made, for @p's uid): the
 * change went through them, as a read by their child would have, and
 * only @anc held it, registered now, after they started, so the next
 * command of a subshell or a script that rewrote its shell's record
 * found no basis (`echo x > f; (date > f; date > f)`: EPERM).  Their
 * commands already running stay without one, as a sibling script does.
 * Nothing moves or is registered unless @anc is reached without a gap
 * of another kind.  Caller holds bt->mu. */
static void between_locked(struct basis_table *bt, const struct proc_info *p,
			   const char *key, uint32_t h, struct holder anc,
			   uint64_t version, uint64_t newv, int made)
{
	struct proc_info cur = *p, par;
	struct bent *mid[WALK_SKIP], *im;
	struct holder add[WALK_SKIP];
	int n = 0, na = 0, depth;

	/* @anc is @p's own parent, by the facts @p carries (proven with
	 * it): nobody between, and no proof of the parent (a poll) to find
	 * that out, which a rename-over's temporary paid at every save.
	 * Had the parent exited since, the walk could not reach @anc
	 * either. */
	if (p->pstart && proc_basis_parent(p) == anc.pid &&
	    p->pstart == anc.start)
		return;
	for (depth = 0; depth < 64; depth++) {
		struct holder ho;
		if (climb_ends(p, &cur) || parent_of(&cur, &par) < 0)
			return;
		cur = par;
		ho = self_of(&cur);
		if (ho.pid == anc.pid && ho.start == anc.start)
			break;
		if (!follows(bt, p, key, h, ho, version, &im) ||
		    (im && n == WALK_SKIP) || (!im && na == WALK_SKIP))
			return;
		if (im)
			mid[n++] = im;
		else
			add[na++] = ho;
	}
	if (depth == 64)
		return; /* @anc not reached */
	for (int i = 0; i < n; i++)
		move_to(bt, mid[i], newv);
	for (int i = 0; i < na && bt->implicit; i++) {
		struct bent *e = bent_add(bt, B_IMPLICIT, key, h, add[i],
					  p->uid, newv, 0, 1);
		if (e)
			e->made = (uint8_t)made;
	}
}

/* The parent that holds, with @p, the declaration @hit found at @p
 * itself (basis_declare: one declaration for both), or pid 0.  Caller
 * holds bt->mu. */
static struct holder declared_with_locked(struct basis_table *bt,
					  const struct proc_info *p,
					  const char *key, uint32_t h,
					  const struct basis_hit *hit)
{
	struct holder ho[2], none = { 0, 0 };
	struct bent *e;

	if (!hit->found || !hit->explicit_ || hit->holder != p->tid ||
	    holders(p, ho) < 2 || ho[1].pid <= 1)
		return none;
	e = bent_find(bt, B_EXPLICIT, key, h, ho[1]);
	return e && e->group == hit->group ? ho[1] : none;
}

/* basis_changed, with bt->mu held. */
static void changed_locked(struct basis_table *bt, const struct proc_info *p,
			   const struct basis_hit *hit, const char *key,
			   uint64_t newv)
{
	uint32_t h = basis_hash(key);
	struct holder me = self_of(p);

	struct holder anc = { 0, 0 };
	struct bent *e;
	int made = 0;
	uid_t auid = p->uid; /* the uid @anc's basis was registered for */

	/* A declaration its maker's own change takes was its parent's as
	 * well, so the parent used it too and holds what the change made,
	 * as when a child takes its parent's declaration (below).  `recctl
	 * put --expect N f` declares and writes in one process: its shell
	 * kept the version it had before, and its next `echo x > f` was
	 * refused as stale. */
	anc = declared_with_locked(bt, p, key, h, hit);
	consume_locked(bt, key, hit);
	/* Held by another task: an ancestor, or a thread's own process,
	 * which is the thread's parent (SPEC, "Threads") and moves along
	 * as any ancestor does (it stayed behind, and a pool's next thread
	 * was refused on a version its own process had made). */
	if (hit->found && hit->holder != p->tid && hit->holder > 1) {
		anc = (struct holder){ hit->holder, hit->holder_start };
		auid = hit->uid;
		e = hit->explicit_ ? NULL
				   : bent_find(bt, B_IMPLICIT, key, h, anc);
		made = e && e->made;
		between_locked(bt, p, key, h, anc, hit->version, newv, made);
	} else if (hit->found && hit->holder_is_self && hit->via > 1) {
		/* The changer's own basis came from its earlier change on
		 * an ancestor's basis, and the ancestor still stands at the
		 * same version: that is one line of work, and the ancestor
		 * moves along as it did then (`mv -b new f`: f to f~, then
		 * new to f, in one process on the shell's basis). */
		struct holder via = { hit->via, hit->via_start };
		e = bent_find(bt, B_IMPLICIT, key, h, via);
		if (e && e->version == hit->version) {
			anc = via;
			made = e->made;
			between_locked(bt, p, key, h, via, hit->version, newv,
				       made);
		}
	}
	if (anc.pid <= 1 && hit->found && hit->holder_is_self &&
	    !hit->explicit_ && key_held(bt, key, h, p, NOBODY))
		anc = own_change_locked(bt, p, hit->version, key, h, newv,
					&made);
	/* Its own entry moves in place: past its share a change would
	 * otherwise cost the changer the record (struct share).  Nothing
	 * is held for pid 1 (SPEC): a container's init that made a record
	 * holds no basis of it. */
	e = NULL;
	if (me.pid > 1) {
		bent_drop(bt, KIND(B_MARK), key, h, me);
		e = bt->implicit ? bent_find(bt, B_IMPLICIT, key, h, me)
				 : NULL;
		if (e)
			bent_reuse(bt, e, p->uid, newv);
		else if (bt->implicit)
			e = bent_add(bt, B_IMPLICIT, key, h, me, p->uid, newv,
				     0, 0);
	}
	if (e && anc.pid > 1) {
		e->via = anc.pid;
		e->via_start = anc.start;
	}
	if (anc.pid > 1) {
		/* A basis from a child's create stays one: the ancestor has
		 * still seen none of it, so its next read replaces it.  One
		 * the ancestor held moves in place; a new one is lent.
		 * Root's change on a user's basis, held by a process that
		 * runs as that user, keeps it the user's: after `cat rec;
		 * echo x | sudo tee rec` the user's shell changes rec again
		 * (a root-stamped basis left it EPERM, even after a
		 * re-read).  Otherwise the changer's uid, as ever: a user's
		 * read lent to a root parent, moved by root, is root's (the
		 * model checker, 2026-12-06: kept the user's, a later
		 * change by that user moved the root parent's along). */
		uid_t uid = p->uid;

		e = bent_find(bt, B_IMPLICIT, key, h, anc);
		if (e)
			auid = e->uid;
		if (p->uid == 0 && auid != 0 && holder_runs_as(anc, auid))
			uid = auid;
		if (e)
			bent_reuse(bt, e, uid, newv);
		else if (bt->implicit)
			e = bent_add(bt, B_IMPLICIT, key, h, anc, uid, newv,
				     0, 1);
		if (e)
			e->made = (uint8_t)made;
		follow_up_locked(bt, p, key, h, anc, hit->version, newv);
	}
}

void basis_changed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t newv)
{
	pthread_mutex_lock(&bt->mu);
	changed_locked(bt, p, hit, key, newv);
	bt_unlock(bt);
}

/* basis_removed, with bt->mu held. */
static void removed_locked(struct basis_table *bt, const struct proc_info *p,
			   const struct basis_hit *hit, const char *key,
			   uint64_t newv)
{
	uint32_t h = basis_hash(key);

	changed_locked(bt, p, hit, key, newv);
	/* Every implicit entry at @newv that no read left is one this
	 * removal just moved or made (nobody saw @newv before it): the
	 * remover's, its ancestors', and theirs that followed. */
	for (struct bent *e = bucket(bt, h)->head; e; e = e->next)
		if (e->h == h && e->kind == B_IMPLICIT &&
		    e->version == newv && !e->seen &&
		    strcmp(e->key, key) == 0)
			e->gone = 1;
}

void basis_removed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t newv)
{
	pthread_mutex_lock(&bt->mu);
	removed_locked(bt, p, hit, key, newv);
	bt_unlock(bt);
}

/* basis_created, with bt->mu held, once created_wanted() said so. */
static void created_locked(struct basis_table *bt, const struct proc_info *p,
			   const char *key, uint64_t newv)
{
	uint32_t h = basis_hash(key);
	struct chain line;
	int n;

	/* Without implicit bases basis_changed gave the creator none of
	 * its own, and its line's, registered after it started, are not
	 * its to use: `ln -sf` renames the symlink it just made. */
	if (!bt->implicit) {
		struct holder me = self_of(p);

		if (me.pid > 1 && !bent_find(bt, B_IMPLICIT, key, h, me))
			bent_add(bt, B_IMPLICIT, key, h, me, p->uid, newv, 0,
				 0);
	}
	/* The creator's tree made every byte of it, which is more than a
	 * read shows.  So its line holds it: its parent and the two above
	 * (CREATED_NEAR), and its session's leader, the terminal's shell.
	 * After a script's `cp`, a subshell's or a program's thread's, the
	 * terminal's next command may remove it, and so may the script
	 * itself once its command is done (`bash -c "make; rm out"` execs
	 * rm in the very bash that ran make: it started before the file
	 * was made, so only a basis of its own counts for it).  Not the
	 * rest of a deep line: an entry is memory for as long as its holder
	 * lives, and a benchmark under make under a script would pay for
	 * each level at every create.  A creator that leads its session
	 * registers for its parent only. */
	n = line_locked(bt, p, &line);
	if (n > 1 && leads_session(p))
		n = 1;
	/* A mark or a basis one of them holds stays as it is, and ends the
	 * climb: what that holder saw is its own. */
	for (int i = 0; i < n; i++) {
		int near = i < CREATED_NEAR || (line.leader && i == n - 1);
		struct bent *e;
		if (bent_find(bt, B_IMPLICIT, key, h, line.up[i]) ||
		    bent_find(bt, B_MARK, key, h, line.up[i]))
			break;
		if (!near)
			continue;
		/* None past its share (or a full table): those above may
		 * hold it. */
		e = bent_add(bt, B_IMPLICIT, key, h, line.up[i], p->uid, newv,
			     0, 1);
		if (e)
			e->made = 1;
	}
}

/* @always: register even without implicit bases (noimplicit). */
static int created_wanted(const struct basis_table *bt,
			  const struct proc_info *p, int always)
{
	return (bt->implicit || always) && p->tid > 1;
}


/* One section for both: its registrations share one read of the last
 * pid (bt_unlock), where two calls made two. */
void basis_changed_created(struct basis_table *bt, const struct proc_info *p,
			   const struct basis_hit *hit, const char *key,
			   uint64_t newv, int always)
{
	pthread_mutex_lock(&bt->mu);
	changed_locked(bt, p, hit, key, newv);
	if (created_wanted(bt, p, always))
		created_locked(bt, p, key, newv);
	bt_unlock(bt);
}

void basis_renamed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *fhit, const char *from,
		   uint64_t tomb, const struct basis_hit *thit,
		   const char *to, uint64_t newv, int made)
{
	if (!fhit && !thit)
		return;
	pthread_mutex_lock(&bt->mu);
	if (fhit)
		removed_locked(bt, p, fhit, from, tomb);
	if (thit) {
		changed_locked(bt, p, thit, to, newv);
		if (made && created_wanted(bt, p, made > 1))
			created_locked(bt, p, to, newv);
	}
	bt_unlock(bt);
}

void basis_created(struct basis_table *bt, const struct proc_info *p,
		   const char *key, uint64_t newv)
{
	if (!created_wanted(bt, p, 0))
		return;
	pthread_mutex_lock(&bt->mu);
	created_locked(bt, p, key, newv);
	bt_unlock(bt);
}

int basis_conflict(struct basis_table *bt, const struct proc_info *p,
		   const char *key, char *buf, size_t len)
{
	struct proc_info cur = *p, par;
	uint32_t h = basis_hash(key);
	int rc = -ENODATA;

	pthread_mutex_lock(&bt->mu);
	for (int depth = 0; depth < 64 && rc < 0; depth++) {
		struct bent *e =
			bent_find(bt, B_CONFLICT, key, h, self_of(&cur));
		if (e && e->text && (e->uid == p->uid || p->uid == 0 ||
				     e->uid == MARK_ANYONE)) {
			size_t l = strlen(e->text);
			if (len && l < len)
				memcpy(buf, e->text, l + 1);
			rc = (int)l;
			break;
		}
		if (climb_ends(p, &cur))
			break;
		if (parent_of(&cur, &par) < 0)
			break;
		cur = par;
	}
	bt_unlock(bt);
	return rc;
}
