/* basis.c - the basis tables.
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
#include "basis.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	int64_t expires_ns;
	uint64_t group;
	char *text;
	uint8_t grace;  /* a mark: refused a path operation (basis_grace) */
	uint8_t made;   /* implicit, from a child's create (basis_created):
			   a read replaces it, as if none were held */
	uint8_t seen;   /* implicit, from a read (basis_seen), not from a
			   change its holder's tree made */
	/* Seen, held as the reader's parent: that reader (basis_changed
	 * passes over it for a change by the same reader). */
	pid_t by;
	uint64_t by_start;
	/* Implicit, made by a change on an ancestor's basis: that ancestor,
	 * whose registration moved to the same version (basis_changed). */
	pid_t via;
	uint64_t via_start;
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
#define BASIS_GRACE_NS 2000000000ll

struct bslot {
	struct bent *head;
	uint32_t sum; /* the hashes' summary: sum_bit() of each entry */
};

struct basis_table {
	pthread_mutex_t mu;
	struct bslot *tab;
	size_t nb;          /* buckets in tab */
	size_t count, max;
	size_t gc_at;       /* next count at which dead holders are swept */
	unsigned ttl_s;
	int implicit;
	uint64_t next_group;
};

struct holder {
	pid_t pid;
	uint64_t start;
};

static const struct holder NOBODY = { 0, 0 }; /* no entry has pid 0 */


int basis_init(struct basis_table **out, unsigned ttl_s, size_t max,
	       int implicit)
{
	struct basis_table *bt = calloc(1, sizeof(*bt));

	if (!bt)
		return -ENOMEM;
	store_mutex_init(&bt->mu);
	bt->ttl_s = ttl_s;
	bt->max = max;
	bt->nb = NBUCKETS_MIN;
	bt->tab = calloc(bt->nb, sizeof(*bt->tab));
	if (!bt->tab) {
		free(bt);
		return -ENOMEM;
	}
	bt->implicit = implicit;
	bt->next_group = 1;
	bt->gc_at = 4096;
	*out = bt;
	return 0;
}

static void bent_free(struct bent *e)
{
	free(e->text);
	free(e);
}

void basis_free(struct basis_table *bt)
{
	if (!bt)
		return;
	for (size_t i = 0; i < bt->nb; i++)
		for (struct bent *e = bt->tab[i].head, *n; e; e = n) {
			n = e->next;
			bent_free(e);
		}
	pthread_mutex_destroy(&bt->mu);
	free(bt->tab);
	free(bt);
}

static uint32_t khash(const char *key)
{
	return (uint32_t)XXH3_64bits(key, strlen(key));
}

/* The bucket takes the low bits of a hash, the summary its top 5. */
static uint32_t sum_bit(uint32_t h)
{
	return 1u << (h >> 27);
}

static struct bslot *bucket(struct basis_table *bt, uint32_t h)
{
	return &bt->tab[h & (bt->nb - 1)];
}

/* May @b hold an entry of hash @h?  0 proves it holds none. */
static int may_hold(const struct bslot *b, uint32_t h)
{
	return (b->sum & sum_bit(h)) != 0;
}

/* Twice the buckets, when memory allows (else chains grow: slower, not
 * wrong).  Caller holds bt->mu. */
static void grow(struct basis_table *bt)
{
	size_t nb = bt->nb * 2;
	struct bslot *t = calloc(nb, sizeof(*t));

	if (!t)
		return;
	for (size_t i = 0; i < bt->nb; i++)
		for (struct bent *e = bt->tab[i].head, *n; e; e = n) {
			struct bslot *b = &t[e->h & (nb - 1)];
			n = e->next;
			e->next = b->head;
			b->head = e;
			b->sum |= sum_bit(e->h);
		}
	free(bt->tab);
	bt->tab = t;
	bt->nb = nb;
}

static struct bent *find(struct basis_table *bt, uint8_t kind,
			 const char *key, uint32_t h, struct holder ho)
{
	struct bslot *b = bucket(bt, h);

	if (!may_hold(b, h))
		return NULL;
	for (struct bent *e = b->head; e; e = e->next)
		if (e->kind == kind && e->h == h && e->pid == ho.pid &&
		    e->start == ho.start && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

#define KIND(k) (1u << (k))

/* Remove the holder's entries for @key of the kinds in @kinds (KIND()
 * bits), in one walk of the bucket. */
/* What drop_where() removes: @key's entries of the kinds in @kinds
 * (KIND() bits) held by @ho, or, with @group nonzero, that group's. */
struct dropping {
	unsigned kinds;
	struct holder ho;
	uint64_t group;
};

static int dropped(const struct bent *e, const struct dropping *d)
{
	if (d->group)
		return e->group == d->group;
	return e->pid == d->ho.pid && e->start == d->ho.start &&
	       (d->kinds & KIND(e->kind));
}

/* Remove @key's entries that @d names, in one walk of the bucket, and
 * recompute the bucket's summary from the entries left. */
static void drop_where(struct basis_table *bt, const char *key, uint32_t h,
		       const struct dropping *d)
{
	struct bslot *b = bucket(bt, h);
	uint32_t sum = 0;

	if (!may_hold(b, h))
		return;
	for (struct bent **pp = &b->head; *pp;) {
		struct bent *e = *pp;
		if (e->h == h && dropped(e, d) && strcmp(e->key, key) == 0) {
			*pp = e->next;
			bt->count--;
			bent_free(e);
		} else {
			sum |= sum_bit(e->h);
			pp = &e->next;
		}
	}
	b->sum = sum; /* the whole chain was walked */
}

static void drop(struct basis_table *bt, unsigned kinds, const char *key,
		 uint32_t h, struct holder ho)
{
	struct dropping d = { .kinds = kinds, .ho = ho };

	drop_where(bt, key, h, &d);
}

/* A declaration's entries (@group: next_group's, never 0). */
static void drop_group(struct basis_table *bt, const char *key, uint32_t h,
		       uint64_t group)
{
	struct dropping d = { .group = group };

	drop_where(bt, key, h, &d);
}

size_t basis_gc_locked(struct basis_table *bt);

static struct bent *add(struct basis_table *bt, uint8_t kind,
			const char *key, uint32_t h, struct holder ho,
			uid_t uid, uint64_t version, uint64_t group)
{
	size_t klen = strlen(key);
	struct bslot *b;
	struct bent *e;

	/* Sweep entries of dead processes whenever the table doubled since
	 * the last sweep: amortized O(1) per entry. */
	if (bt->count >= bt->gc_at) {
		size_t left = basis_gc_locked(bt);
		bt->gc_at = left * 2 > 4096 ? left * 2 : 4096;
	}
	if (bt->count >= bt->max)
		return NULL;
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, klen + 1);
	e->h = h;
	e->kind = kind;
	e->pid = ho.pid;
	e->start = ho.start;
	e->uid = uid;
	e->version = version;
	e->reg_ticks = proc_now_ticks();
	e->group = group;
	b = bucket(bt, h);
	e->next = b->head;
	b->head = e;
	b->sum |= sum_bit(h);
	if (++bt->count > bt->nb)
		grow(bt);
	return e;
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

int basis_declare(struct basis_table *bt, const struct proc_info *p,
		  const char *key, uint64_t version)
{
	struct holder ho[2];
	uint32_t h = khash(key);
	int n = holders(p, ho), rc = 0;
	int64_t expires = proc_mono_ns() + (int64_t)bt->ttl_s * 1000000000;
	uint64_t group;

	pthread_mutex_lock(&bt->mu);
	if (bt->count + 2 > bt->max)
		basis_gc_locked(bt);
	group = bt->next_group++;
	for (int i = 0; i < n; i++) {
		struct bent *e;
		/* A new declaration replaces this holder's older one (and
		 * its mark), and only here: a sibling that declared through
		 * the same parent keeps its own. */
		drop(bt, KIND(B_MARK) | KIND(B_EXPLICIT), key, h, ho[i]);
		e = add(bt, B_EXPLICIT, key, h, ho[i], p->uid, version, group);
		if (!e) {
			drop_group(bt, key, h, group);
			rc = -ENOSPC;
			break;
		}
		e->expires_ns = expires;
	}
	pthread_mutex_unlock(&bt->mu);
	return rc;
}

void basis_seen(struct basis_table *bt, const struct proc_info *p,
		const char *key, uint64_t version)
{
	struct holder ho[2];
	uint32_t h = khash(key);
	int n = holders(p, ho);

	pthread_mutex_lock(&bt->mu);
	for (int i = 0; i < n; i++) {
		struct bent *m = find(bt, B_MARK, key, h, ho[i]);
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
			drop(bt, KIND(B_MARK), key, h, ho[i]);
		struct bent *cur = find(bt, B_IMPLICIT, key, h, ho[i]);
		/* The first version seen counts.  A create's basis gives way
		 * to a read of a later version; at its own version it stays a
		 * create's, which a change by its tree moves along
		 * (basis_changed): `seq 9 > f; sort -o f f; rm f`. */
		if (!bt->implicit ||
		    (cur && (!cur->made || cur->version == version)))
			continue;
		if (cur)
			drop(bt, KIND(B_IMPLICIT), key, h, ho[i]);
		if (bt->count >= bt->max)
			basis_gc_locked(bt);
		cur = add(bt, B_IMPLICIT, key, h, ho[i], p->uid, version, 0);
		if (cur)
			cur->seen = 1;
		if (cur && i == 1) {
			cur->by = ho[0].pid;
			cur->by_start = ho[0].start;
		}
	}
	pthread_mutex_unlock(&bt->mu);
}

void basis_prefetch(struct basis_table *bt, const char *key)
{
	uint32_t h = khash(key);

	pthread_mutex_lock(&bt->mu);
	__builtin_prefetch(bucket(bt, h));
	pthread_mutex_unlock(&bt->mu);
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

/* Holders a walk above passed over (walk_locked): at most this many. */
#define WALK_SKIP 4

/* The walk of a lookup, from @p up its ancestors: the nearest holder of
 * a mark or a basis for @key wins (an explicit basis over an implicit
 * one there).  With @skip (basis_changed asks which ancestor a change on
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
	struct holder pho;
	uint64_t wstart = p->start;
	int64_t now = proc_mono_ns();
	int above = skip != NULL;

	memset(hit, 0, sizeof(*hit));
	/* The writer's process start time bounds what ancestors offer. */
	if (p->tid != p->tgid && own_process(p, &pho) == 0)
		wstart = pho.start;
	for (int depth = 0; depth < 64; depth++) {
		struct holder ho = self_of(&cur);
		int self = cur.tid == p->tid || cur.tid == p->tgid;
		struct bent *m = NULL, *x = NULL, *im = NULL;

		if (!(above && self)) {
			m = find(bt, B_MARK, key, h, ho);
			x = find(bt, B_EXPLICIT, key, h, ho);
			im = find(bt, B_IMPLICIT, key, h, ho);
		}
		if (above && !m && !x && im && im->seen &&
		    im->version == version && im->by == p->tid &&
		    im->by_start == p->start) {
			if (*nskip == WALK_SKIP)
				break;
			skip[(*nskip)++] = im;
			im = NULL;
		}
		if (m && (m->uid == p->uid || p->uid == 0)) {
			hit->stale = 1;
			hit->holder = ho.pid;
			hit->holder_start = ho.start;
			hit->holder_is_self = self;
			break;
		}
		for (int k = 0; k < 2; k++) {
			struct bent *e = k == 0 ? x : im;
			if (!e || (e->uid != p->uid && p->uid != 0))
				continue;
			if (!self && !above && e->reg_ticks > wstart)
				continue; /* registered after the writer began */
			hit->found = 1;
			hit->explicit_ = k == 0;
			hit->version = e->version;
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
		if (cur.tid == cur.sid && cur.tid == cur.tgid && p->uid != 0)
			break;
		if (parent_of(&cur, &proc) < 0)
			break;
		cur = proc;
	}
}

void basis_lookup(struct basis_table *bt, const struct proc_info *p,
		  const char *key, struct basis_hit *hit)
{
	uint32_t h = khash(key);

	memset(hit, 0, sizeof(*hit));
	pthread_mutex_lock(&bt->mu);
	/* A key nobody holds anything for (a new name, most creates) needs
	 * no walk: each ancestor would cost a proc_get(). */
	if (key_held(bt, key, h, NULL, NOBODY))
		walk_locked(bt, p, key, h, 0, NULL, NULL, hit);
	pthread_mutex_unlock(&bt->mu);
}

/* Explicit bases are one-shot: remove the registration. */
static void consume_locked(struct basis_table *bt, const char *key,
			   const struct basis_hit *hit)
{
	if (hit->found && hit->explicit_)
		drop_group(bt, key, khash(key), hit->group);
}

static void mark_at(struct basis_table *bt, const char *key, uint32_t h,
		    struct holder ho, uid_t uid, const char *conflict)
{
	struct bent *e;

	drop(bt, KIND(B_IMPLICIT), key, h, ho);
	e = find(bt, B_MARK, key, h, ho);
	if (!e)
		e = add(bt, B_MARK, key, h, ho, uid, 0, 0);
	if (e) {
		e->expires_ns = proc_mono_ns(); /* when it was refused */
		e->grace = 0;
	}
	drop(bt, KIND(B_CONFLICT), key, h, ho);
	e = add(bt, B_CONFLICT, key, h, ho, uid, 0, 0);
	if (e)
		e->text = strdup(conflict);
}

void basis_grace(struct basis_table *bt, const struct proc_info *p,
		 const char *key)
{
	uint32_t h = khash(key);
	struct holder pho;
	struct bent *m;

	pthread_mutex_lock(&bt->mu);
	m = find(bt, B_MARK, key, h, self_of(p));
	if (m)
		m->grace = 1;
	if (p->tid != p->tgid && own_process(p, &pho) == 0) {
		m = find(bt, B_MARK, key, h, pho);
		if (m)
			m->grace = 1;
	}
	pthread_mutex_unlock(&bt->mu);
}

void basis_refused(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   const char *conflict)
{
	uint32_t h = khash(key);

	pthread_mutex_lock(&bt->mu);
	consume_locked(bt, key, hit);
	mark_at(bt, key, h, self_of(p), p->uid, conflict);
	if (p->tid != p->tgid) {
		struct holder pho;
		if (own_process(p, &pho) == 0)
			mark_at(bt, key, h, pho, p->uid, conflict);
	}
	if ((hit->found || hit->stale) && hit->holder > 1)
		mark_at(bt, key, h,
			(struct holder){ hit->holder, hit->holder_start },
			p->uid, conflict);
	pthread_mutex_unlock(&bt->mu);
}

/* Move implicit entry @e, in place, to @newv, which a change by its
 * holder's tree made: the registration is the change's, not a read's. */
static void move_to(struct bent *e, uint64_t newv)
{
	e->version = newv;
	e->reg_ticks = proc_now_ticks();
	e->seen = 0;
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
		? find(bt, B_IMPLICIT, key, h,
		       (struct holder){ up.holder, up.holder_start })
		: NULL;
	if (e && !e->seen && up.holder > 1) {
		anc = (struct holder){ up.holder, up.holder_start };
		*made = e->made;
	}
	for (int i = 0; i < nskip; i++)
		move_to(skip[i], newv);
	return anc;
}

/* @anc, an ancestor of @p, moves from @version to @newv with @p's change
 * (basis_changed).  The ancestors above it that stand at @version too,
 * with a basis their tree made (a script's bash wrote the file, and the
 * terminal's shell holds it as the creator's parent: basis_created), move
 * with it, as far up as such bases go without a gap of another kind: so
 * when the script has exited and the shell's basis is the nearest, it is
 * not one the script's own later changes left behind.  Nobody's commit
 * came between @version and @newv.  Caller holds bt->mu. */
static void follow_up_locked(struct basis_table *bt, const struct proc_info *p,
			     const char *key, uint32_t h, struct holder anc,
			     uint64_t version, uint64_t newv)
{
	struct proc_info cur = *p, par;
	struct bent *up[WALK_SKIP];
	int n = 0, passed = 0;

	if (!key_held(bt, key, h, p, anc))
		return;
	for (int depth = 0; depth < 64 && n < WALK_SKIP; depth++) {
		struct holder ho = self_of(&cur);
		if (passed) {
			struct bent *im = find(bt, B_IMPLICIT, key, h, ho);
			if (find(bt, B_MARK, key, h, ho) ||
			    find(bt, B_EXPLICIT, key, h, ho))
				break;
			if (im && (im->version != version || im->seen ||
				   (im->uid != p->uid && p->uid != 0)))
				break;
			if (im)
				up[n++] = im;
		} else if (ho.pid == anc.pid && ho.start == anc.start) {
			passed = 1;
		}
		if (cur.tid == cur.sid && cur.tid == cur.tgid && p->uid != 0)
			break;
		if (parent_of(&cur, &par) < 0)
			break;
		cur = par;
	}
	for (int i = 0; i < n; i++)
		move_to(up[i], newv);
}

void basis_changed(struct basis_table *bt, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t newv)
{
	uint32_t h = khash(key);
	struct holder me = self_of(p);

	struct holder anc = { 0, 0 };
	struct bent *e;
	int made = 0;

	pthread_mutex_lock(&bt->mu);
	consume_locked(bt, key, hit);
	if (hit->found && !hit->holder_is_self && hit->holder > 1) {
		anc = (struct holder){ hit->holder, hit->holder_start };
		e = hit->explicit_ ? NULL : find(bt, B_IMPLICIT, key, h, anc);
		made = e && e->made;
	} else if (hit->found && hit->holder_is_self && hit->via > 1) {
		/* The changer's own basis came from its earlier change on
		 * an ancestor's basis, and the ancestor still stands at the
		 * same version: that is one line of work, and the ancestor
		 * moves along as it did then (`mv -b new f`: f to f~, then
		 * new to f, in one process on the shell's basis). */
		struct holder via = { hit->via, hit->via_start };
		e = find(bt, B_IMPLICIT, key, h, via);
		if (e && e->version == hit->version) {
			anc = via;
			made = e->made;
		}
	}
	if (anc.pid <= 1 && hit->found && hit->holder_is_self &&
	    !hit->explicit_ && key_held(bt, key, h, p, NOBODY))
		anc = own_change_locked(bt, p, hit->version, key, h, newv,
					&made);
	drop(bt, KIND(B_MARK) | KIND(B_IMPLICIT), key, h, me);
	e = bt->implicit ? add(bt, B_IMPLICIT, key, h, me, p->uid, newv, 0)
			 : NULL;
	if (e && anc.pid > 1) {
		e->via = anc.pid;
		e->via_start = anc.start;
	}
	if (anc.pid > 1) {
		/* A basis from a child's create stays one: the ancestor has
		 * still seen none of it, so its next read replaces it. */
		drop(bt, KIND(B_IMPLICIT), key, h, anc);
		e = bt->implicit ? add(bt, B_IMPLICIT, key, h, anc, p->uid,
					newv, 0)
				 : NULL;
		if (e)
			e->made = (uint8_t)made;
		follow_up_locked(bt, p, key, h, anc, hit->version, newv);
	}
	pthread_mutex_unlock(&bt->mu);
}

void basis_created(struct basis_table *bt, const struct proc_info *p,
		   const char *key, uint64_t newv)
{
	struct holder ho[2];
	uint32_t h = khash(key);
	int n = holders(p, ho);

	if (n < 2 || !bt->implicit)
		return;
	pthread_mutex_lock(&bt->mu);
	/* The creator's tree made every byte of it, which is more than a
	 * read shows; a mark or a basis the parent holds stays as it is. */
	if (!find(bt, B_IMPLICIT, key, h, ho[1]) &&
	    !find(bt, B_MARK, key, h, ho[1])) {
		struct bent *e;
		if (bt->count >= bt->max)
			basis_gc_locked(bt);
		e = add(bt, B_IMPLICIT, key, h, ho[1], p->uid, newv, 0);
		if (e)
			e->made = 1;
	}
	pthread_mutex_unlock(&bt->mu);
}

int basis_conflict(struct basis_table *bt, const struct proc_info *p,
		   const char *key, char *buf, size_t len)
{
	struct proc_info cur = *p, par;
	uint32_t h = khash(key);
	int rc = -ENODATA;

	pthread_mutex_lock(&bt->mu);
	for (int depth = 0; depth < 64 && rc < 0; depth++) {
		struct bent *e = find(bt, B_CONFLICT, key, h, self_of(&cur));
		if (e && e->text && (e->uid == p->uid || p->uid == 0)) {
			size_t l = strlen(e->text);
			if (len && l < len)
				memcpy(buf, e->text, l + 1);
			rc = (int)l;
			break;
		}
		if (cur.tid == cur.sid && cur.tid == cur.tgid && p->uid != 0)
			break;
		if (parent_of(&cur, &par) < 0)
			break;
		cur = par;
	}
	pthread_mutex_unlock(&bt->mu);
	return rc;
}

size_t basis_gc_locked(struct basis_table *bt)
{
	/* Most entries belong to a few holders: remember the last few
	 * answers instead of asking once per entry (each costs a poll). */
	struct {
		struct holder ho;
		int live;
	} seen[4];
	unsigned nseen = 0;

	for (size_t i = 0; i < bt->nb; i++) {
		uint32_t sum = 0;
		for (struct bent **pp = &bt->tab[i].head; *pp;) {
			struct bent *e = *pp;
			struct proc_info pi;
			int live = -1;
			for (unsigned k = 0; k < nseen && k < 4; k++)
				if (seen[k].ho.pid == e->pid &&
				    seen[k].ho.start == e->start)
					live = seen[k].live;
			if (live < 0) {
				live = proc_get(e->pid, &pi) == 0 &&
				       pi.start == e->start;
				seen[nseen % 4].ho =
					(struct holder){ e->pid, e->start };
				seen[nseen % 4].live = live;
				nseen++;
			}
			if (!live) {
				*pp = e->next;
				bt->count--;
				bent_free(e);
			} else {
				sum |= sum_bit(e->h);
				pp = &e->next;
			}
		}
		bt->tab[i].sum = sum;
	}
	return bt->count;
}

size_t basis_gc(struct basis_table *bt)
{
	size_t n;

	pthread_mutex_lock(&bt->mu);
	n = basis_gc_locked(bt);
	pthread_mutex_unlock(&bt->mu);
	return n;
}

void basis_shape(struct basis_table *bt, size_t *entries, size_t *buckets,
		 size_t *longest)
{
	pthread_mutex_lock(&bt->mu);
	*entries = bt->count;
	*buckets = bt->nb;
	*longest = 0;
	for (size_t i = 0; i < bt->nb; i++) {
		size_t n = 0;
		for (struct bent *e = bt->tab[i].head; e; e = e->next)
			n++;
		if (n > *longest)
			*longest = n;
	}
	pthread_mutex_unlock(&bt->mu);
}
