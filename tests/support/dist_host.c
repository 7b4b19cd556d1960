/* tests/support/dist_host.c — a user program running two task objects of
 * one pipeline split (kiln compile --split 2 --task T, prefixes task0 and
 * task1) under mpirun: rank T runs task T's entry; rank 0 writes the fetch.
 *   dist_host FEED.npy OUT.bin   (float32 feed, npy version 1; raw output) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/dist.h"
#include "task0.h"
#include "task1.h"

static void *read_npy(const char *path, size_t want)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    if (!f || fread(head, 1, 10, f) != 10 || memcmp(head + 1, "NUMPY", 5)) return NULL;
    size_t hlen = head[8] | (size_t)head[9] << 8;
    void *data = aligned_alloc(64, (want + 63) & ~(size_t)63);
    if (!data || fseek(f, (long)(10 + hlen), SEEK_SET) || fread(data, 1, want, f) != want) return NULL;
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    if (kiln_rt_dist_init(&argc, &argv) || argc != 3) {
        fprintf(stderr, "dist_host: %s\n", argc != 3 ? "usage: dist_host FEED.npy OUT.bin" : kiln_rt_dist_error());
        return 2;
    }
    int rank = kiln_rt_dist_rank();
    float *x = read_npy(argv[1], TASK0_T_BYTES), out[TASK0_IDENTITY_SIZE];
    size_t temp_size = rank ? TASK1_TEMP_SIZE : TASK0_TEMP_SIZE;
    void *temp = aligned_alloc(64, (temp_size + 64) & ~(size_t)63);
    if (!x || !temp) {
        fprintf(stderr, "dist_host: cannot read %s\n", argv[1]);
        kiln_rt_dist_abort(2);
    }
    int rc = rank == 0 ? task0_run(x, out, temp) : rank == 1 ? task1_run(x, temp) : -1;
    if (rc) {
        fprintf(stderr, "dist_host: rank %d: %s\n", rank, kiln_rt_dist_error());
        kiln_rt_dist_abort(1);
    }
    if (rank == 0) {
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(out, sizeof out, 1, f) != 1 || fclose(f)) kiln_rt_dist_abort(3);
    }
    free(x), free(temp);
    return kiln_rt_dist_finalize();
}
