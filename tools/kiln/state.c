/* tools/kiln/state.c — the state directory of `kiln run --state DIR`. */
#define _GNU_SOURCE
#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"

void state_file_name(const char *dir, const char *name, char *out, size_t n)
{
    size_t at = (size_t)snprintf(out, n, "%s/", dir);
    for (const char *p = name; *p && at + 7 < n; p++) {
        if (*p == '/') out[at++] = '_', out[at++] = '_';
        else out[at++] = (*p == ':' || *p == '\\' || (unsigned char)*p < 32) ? '_' : *p;
    }
    snprintf(out + at, n - at, ".npy");
}

static bool same_shape(const npy_array *a, const kiln_variable_info *v)
{
    if ((int)a->dtype != (int)v->dtype || a->rank != v->rank) return false;
    for (int i = 0; i < v->rank; i++)
        if (a->dims[i] != v->dims[i]) return false;
    return true;
}

static void shape_str(int dtype, int rank, const int64_t *dims, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "%s[", kiln_dtype_name((kiln_dtype)dtype));
    for (int i = 0; i < rank && at < n; i++) at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

void *state_load(const char *dir, const kiln_program *p)
{
    size_t size = kiln_program_state_size(p);
    unsigned char *s = aligned_alloc(64, size);
    if (!s) return fprintf(stderr, "kiln: out of memory for the state (%zu bytes)\n", size), NULL;
    memset(s, 0, size);
    struct stat sb;
    bool have_dir = !stat(dir, &sb) && S_ISDIR(sb.st_mode);
    for (int i = 0; i < kiln_program_num_variables(p); i++) {
        kiln_variable_info v = kiln_program_variable(p, i);
        char path[4096];
        state_file_name(dir, v.name, path, sizeof path);
        if (!have_dir || access(path, F_OK)) {
            if (!kiln_program_reads_variable(p, i)) continue;
            fprintf(stderr, "kiln: state %s: variable '%s' is missing (%s): it is read before it is initialized "
                            "(FailedPrecondition); run the init target first, e.g. --fetch init_all_vars_op\n",
                    dir, v.name, path);
            free(s);
            return NULL;
        }
        npy_array a;
        kl_diag d = {0};
        if (!npy_load(path, &a, &d)) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            free(s);
            return NULL;
        }
        if (!same_shape(&a, &v)) {
            char want[128], got[128];
            shape_str(v.dtype, v.rank, v.dims, want, sizeof want);
            shape_str(a.dtype, a.rank, a.dims, got, sizeof got);
            fprintf(stderr, "kiln: %s: variable '%s' is %s, the file holds %s\n", path, v.name, want, got);
            npy_free(&a);
            free(s);
            return NULL;
        }
        memcpy(s + v.offset, a.data, v.bytes);
        uint32_t one = 1;
        memcpy(s + v.flag_offset, &one, 4);
        npy_free(&a);
    }
    return s;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d) closedir(d);
    rmdir(dir);
}

/* fsync every file of dir and dir itself, so the rename below publishes
 * data that is on disk (a crash after it cannot leave empty files). */
static int sync_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    int rc = d ? 0 : -1;
    while (d && !rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        rc = fd < 0 || fsync(fd);
        if (fd >= 0) close(fd);
    }
    if (d) closedir(d);
    int fd = rc ? -1 : open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) rc = fsync(fd), close(fd);
    return rc ? -1 : 0;
}

int state_save(const char *dir, const kiln_program *p, const void *state)
{
    const unsigned char *s = state;
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid());
    remove_dir(tmp);
    if (mkdir(tmp, 0777)) return fprintf(stderr, "kiln: cannot create %s: %s\n", tmp, strerror(errno)), 1;
    for (int i = 0; i < kiln_program_num_variables(p); i++) {
        kiln_variable_info v = kiln_program_variable(p, i);
        uint32_t flag;
        memcpy(&flag, s + v.flag_offset, 4);
        if (!flag) continue;
        state_file_name(tmp, v.name, path, sizeof path);
        kl_diag d = {0};
        if (!npy_save(path, (kl_dtype)v.dtype, v.rank, v.dims, s + v.offset, &d)) {
            fprintf(stderr, "kiln: %s\n", d.text);
            kl_diag_clear(&d);
            remove_dir(tmp);
            return 1;
        }
    }
    if (sync_dir(tmp)) {
        fprintf(stderr, "kiln: cannot flush %s to disk: %s\n", tmp, strerror(errno));
        remove_dir(tmp);
        return 1;
    }
    /* DIR is replaced in one step: swapped with the new directory when it
     * exists (renameat2 RENAME_EXCHANGE), else the new one renamed to it. */
    struct stat sb;
    if (!stat(dir, &sb)) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE)) {
            fprintf(stderr, "kiln: cannot replace %s: %s\n", dir, strerror(errno));
            remove_dir(tmp);
            return 1;
        }
        remove_dir(tmp); /* now the old state */
    } else if (rename(tmp, dir)) {
        fprintf(stderr, "kiln: cannot create %s: %s\n", dir, strerror(errno));
        remove_dir(tmp);
        return 1;
    }
    return 0;
}
