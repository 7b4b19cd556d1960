/* tools/kiln/main.c — the kiln CLI. */
int main(void) { return 0; }
