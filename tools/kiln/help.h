/* tools/kiln/help.h — kiln's help, man page and suggestions (help.c, one
 * table of commands and options) and its progress line (progress.c). */
#ifndef KILN_HELP_H
#define KILN_HELP_H

#include <stdbool.h>
#include <stdio.h>

#include "kiln/kiln.h"

void help_usage(FILE *f);                       /* the command list (kiln with no arguments) */
void help_all(FILE *f);                         /* kiln --help */
int help_command(FILE *f, const char *name);    /* kiln help CMD; 2 when CMD is unknown (message printed) */
void help_version(FILE *f);                     /* kiln --version */
void help_man(FILE *f);                         /* kiln help --man: docs/kiln.1 */
bool help_is_command(const char *name);
/* The known option nearest to arg ("--fech=y" -> "--fetch"), preferring
 * cmd's own; NULL when none is near. */
const char *help_nearest_option(const char *arg, const char *cmd);
const char *help_nearest_command(const char *word);

/* The progress line: `mode` is "auto" (stderr a terminal, after
 * KILN_PROGRESS_DELAY seconds, default 2), "always" or "never".  Sets
 * o->progress; returns false on a bad mode. */
bool progress_setup(kiln_options *o, const char *mode);
/* --progress auto (not an explicit always) is off for output that shares
 * the terminal: kiln dump, --time-passes, --dump-after. */
void progress_auto_off(kiln_options *o);
/* Clears the line if one is shown (also done by the compile's "done"). */
void progress_end(void);

#endif
