/* rc_merge.c - what edit shows and runs when a save was stale: unified
 * diffs of both sides, the three-way merge, the editor, and questions. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recctl.h"

int ed_editor(const char *file)
{
	const char *ed = getenv("VISUAL");
	char *script = NULL;
	int st;

	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	/* Through sh like git does, so EDITOR may carry arguments
	 * ("emacs -nw", "code --wait"). */
	if (asprintf(&script, "%s \"$@\"", ed) < 0)
		return -ENOMEM;
	{
		char *argv[] = { "/bin/sh", "-c", script, (char *)ed,
				 (char *)file, NULL };

		st = rc_run_tty(argv);
	}
	free(script);
	return st;
}

void ed_show_diff(const char *title, const char *la, const char *fa,
		  const char *lb, const char *fb)
{
	char *argv[] = { "diff", "-u", "--label", (char *)la, "--label",
			 (char *)lb, (char *)fa, (char *)fb, NULL };
	int st;

	printf("\n%s\n", title);
	fflush(stdout);
	st = rc_run_tty(argv);
	if (st == 0)
		printf("(no differences)\n");
	else if (st != 1)
		printf("(diff could not run: %s)\n",
		       st < 0 ? strerror(-st) : "it failed");
}

/* diff3 -m (Debian's diffutils) or else git merge-file -p.  Both exit 0
 * for a clean merge and 1.. for conflicts. */
int ed_merge3(const char *mine, const char *base, const char *theirs,
	      const char *lbase, const char *ltheirs, char **out,
	      size_t *outlen, int *conflicts)
{
	char *d3[] = { "diff3", "-m", "-L", "yours", "-L", (char *)lbase,
		       "-L", (char *)ltheirs, (char *)mine, (char *)base,
		       (char *)theirs, NULL };
	char *gm[] = { "git", "merge-file", "-p", "-L", "yours", "-L",
		       (char *)lbase, "-L", (char *)ltheirs, (char *)mine,
		       (char *)base, (char *)theirs, NULL };
	int st = rc_run(d3, NULL, 0, out, outlen), ok;

	if (st == -ENOENT) {
		st = rc_run(gm, NULL, 0, out, outlen);
		ok = st >= 0 && st < 128; /* the number of conflicts */
	} else {
		ok = st == 0 || st == 1; /* diff3 says 2 for trouble */
	}
	if (!ok) {
		if (st >= 0)
			free(*out);
		*out = NULL;
		return st < 0 ? st : -EIO;
	}
	*conflicts = st;
	return 0;
}

/* Conflict markers at the start of a line, as diff3 -m writes them. */
int ed_has_markers(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if ((ll >= 8 && (memcmp(p, "<<<<<<< ", 8) == 0 ||
				 memcmp(p, ">>>>>>> ", 8) == 0)) ||
		    (ll == 7 && memcmp(p, "=======", 7) == 0))
			return 1;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

int ed_ask(const char *prompt)
{
	char *line = NULL;
	size_t cap = 0;
	int c = 0;

	printf("%s", prompt);
	fflush(stdout);
	if (getline(&line, &cap, stdin) >= 0) {
		for (char *p = line; *p; p++)
			if (!isspace((unsigned char)*p)) {
				c = tolower((unsigned char)*p);
				break;
			}
	} else {
		printf("\n");
		c = EOF;
	}
	free(line);
	return c;
}

int ed_confirm_word(const char *prompt, const char *word)
{
	char *line = NULL;
	size_t cap = 0;
	int yes = 0;

	printf("%s", prompt);
	fflush(stdout);
	if (getline(&line, &cap, stdin) >= 0) {
		line[strcspn(line, "\r\n")] = '\0';
		yes = strcmp(line, word) == 0;
	} else {
		printf("\n");
	}
	free(line);
	return yes;
}
