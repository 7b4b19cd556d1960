/* tests/support/gpu_fatbin.c — lists the fat binary inside a host object of
 * `kiln compile --target cuda` (tests/sh/gpu.sh; no cuobjdump needed).
 * Finds the fat binary header (magic 0xBA55ED50, version 1: u32 magic, u16
 * version, u16 header size, u64 size of the entries), then walks the
 * entries (u16 kind 1 PTX / 2 ELF, u16, u32 header size, u64 payload size,
 * ..., u32 architecture at byte 28) and prints one line per image:
 *   elf sm_80 BYTES        (the payload must be an ELF of machine EM_CUDA, 190)
 *   ptx sm_80 BYTES [zstd] (PTX text with ".version" and ".target", or zstd-compressed)
 * Exit 1 if there is no fat binary or an image is not what its kind says.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

int main(int argc, char **argv)
{
    if (argc != 2) return fprintf(stderr, "usage: gpu_fatbin OBJECT\n"), 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return perror(argv[1]), 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) return fprintf(stderr, "cannot read %s\n", argv[1]), 2;
    fclose(f);
    long at = -1;
    for (long i = 0; i + 16 <= n && at < 0; i++)
        if (u32(b + i) == 0xBA55ED50u && b[i + 4] == 1 && b[i + 6] == 16) at = i;
    if (at < 0) return fprintf(stderr, "%s: no fat binary\n", argv[1]), 1;
    uint64_t size = u64(b + at + 8);
    if ((uint64_t)(n - at - 16) < size) return fprintf(stderr, "%s: fat binary truncated\n", argv[1]), 1;
    const unsigned char *p = b + at + 16, *end = p + size;
    int bad = 0, images = 0;
    while (p + 32 <= end) {
        unsigned kind = p[0] | p[1] << 8;
        uint32_t hsize = u32(p + 4), arch = u32(p + 28);
        uint64_t psize = u64(p + 8);
        if (hsize < 32 || p + hsize + psize > end) return fprintf(stderr, "%s: bad fat binary entry\n", argv[1]), 1;
        const unsigned char *payload = p + hsize;
        if (kind == 2) {
            int ok = psize > 20 && !memcmp(payload, "\177ELF", 4) && (payload[18] | payload[19] << 8) == 190;
            printf("elf sm_%u %llu%s\n", arch, (unsigned long long)psize, ok ? "" : " NOT-A-CUDA-ELF");
            bad |= !ok;
        } else if (kind == 1) {
            /* CUDA 13's fatbinary stores PTX zstd-compressed by default (magic 28 b5 2f fd) */
            int zstd = psize > 4 && !memcmp(payload, "\x28\xb5\x2f\xfd", 4);
            const char *t = zstd ? NULL : strstr((const char *)payload, ".version");
            int ok = zstd || (t && (const unsigned char *)t < payload + psize && strstr(t, ".target sm_"));
            printf("ptx sm_%u %llu%s%s\n", arch, (unsigned long long)psize, zstd ? " zstd" : "", ok ? "" : " NOT-PTX");
            bad |= !ok;
        } else {
            printf("kind%u sm_%u %llu\n", kind, arch, (unsigned long long)psize);
        }
        images++;
        p += hsize + psize;
    }
    free(b);
    return bad || !images;
}
