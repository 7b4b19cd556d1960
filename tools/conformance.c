/* tools/conformance.c — the conformance runner behind `make conformance`.
 *
 *   kiln_conformance [--tsv FILE] DIR...
 *
 * Every fixture directory under each DIR (a directory holding fixture.txt,
 * or a directory of them) is compiled through the JIT at -O2 and compared
 * with TensorFlow's outputs (tests/support/fixture.c).  Prints a line per
 * fixture and a last line "N passed, M failed"; --tsv writes name, status,
 * max abs and max rel error per fixture (tools/gen_ops_doc.py reads it).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/fixture.h"

static int passed, failed;
static FILE *tsv;

static void run_one(const char *dir)
{
    fixture f;
    char err[1024];
    if (!fixture_load_dir(dir, &f, err, sizeof err)) {
        printf("FAIL %s: %s\n", dir, err);
        failed++;
        return;
    }
    fixture_result r = fixture_run_jit(&f, 2);
    printf("%s %-34s max_abs %-10.3g max_rel %-10.3g %s\n", r.ok ? "PASS" : "FAIL", f.name, r.max_abs, r.max_rel,
           r.ok ? "" : r.message);
    if (tsv) fprintf(tsv, "%s\t%s\t%g\t%g\n", f.name, r.ok ? "pass" : "fail", r.max_abs, r.max_rel);
    r.ok ? passed++ : failed++;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_tree(const char *dir)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/fixture.txt", dir);
    if (!stat(path, &sb)) return run_one(dir);
    DIR *d = opendir(dir);
    if (!d) {
        printf("FAIL %s: not a directory\n", dir);
        failed++;
        return;
    }
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') names = realloc(names, sizeof *names * (size_t)(n + 1)), names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s/fixture.txt", dir, names[i]);
        if (!stat(path, &sb)) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            run_one(path);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int i = 1;
    if (argc > 2 && !strcmp(argv[1], "--tsv")) {
        if (!(tsv = fopen(argv[2], "w"))) return fprintf(stderr, "kiln_conformance: cannot write %s\n", argv[2]), 2;
        i = 3;
    }
    if (i >= argc) return fprintf(stderr, "usage: kiln_conformance [--tsv FILE] DIR...\n"), 2;
    for (; i < argc; i++) run_tree(argv[i]);
    if (tsv) fclose(tsv);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
