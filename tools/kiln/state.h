/* tools/kiln/state.h — `kiln run --state DIR`: a program's state block as a
 * directory of .npy files, one per variable (docs/cli.md). */
#ifndef KILN_CLI_STATE_H
#define KILN_CLI_STATE_H

#include "kiln/kiln.h"

/* File name of variable `name` in a state directory: '/' becomes "__". */
void state_file_name(const char *dir, const char *name, char *out, size_t n);
/* A zeroed state block with every variable DIR holds loaded and marked
 * initialized.  Errors (printed): a variable the program reads that DIR
 * lacks, a file of the wrong dtype or shape.  Returns NULL on error. */
void *state_load(const char *dir, const kiln_program *p);
/* Writes every initialized variable to DIR atomically: all files go to a
 * fresh directory beside DIR, which then replaces DIR in one rename. */
int state_save(const char *dir, const kiln_program *p, const void *state);

#endif
