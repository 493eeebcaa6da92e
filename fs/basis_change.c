/* basis_change.c - what a change does to the bases: a change, a
 * removal, a create and a rename move or register their writer's and
 * its ancestors' bases (changed, removed, created, renamed, with the
 * walks that find who moves along: own_change, line, follows,
 * follow_up, between, declared_with), an explicit basis is consumed,
 * and a refusal leaves stale marks and their grace (marks, grace,
 * refused).  Who holds which basis and what a lookup finds are
 * basis.c's; the helpers both use are in basis_int.h. */
#include "basis_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

	basis_walk_locked(bt, p, key, h, version, skip, &nskip, &up);
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
