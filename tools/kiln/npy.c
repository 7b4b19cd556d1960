/* tools/kiln/npy.c */
