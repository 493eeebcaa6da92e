/* check.c - the version check of a change (SPEC "The basis of a change"
 * and "When the check happens"): which basis a change takes, whether it
 * is stale, and what is left behind when it is refused. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"

/* Is @c a character a glob matches only with itself, wherever it
 * stands?  Not the pattern characters, nor a bracket's ends, nor the
 * escape (and what it escapes is not looked at). */
static int plain(char c)
{
	return c && !strchr("*?[]\\", c);
}

/* Does @name match one of the colon-separated @globs?  A glob whose
 * first or last character is plain can only match a name that begins or
 * ends with it: most names are turned away without fnmatch, which is
 * asked at every save. */
static int name_matches(const char *globs, const char *name)
{
	size_t nl = strlen(name);
	char g[256];

	for (const char *p = globs; *p;) {
		size_t n = strcspn(p, ":");
		int maybe = n > 0 && !(plain(p[0]) && p[0] != name[0]) &&
			    !(plain(p[n - 1]) &&
			      (nl == 0 || p[n - 1] != name[nl - 1]));
		/* A glob too long for the buffer matches nothing: the name
		 * stays checked, the safe side. */
		if (maybe && n < sizeof(g)) {
			memcpy(g, p, n);
			g[n] = 0;
			if (fnmatch(g, name, 0) == 0)
				return 1;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return 0;
}

/* Names tools own (editor backups, locks, swap and probe files), and
 * directories marked user.recfs.unchecked=1, are last-writer-wins.
 * Asked at every create and checked open: no allocation (a strdup of the
 * globs and of the key was a fifth of a create's CREATE). */
int rfs_unchecked(struct rfs *fs, const char *key)
{
	const char *name = strrchr(key, '/');
	char dir[STORE_KEY_MAX + 1];
	size_t len = strlen(key);

	if (fs->o.unchecked)
		return 1;
	name = name ? name + 1 : key;
	if (name_matches(fs->o.unchecked_names ? fs->o.unchecked_names
					       : RFS_DEFAULT_UNCHECKED,
			 name))
		return 1;
	if (len >= sizeof(dir) || !store_dir_xattrs(fs->st))
		return 0; /* no such key, or no directory is marked */
	memcpy(dir, key, len + 1);
	for (char *slash = strrchr(dir, '/');; slash = strrchr(dir, '/')) {
		char v[4];
		ssize_t n;
		if (slash)
			*slash = 0;
		else
			dir[0] = 0;
		n = store_getxattr(fs->st, dir, "user.recfs.unchecked", v,
				   sizeof(v));
		if ((n == 1 && v[0] == '1') ||
		    (n == 2 && v[0] == '1' && v[1] == '\n'))
			return 1;
		if (!slash)
			return 0;
	}
}

static void iso_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void refuse(struct rfs *fs, const struct proc_info *p,
		   const struct basis_hit *hit, const char *key,
		   uint64_t basis, uint64_t current, int64_t commit_ns)
{
	struct rfs_inode *in = rfs_ino_by_key(fs, key);
	char conflict[256], at[32], comm[65], pid[16] = "?", uid[16] = "?";
	/* Who made the current version is known only while the record's
	 * inode is: once the kernel forgot it, for a deletion, or after a
	 * restart, each is "?" (it said pid=0 uid=0, naming root); so for
	 * a version another mount made (etcd: it named the maker of the
	 * version before). */
	int known = in && in->last_pid > 0 && in->last_version == current;

	if (known) {
		snprintf(pid, sizeof(pid), "%d", (int)in->last_pid);
		snprintf(uid, sizeof(uid), "%u", (unsigned)in->last_uid);
	}
	iso_time(commit_ns, at, sizeof(at));
	snprintf(conflict, sizeof(conflict),
		 "basis=%llu current=%llu pid=%s comm=%s uid=%s at=%s",
		 (unsigned long long)basis, (unsigned long long)current, pid,
		 known && in->last_comm[0]
			 ? proc_comm_field(in->last_comm, comm)
			 : "?",
		 uid, at);
	basis_refused(fs->bt, p, hit, key, basis, conflict);
}

/* The check of a change of @key, whose record is @sb (NULL: there is
 * none, live), by a handle that read version @view of it (0: none; see
 * rfs_check_handle).  Caller holds fs->mu. */
static int check_line(struct rfs *fs, const struct proc_info *p,
		      const char *key, const struct store_stat *live,
		      const uint64_t *own, uint64_t view, uint64_t *expect,
		      struct basis_hit *hit)
{
	int64_t commit_ns = live ? live->commit_ns : 0;
	uint64_t line = 0;
	char comm[65];

	memset(hit, 0, sizeof(*hit));
	/* A basis must name the key's line as it is now: its version, or
	 * the tombstone's if it was deleted. */
	if (live)
		line = live->version;
	else
		store_last_version(fs->st, key, &line);
	*expect = live ? live->version : STORE_ABSENT;
	if (rfs_unchecked(fs, key)) {
		/* Last writer wins, but a declaration is a precondition its
		 * writer asked for: it is checked below (until 2026-12-07
		 * it was ignored, and a stale `recctl put --expect N` or
		 * `rm --expect N` there passed). */
		if (!own && p->tid > 0)
			basis_lookup(fs->bt, p, key, hit);
		if (own || !hit->found || !hit->explicit_) {
			memset(hit, 0, sizeof(*hit));
			*expect = STORE_ANY;
			return 0;
		}
	}
	if (own) {
		if (*own == line) {
			/* Passed.  The process's own basis at that version,
			 * if the lookup finds it, is what the commit moves
			 * along, with the ancestors its tree's changes move
			 * (basis_changed): a program's second save through
			 * one descriptor (write, fsync, write, close; each
			 * SQLite transaction) left its shell at the first,
			 * and the shell's `rm` was refused as stale.  A
			 * declaration is left for the change it was made
			 * for, and a mark or an older basis moves nothing. */
			if (p->tid > 0)
				basis_lookup(fs->bt, p, key, hit);
			if (!hit->found || hit->stale || hit->expired ||
			    hit->explicit_ || hit->version != line)
				memset(hit, 0, sizeof(*hit));
			return 0;
		}
		refuse(fs, p, hit, key, *own, line, commit_ns);
		return -EAGAIN;
	}
	if (p->tid > 0)
		basis_lookup(fs->bt, p, key, hit);
	if (hit->stale) {
		/* The basis the mark's refusal was on: it said basis=0,
		 * which reads as a create-only declaration. */
		refuse(fs, p, hit, key, hit->version, line, commit_ns);
		return -EAGAIN;
	}
	if (hit->found) {
		/* An implicit basis stands for what the process read; the
		 * handle's own reads showed @view, and its change is built
		 * on what they showed (rfs_check_handle). */
		if (!hit->expired && hit->version == line &&
		    (!view || hit->explicit_ || view == line))
			return 0;
		refuse(fs, p, hit, key,
		       hit->version == line && !hit->expired ? view
							     : hit->version,
		       line, commit_ns);
		return -EAGAIN;
	}
	if (!live)
		return 0; /* creating a key needs no basis */
	if (p->unknown == -ENFILE) {
		/* Not "no basis": the daemon could not read who asked, so
		 * it could not look one up.  EPERM with "read it first" sent
		 * a writer that had read it to look for a fault of its own. */
		fprintf(stderr, "recfs: refused a change of '%s' by uid %u: "
			"out of descriptors, so the caller could not be "
			"read from /proc\n", key, (unsigned)p->uid);
		return -ENFILE;
	}
	/* Under -o noimplicit a read gives no basis: "read it first" sent
	 * the writer to do what cannot help. */
	fprintf(stderr, "recfs: refused a change of '%s' by pid %d (%s, uid "
		"%u): no basis%s; %s with setfattr -n user.expected_version\n",
		key, (int)p->tid, proc_comm_field(p->comm, comm),
		(unsigned)p->uid,
		fs->o.noimplicit ? " (-o noimplicit: a read gives none)" : "",
		fs->o.noimplicit ? "declare one"
				 : "read it first or declare one");
	return -EPERM;
}

int rfs_check(struct rfs *fs, const struct proc_info *p, const char *key,
	      const uint64_t *own, uint64_t *expect, struct basis_hit *hit)
{
	struct store_stat sb;
	int live = store_stat(fs->st, key, &sb) == 0 && !S_ISDIR(sb.meta.mode);

	return check_line(fs, p, key, live ? &sb : NULL, own, 0, expect, hit);
}

int rfs_check_handle(struct rfs *fs, const struct proc_info *p,
		     const char *key, const uint64_t *own, uint64_t view,
		     uint64_t *expect, struct basis_hit *hit)
{
	struct store_stat sb;
	int live = store_stat(fs->st, key, &sb) == 0 && !S_ISDIR(sb.meta.mode);

	return check_line(fs, p, key, live ? &sb : NULL, own, view, expect,
			  hit);
}

int rfs_check_new(struct rfs *fs, const struct proc_info *p, const char *key,
		  uint64_t *expect, struct basis_hit *hit)
{
	return check_line(fs, p, key, NULL, NULL, 0, expect, hit);
}

void rfs_seen(struct rfs *fs, const struct proc_info *p, const char *key,
	      uint64_t v)
{
	if (p->tid > 0 && !rfs_unchecked(fs, key))
		basis_seen(fs->bt, p, key, v);
}

void rfs_looked(struct rfs *fs, const struct proc_info *p, const char *key,
		uint64_t v)
{
	if (p->tid > 0 && !rfs_unchecked(fs, key))
		basis_looked(fs->bt, p, key, v);
}

void rfs_seen_link(struct rfs *fs, const struct proc_info *p,
		   const char *key, uint64_t v)
{
	if (p->tid > 0 && !rfs_unchecked(fs, key))
		basis_seen_always(fs->bt, p, key, v);
}

/* Who made @key's version @newv, for user.conflict and the lease. */
static void note_changer(struct rfs *fs, const struct proc_info *p,
			 const char *key, uint64_t newv)
{
	struct rfs_inode *in = rfs_ino_by_key(fs, key);

	if (in) {
		/* append_write sets it again; read_on peeks without fs->mu */
		__atomic_store_n(&in->ext_base, 0, __ATOMIC_RELAXED);
		in->ext_top = newv;
		in->ext_cut = newv;
		in->last_pid = p->tgid ? p->tgid : p->tid;
		in->last_uid = p->uid;
		memcpy(in->last_comm, p->comm, sizeof(in->last_comm));
		in->last_version = newv;
	}
}

#define MADE 1        /* changed(): a new name (basis_created too) */
#define MADE_ALWAYS 2 /* a new symlink: even under noimplicit */
#define REMOVED 3     /* a name removed (basis_removed) */

/* Does @p's change of @key hand out a basis?  A change that found a
 * basis was checked (rfs_check asks none for an unchecked key): only the
 * others need to ask again. */
static int hands_basis(struct rfs *fs, const struct proc_info *p,
		       const struct basis_hit *hit, const char *key)
{
	return p->tid > 0 && (hit->found || !rfs_unchecked(fs, key));
}

/* rfs_changed, and rfs_created with @made. */
static void changed(struct rfs *fs, const struct proc_info *p,
		    const struct basis_hit *hit, const char *key,
		    uint64_t newv, int made)
{
	note_changer(fs, p, key, newv);
	if (!hands_basis(fs, p, hit, key))
		return;
	if (made == REMOVED)
		basis_removed(fs->bt, p, hit, key, newv);
	else if (made)
		basis_changed_created(fs->bt, p, hit, key, newv,
				      made == MADE_ALWAYS);
	else
		basis_changed(fs->bt, p, hit, key, newv);
}

void rfs_changed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t newv)
{
	changed(fs, p, hit, key, newv, 0);
}

void rfs_removed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t tomb)
{
	changed(fs, p, hit, key, tomb, REMOVED);
}

void rfs_appended(struct rfs *fs, const struct proc_info *p,
		  const struct basis_hit *hit, const char *key, uint64_t newv)
{
	/* An appender that stood on no current basis never saw the
	 * versions it added to: the version it made must not become its
	 * basis.  It did (read v1, another commits v2, append v3, save the
	 * v1 buffer: passed, and v2 was lost), and it lifted the
	 * appender's stale mark. */
	if (hit->found)
		changed(fs, p, hit, key, newv, 0);
	else
		note_changer(fs, p, key, newv);
}

void rfs_created(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *hit, const char *key, uint64_t newv)
{
	changed(fs, p, hit, key, newv, MADE);
}

void rfs_created_link(struct rfs *fs, const struct proc_info *p,
		      const struct basis_hit *hit, const char *key,
		      uint64_t newv)
{
	changed(fs, p, hit, key, newv, MADE_ALWAYS);
}

void rfs_renamed(struct rfs *fs, const struct proc_info *p,
		 const struct basis_hit *fhit, const char *from,
		 uint64_t tomb, const struct basis_hit *thit, const char *to,
		 uint64_t newv, int to_new, int link)
{
	int made = !to_new ? 0 : link ? MADE_ALWAYS : MADE;

	note_changer(fs, p, from, tomb);
	note_changer(fs, p, to, newv);
	basis_renamed(fs->bt, p, hands_basis(fs, p, fhit, from) ? fhit : NULL,
		      from, tomb, hands_basis(fs, p, thit, to) ? thit : NULL,
		      to, newv, made);
}

struct rfs_tree {
	size_t n, cap;
	struct {
		char *rel; /* the key past the directory's, from its '/' */
		uint64_t version;
	} *r;
};

void rfs_tree_free(struct rfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->r[i].rel);
	free(t->r);
	free(t);
}

static int tree_add(struct rfs_tree *t, const char *rel, uint64_t version)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *r = realloc(t->r, cap * sizeof(*t->r));
		if (!r)
			return -ENOMEM;
		t->r = r;
		t->cap = cap;
	}
	t->r[t->n].rel = strdup(rel);
	if (!t->r[t->n].rel)
		return -ENOMEM;
	t->r[t->n++].version = version;
	return 0;
}

/* Add the records under @dir, whose key begins @skip bytes before the
 * part kept (the renamed directory's own key). */
static int tree_walk(struct rfs *fs, struct rfs_tree *t, const char *dir,
		     size_t skip)
{
	struct store_dirent *ents;
	size_t n;
	int rc = store_list(fs->st, dir, &ents, &n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		char key[RFS_KEY_BUF];
		if (snprintf(key, sizeof(key), "%s/%s", dir, ents[i].name) >=
		    (int)sizeof(key))
			continue; /* cannot be: keys fit */
		if (S_ISDIR(ents[i].mode))
			rc = tree_walk(fs, t, key, skip);
		else
			rc = tree_add(t, key + skip, ents[i].version);
	}
	store_list_free(ents, n); /* NULL and 0 when store_list failed */
	return rc;
}

int rfs_tree_of(struct rfs *fs, const char *dir, struct rfs_tree **out)
{
	struct rfs_tree *t;
	int rc;

	*out = NULL;
	if (fs->o.unchecked || fs->o.noimplicit)
		return 0; /* no implicit basis to carry */
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = tree_walk(fs, t, dir, strlen(dir));
	if (rc < 0 || t->n == 0) {
		rfs_tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void rfs_dir_moved(struct rfs *fs, const struct proc_info *p,
		   const struct rfs_tree *t, const char *from, const char *to)
{
	for (size_t i = 0; t && p->tid > 0 && i < t->n; i++) {
		char fk[RFS_KEY_BUF], tk[RFS_KEY_BUF];
		struct store_stat sb;
		struct basis_hit hit, hd;
		uint64_t tomb = 0;

		if (snprintf(fk, sizeof(fk), "%s%s", from, t->r[i].rel) >=
			    (int)sizeof(fk) ||
		    snprintf(tk, sizeof(tk), "%s%s", to, t->r[i].rel) >=
			    (int)sizeof(tk))
			continue; /* the rename would have failed */
		if (store_stat(fs->st, tk, &sb) < 0)
			continue;
		/* Its new version is the renamer's (user.conflict named
		 * its last writer before). */
		note_changer(fs, p, tk, sb.version);
		if (rfs_unchecked(fs, fk) ||
		    store_last_version(fs->st, fk, &tomb) < 0)
			continue;
		basis_lookup(fs->bt, p, fk, &hit);
		if (!hit.found || hit.stale || hit.explicit_ ||
		    hit.version != t->r[i].version)
			continue;
		hd = hit;
		rfs_removed(fs, p, &hit, fk, tomb);
		if (!rfs_unchecked(fs, tk)) /* hd was found: not asked */
			rfs_changed(fs, p, &hd, tk, sb.version);
	}
}
