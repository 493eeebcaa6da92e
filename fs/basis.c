/* basis.c - the basis rules: who holds which basis and what a lookup
 * finds (declare, withdraw, seen, lookup, conflict).  What a change, a
 * removal, a create and a rename do to the bases, and the stale marks a
 * refusal leaves, are basis_change.c's; the helpers both use are in
 * basis_int.h, and the table that keeps the entries is basis_table.c.
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
	basis_walk_locked(bt, p, key, h, 0, NULL, NULL, &hit);
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

int basis_held(struct basis_table *bt, const char *key)
{
	uint32_t h = basis_hash(key);
	int held;

	pthread_mutex_lock(&bt->mu);
	held = key_held(bt, key, h, NULL, NOBODY);
	bt_unlock(bt);
	return held;
}

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
void basis_walk_locked(struct basis_table *bt, const struct proc_info *p,
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
		basis_walk_locked(bt, p, key, h, 0, NULL, NULL, hit);
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
