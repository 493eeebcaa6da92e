/* rc_edit.c - edit: $EDITOR on a copy, committed with the version the
 * edit started from.  A stale save never overwrites silently: it shows
 * both sides' changes and lets the user merge, redo the edit on the
 * current version, keep theirs, or overwrite after typing "yes".
 *
 * The base of the three-way merge is the text read together with its
 * version when the edit started (kept in memory), not a history file:
 * it is the exact bytes, and it survives even when more than
 * keep_versions commits happened during a long edit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "recctl.h"

enum { AGAIN = -1000, MENU = -1001 }; /* beside exit statuses */

struct text {
	char *buf;
	size_t len;
};

struct edit {
	const struct recctl_cmd *cmd;
	const char *path;
	char *tmp;
	char *f_work, *f_base, *f_theirs, *f_merged, *f_yours;
	uint64_t base_v;   /* what mine is based on; 0: create */
	struct text base, mine, theirs;
	uint64_t theirs_v; /* 0: deleted */
	int keep;          /* the user's text must survive us */
	int refused;       /* the last save was refused as stale */
	int recreate;      /* 1: the user chose to create a deleted record
			    * again; 2: its create was retried */
};

static void text_set(struct text *t, char *buf, size_t len)
{
	free(t->buf);
	t->buf = buf;
	t->len = len;
}

static int text_eq(const struct text *a, const struct text *b)
{
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

static int text_copy(struct text *dst, const struct text *src)
{
	char *b = malloc(src->len + 1);

	if (!b)
		return -ENOMEM;
	memcpy(b, src->buf, src->len);
	b[src->len] = '\0';
	text_set(dst, b, src->len);
	return 0;
}

static int setup_files(struct edit *e)
{
	const char *name = strrchr(e->path, '/');
	int rc;

	name = name ? name + 1 : e->path;
	if (!*name)
		name = "record";
	rc = rc_tmpdir(&e->tmp);
	if (rc < 0)
		return rc;
	/* The record's own name last, so editors pick its file type. */
	if (asprintf(&e->f_work, "%s/%s", e->tmp, name) < 0 ||
	    asprintf(&e->f_base, "%s/base.%s", e->tmp, name) < 0 ||
	    asprintf(&e->f_theirs, "%s/theirs.%s", e->tmp, name) < 0 ||
	    asprintf(&e->f_merged, "%s/merged.%s", e->tmp, name) < 0 ||
	    asprintf(&e->f_yours, "%s/yours.%s", e->tmp, name) < 0)
		return -ENOMEM;
	return 0;
}

/* Put @t in @file, run the editor on it and read the result back. */
static int edit_text(const char *file, const struct text *t, struct text *out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = rc_write_file(file, t->buf, t->len);

	if (rc < 0)
		return rc;
	rc = ed_editor(file);
	if (rc != 0) {
		fprintf(stderr, "%s: edit: the editor %s %d\n", prog,
			rc < 0 ? "could not run:" : "exited with status",
			rc < 0 ? -rc : rc);
		return -ECANCELED;
	}
	rc = rc_read_file(file, &buf, &len);
	if (rc < 0)
		return rc;
	text_set(out, buf, len);
	return 0;
}

/* Mine becomes @t, now based on their version. */
static int adopt(struct edit *e, struct text *t)
{
	int rc = text_copy(&e->base, &e->theirs);

	if (rc < 0)
		return rc;
	text_set(&e->mine, t->buf, t->len);
	t->buf = NULL;
	e->base_v = e->theirs_v;
	return AGAIN;
}

static void version_label(char *buf, size_t size, const char *path,
			  uint64_t v, const char *none)
{
	if (v)
		snprintf(buf, size, "%s@%" PRIu64, path, v);
	else
		snprintf(buf, size, "%s (%s)", path, none);
}

static int do_merge(struct edit *e)
{
	char lbase[512], ltheirs[512];
	struct text merged = { 0 };
	int rc, conflicts = 0, c;

	version_label(lbase, sizeof(lbase), e->path, e->base_v, "none");
	version_label(ltheirs, sizeof(ltheirs), e->path, e->theirs_v,
		      "deleted");
	rc = rc_write_file(e->f_work, e->mine.buf, e->mine.len);
	if (rc == 0)
		rc = ed_merge3(e->f_work, e->f_base, e->f_theirs, lbase,
			       ltheirs, &merged.buf, &merged.len, &conflicts);
	if (rc == 0)
		rc = rc_write_file(e->f_merged, merged.buf, merged.len);
	if (rc < 0) {
		printf("The merge failed (%s).\n", strerror(-rc));
		rc = MENU;
		goto out;
	}
	if (conflicts == 0) {
		ed_show_diff("Merged cleanly.  What committing the merge "
			     "changes in their version:", ltheirs, e->f_theirs,
			     "merged", e->f_merged);
		c = ed_ask("Commit the merge? [y]es, [e]dit it first, "
			   "[n]o (back): ");
		if (c == 'y') {
			rc = adopt(e, &merged);
			goto out;
		}
		if (c != 'e') {
			rc = MENU;
			goto out;
		}
	} else {
		printf("Merged with conflicts, marked <<<<<<< yours, ||||||| "
		       "base, ======= and >>>>>>> theirs.\nOpening the "
		       "editor to resolve them.\n");
	}
	for (;;) {
		rc = edit_text(e->f_merged, &merged, &merged);
		if (rc < 0) {
			rc = rc == -ECANCELED ? MENU : rc;
			goto out;
		}
		if (!ed_has_markers(merged.buf, merged.len))
			break;
		c = ed_ask("Conflict markers remain.  [e]dit again, [c]ommit "
			   "anyway, [b]ack to the choices: ");
		if (c == 'c')
			break;
		if (c != 'e') {
			rc = MENU;
			goto out;
		}
	}
	rc = adopt(e, &merged);
out:
	free(merged.buf);
	return rc;
}

/* Redo the change on their version: every commit is then based on
 * what the user saw in the editor. */
static int do_reedit(struct edit *e)
{
	struct text t = { 0 };
	int rc;

	rc = rc_write_file(e->f_yours, e->mine.buf, e->mine.len);
	if (rc < 0)
		return rc;
	printf("Opening version %" PRIu64 "; your text is in %s.\n",
	       e->theirs_v, e->f_yours);
	rc = edit_text(e->f_work, &e->theirs, &t);
	if (rc == -ECANCELED)
		return MENU;
	if (rc < 0)
		return rc;
	if (text_eq(&t, &e->theirs)) {
		printf("No change to version %" PRIu64 ".\n", e->theirs_v);
		free(t.buf);
		return MENU;
	}
	return adopt(e, &t);
}

static void show_conflict(struct edit *e)
{
	char lbase[512], ltheirs[512], line[512];

	version_label(lbase, sizeof(lbase), e->path, e->base_v, "none");
	version_label(ltheirs, sizeof(ltheirs), e->path, e->theirs_v,
		      "deleted");
	if (!e->base_v)
		printf("\n%s was created by someone else while you were "
		       "editing: it is version %" PRIu64 ".\n", e->path,
		       e->theirs_v);
	else if (!e->theirs_v)
		printf("\n%s was deleted while you were editing version %"
		       PRIu64 ".\n", e->path, e->base_v);
	else
		printf("\n%s changed while you were editing: you started "
		       "from version %" PRIu64 ", it is now version %" PRIu64
		       ".\n", e->path, e->base_v, e->theirs_v);
	if (e->refused &&
	    rc_getxattr_str(e->path, "user.conflict", line, sizeof(line)) == 0)
		printf("Your save was refused: %s\n", line);
	ed_show_diff("Their changes:", lbase, e->f_base, ltheirs, e->f_theirs);
	ed_show_diff("Your changes:", lbase, e->f_base, "yours", e->f_work);
}

/* The save was stale: show what happened and ask.  @return AGAIN to
 * commit e->mine based on e->base_v, or an exit status. */
static int conflict(struct edit *e)
{
	char *buf = NULL;
	size_t len = 0;
	int rc, c;

	rc = rc_read_record(e->path, &e->theirs_v, &buf, &len);
	if (rc == -ENOENT) {
		e->theirs_v = 0;
		buf = strdup("");
		rc = buf ? 0 : -ENOMEM;
	}
	if (rc < 0) {
		e->keep = 1;
		return rc_report(e->cmd, e->path, rc, "reading it again");
	}
	text_set(&e->theirs, buf, len);
	if (!e->theirs_v && !e->base_v)
		return AGAIN; /* created and deleted again meanwhile */
	if (e->theirs_v && text_eq(&e->theirs, &e->mine)) {
		printf("%s: version %" PRIu64 " already holds your text; "
		       "nothing to commit.\n", e->path, e->theirs_v);
		return EXIT_OK;
	}
	if ((rc = rc_write_file(e->f_base, e->base.buf, e->base.len)) < 0 ||
	    (rc = rc_write_file(e->f_theirs, buf, len)) < 0 ||
	    (rc = rc_write_file(e->f_work, e->mine.buf, e->mine.len)) < 0) {
		e->keep = 1;
		return rc_report(e->cmd, e->tmp, rc, NULL);
	}
	show_conflict(e);
	for (;;) {
		if (e->theirs_v)
			c = ed_ask("\n[m]erge, [e]dit again from their "
				   "version, [t]ake theirs (drop yours), "
				   "[o]verwrite theirs, [q]uit? ");
		else
			c = ed_ask("\n[o]verwrite: create it again with "
				   "yours, [t]ake theirs (leave it deleted), "
				   "[q]uit? ");
		rc = MENU;
		if (c == 'm' && e->theirs_v)
			rc = do_merge(e);
		else if (c == 'e' && e->theirs_v)
			rc = do_reedit(e);
		else if (c == 't') {
			printf("Kept %s as it is; your text was dropped.\n",
			       e->path);
			return EXIT_OK;
		} else if (c == 'o') {
			if (ed_confirm_word("This replaces their version and "
					    "loses their changes.  Type 'yes' "
					    "to overwrite: ", "yes")) {
				e->base_v = e->theirs_v;
				e->recreate = !e->theirs_v;
				return AGAIN;
			}
			printf("Not overwritten.\n");
		} else if (c == 'q' || c == EOF) {
			e->keep = 1;
			printf("Nothing was committed.\n");
			return EXIT_STALE;
		} else {
			printf("Answer with one of the letters in brackets.\n");
		}
		if (rc != MENU) {
			if (rc < 0 && rc != AGAIN) {
				e->keep = 1;
				return rc_report(e->cmd, e->path, rc, NULL);
			}
			return rc;
		}
	}
}

static int save(struct edit *e)
{
	uint64_t v;
	int rc;

	for (;;) {
		rc = rc_commit(e->path, e->base_v, e->mine.buf, e->mine.len,
			       &v);
		if (rc == 0) {
			if (v)
				printf("%s: saved as version %" PRIu64 "\n",
				       e->path, v);
			return EXIT_OK;
		}
		if (rc == -EAGAIN && !e->base_v &&
		    rc_version(e->path, &v) == -ENOENT && e->recreate == 1) {
			/* The user saw it deleted and chose to create it
			 * again, but our basis was still the version we
			 * read when the edit began (a later look does not
			 * move it), so that create was always refused.  The
			 * refusal let go of it, and the look just made
			 * (ENOENT) reads the deletion: once more, on that.
			 * O_EXCL still refuses a record made meanwhile. */
			e->recreate = 2;
			continue;
		}
		if (rc == -EAGAIN && !e->base_v &&
		    rc_version(e->path, &v) == -ENOENT) {
			/* No declaration can name a deleted record, and the
			 * daemon checks this create against the version we
			 * read before it was deleted. */
			e->keep = 1;
			fprintf(stderr, "%s: edit: %s: the daemon refuses to "
				"create it again from this session, which "
				"read it before it was deleted\n", prog,
				e->path);
			return EXIT_STALE;
		}
		if (rc != -EAGAIN && rc != -EEXIST &&
		    !(rc == -ENOENT && e->base_v)) {
			e->keep = 1;
			return rc_report(e->cmd, e->path, rc, "saving");
		}
		e->refused = rc == -EAGAIN;
		rc = conflict(e);
		if (rc != AGAIN)
			return rc;
	}
}

int cmd_edit(const struct recctl_cmd *cmd, int argc, char **argv)
{
	struct edit e = { .cmd = cmd };
	struct text t = { 0 };
	int n, rc;

	rc = rc_parse(cmd, argc, argv, NULL, &e.path, 1, &n, NULL);
	if (rc >= 0)
		return rc;
	if (n != 1)
		return usage_error(cmd, "%s", "missing PATH");
	rc = rc_read_record(e.path, &e.base_v, &e.base.buf, &e.base.len);
	/* A missing record outside any mount is refused now, not after
	 * the user has spent the edit on it (rc_version tells only a file
	 * that exists). */
	if (rc == -ENOENT && rc_on_recfs(e.path) == 0)
		rc = RC_NOT_RECFS;
	if (rc == -ENOENT) {
		e.base_v = 0; /* a new record: created only if still absent */
		e.base.buf = strdup("");
		rc = e.base.buf ? 0 : -ENOMEM;
	}
	if (rc < 0)
		return rc_report(cmd, e.path, rc, NULL);
	rc = setup_files(&e);
	if (rc < 0) {
		rc = rc_report(cmd, "temporary directory", rc, NULL);
		goto out;
	}
	rc = edit_text(e.f_work, &e.base, &t);
	if (rc < 0) {
		/* Like git: an editor that fails (vim's :cq) aborts. */
		printf("Nothing was committed.\n");
		rc = rc == -ECANCELED ? EXIT_ERR
				      : rc_report(cmd, e.f_work, rc, NULL);
		goto out;
	}
	text_set(&e.mine, t.buf, t.len);
	if (text_eq(&e.mine, &e.base)) {
		printf("%s: no changes; nothing was committed.\n", e.path);
		rc = EXIT_OK;
		goto out;
	}
	rc = save(&e);
out:
	if (e.tmp && e.keep && e.mine.buf &&
	    rc_write_file(e.f_work, e.mine.buf, e.mine.len) == 0)
		fprintf(stderr, "%s: edit: your text is in %s\n", prog,
			e.f_work);
	else if (e.tmp && e.keep)
		fprintf(stderr, "%s: edit: your files are in %s\n", prog,
			e.tmp);
	else if (e.tmp)
		rc_rm_tmpdir(e.tmp);
	free(e.tmp);
	free(e.f_work);
	free(e.f_base);
	free(e.f_theirs);
	free(e.f_merged);
	free(e.f_yours);
	free(e.base.buf);
	free(e.mine.buf);
	free(e.theirs.buf);
	return rc;
}
