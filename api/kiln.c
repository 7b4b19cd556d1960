/* api/kiln.c — the library API; see include/kiln/kiln.h. */
