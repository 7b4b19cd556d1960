/* tests/firmware/fw_driver.c — runs a firmware object (`kiln compile
 * --target thumbv7em-none-eabihf ...`) under qemu-system-arm with
 * semihosting: reads the command line (RTOL ATOL FEED.npy... REF.npy...)
 * and the .npy files from the host, calls the entry point once, compares
 * every fetch with TensorFlow's and prints the max abs error, the stack the
 * entry point used (painted stack, startup.c) and exits 0, or 1 past the
 * tolerance.  No libc: semihosting calls, a bump allocator, its own
 * number printing.  Built per model: -include model.h.
 * With -DFW_TIMER_BASE=ADDR (a CMSDK APB timer: 0x40000000 on mps2-an386)
 * it also prints the timer's ticks over the entry point; under
 * `qemu-system-arm -icount shift=0` QEMU's virtual clock advances 1 ns per
 * executed instruction, so at the MPS2's 25 MHz timer clock a tick is 40
 * instructions (docs/embedded.md, "Instructions per inference"). */
#include <stddef.h>
#include <stdint.h>

static const long long feed_bytes[] = MODEL_FEED_BYTES_LIST, fetch_bytes[] = MODEL_FETCH_BYTES_LIST;
extern char __heap_start, __heap_end;
uint32_t fw_stack_used(void);

static int semihost(int op, void *arg)
{
#if defined(__riscv)
    /* RISC-V semihosting: the ebreak between these two no-op shifts,
     * uncompressed, is the trap the debugger (QEMU) recognizes */
    register int a0 __asm("a0") = op;
    register void *a1 __asm("a1") = arg;
    __asm volatile(".option push\n .option norvc\n slli x0, x0, 0x1f\n ebreak\n srai x0, x0, 7\n .option pop"
                   : "+r"(a0) : "r"(a1) : "memory");
    return a0;
#else
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#endif
}

void fw_exit(int code) /* ADP_Stopped_ApplicationExit: QEMU exits 0; RunTimeErrorUnknown: 1 */
{
    semihost(0x18, (void *)(uintptr_t)(code == 0 ? 0x20026 : 0x20023));
    for (;;) {}
}

static void put(const char *s) { semihost(0x04, (void *)s); }

/* The object may reference these (docs/targets.md); so may this driver. */
void *memcpy(void *d, const void *s, size_t n)
{
    for (size_t i = 0; i < n; i++) ((char *)d)[i] = ((const char *)s)[i];
    return d;
}
void *memset(void *d, int c, size_t n)
{
    for (size_t i = 0; i < n; i++) ((char *)d)[i] = (char)c;
    return d;
}
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }

static char *heap = &__heap_start;
static void *alloc(size_t n, size_t align)
{
    heap = (char *)(((uintptr_t)heap + align - 1) & ~(uintptr_t)(align - 1));
    if (heap + n > &__heap_end) put("fw_driver: out of heap\n"), fw_exit(2);
    void *p = heap;
    heap += n;
    return p;
}

static void put_num(double v) /* %.3g-like, enough for error reports */
{
    char b[32], *p = b;
    if (v != v) { put("nan"); return; }
    if (v < 0) *p++ = '-', v = -v;
    int e = 0;
    if (v != 0) {
        while (v >= 10) v /= 10, e++;
        while (v < 1) v *= 10, e--;
    }
    int m = (int)(v * 100 + 0.5);
    if (m >= 1000) m /= 10, e++;
    *p++ = (char)('0' + m / 100), *p++ = '.', *p++ = (char)('0' + m / 10 % 10), *p++ = (char)('0' + m % 10);
    *p++ = 'e', *p++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    *p++ = (char)('0' + e / 10), *p++ = (char)('0' + e % 10), *p = 0;
    put(b);
}

static void put_int(long long v)
{
    char b[24], *p = b + 23;
    *p = 0;
    do *--p = (char)('0' + v % 10), v /= 10; while (v);
    put(p);
}

/* Payload of a little-endian .npy v1 of `want` bytes; descr gets its dtype ("<f4"). */
static void *read_npy(const char *path, long long want, char *descr)
{
    size_t len = 0;
    while (path[len]) len++;
    int32_t open_args[3] = {(int32_t)(uintptr_t)path, 1 /* "rb" */, (int32_t)len};
    int h = semihost(0x01, open_args);
    if (h < 0) return put("fw_driver: cannot open "), put(path), put("\n"), NULL;
    int32_t flen_args[1] = {h};
    int size = semihost(0x0C, flen_args);
    char *buf = alloc((size_t)size + 1, 64);
    int32_t read_args[3] = {h, (int32_t)(uintptr_t)buf, size};
    int left = semihost(0x06, read_args);
    semihost(0x02, flen_args);
    size_t hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
    if (left != 0 || size < 10 || (long long)(size - 10 - (int)hlen) != want) return put("fw_driver: bad .npy "), put(path), put("\n"), NULL;
    for (size_t i = 10; i + 10 < 10 + hlen; i++)
        if (buf[i] == 'd' && buf[i + 1] == 'e' && buf[i + 2] == 's' && buf[i + 3] == 'c' && buf[i + 4] == 'r')
            descr[0] = buf[i + 9], descr[1] = buf[i + 10], descr[2] = buf[i + 11], descr[3] = 0;
    /* align the payload for the entry point */
    void *data = alloc((size_t)want + 1, 64);
    memcpy(data, buf + 10 + hlen, (size_t)want);
    return data;
}

static double half(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = m;
    if (e == 31) return m ? 0.0 / 0.0 : (h & 0x8000 ? -1.0 : 1.0) / 0.0;
    if (e == 0) e = 1;
    else v += 1024;
    for (; e > 25; e--) v *= 2;
    for (; e < 25; e++) v /= 2;
    return (h & 0x8000) ? -v : v;
}

static double element(const char *d, const void *p, long long i)
{
    if (d[1] == 'f' && d[2] == '2') return half(((const uint16_t *)p)[i]);
    if (d[1] == 'f' && d[2] == '4') return ((const float *)p)[i];
    if (d[1] == 'i' && d[2] == '4') return ((const int32_t *)p)[i];
    if (d[1] == 'i' && d[2] == '8') return (double)((const int64_t *)p)[i];
    if (d[1] == 'i' && d[2] == '2') return ((const int16_t *)p)[i];
    if (d[1] == 'i' && d[2] == '1') return ((const int8_t *)p)[i];
    if (d[1] == 'f' && d[2] == '8') return ((const double *)p)[i];
    return ((const uint8_t *)p)[i];
}

static double parse_num(const char *s)
{
    double v = 0, scale = 1;
    int sign = 1, e = 0, esign = 1;
    if (*s == '-') sign = -1, s++;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    if (*s == '.') for (s++; *s >= '0' && *s <= '9'; s++) scale /= 10, v += (*s - '0') * scale;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-') esign = -1, s++; else if (*s == '+') s++;
        while (*s >= '0' && *s <= '9') e = e * 10 + (*s++ - '0');
    }
    while (e-- > 0) v = esign > 0 ? v * 10 : v / 10;
    return sign * v;
}

int main(void)
{
    static char cmd[4096];
    int32_t cl[2] = {(int32_t)(uintptr_t)cmd, sizeof cmd};
    if (semihost(0x15, cl) != 0) return put("fw_driver: no command line\n"), 2;
    char *argv[3 + MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    int argc = 0;
    for (char *p = cmd; *p && argc < (int)(sizeof argv / sizeof *argv);) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        argv[argc++] = p;
        while (*p && *p != ' ') p++;
    }
    char **av = argv + (argc == 3 + MODEL_NUM_FEEDS + MODEL_NUM_FETCHES); /* QEMU puts the image's name first */
    if (av == argv && argc != 2 + MODEL_NUM_FEEDS + MODEL_NUM_FETCHES) return put("usage: RTOL ATOL FEED.npy... REF.npy...\n"), 2;
    double rtol = parse_num(av[0]), atol = parse_num(av[1]);
    void *args[MODEL_NUM_FEEDS + MODEL_NUM_FETCHES + 1];
    char descr[8] = "";
    for (int i = 0; i < MODEL_NUM_FEEDS; i++)
        if (!(args[i] = read_npy(av[2 + i], feed_bytes[i], descr))) return 2;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) args[MODEL_NUM_FEEDS + i] = alloc((size_t)fetch_bytes[i] + 1, 64);
    void *temp = alloc(MODEL_TEMP_SIZE + 1, MODEL_TEMP_ALIGN);
    uint32_t before = fw_stack_used();
#ifdef FW_TIMER_BASE
    volatile uint32_t *timer = (volatile uint32_t *)(uintptr_t)FW_TIMER_BASE; /* CTRL, VALUE, RELOAD: counts down */
    timer[2] = 0xFFFFFFFFu, timer[1] = 0xFFFFFFFFu, timer[0] = 1;
    uint32_t t0 = timer[1];
#endif
    if (model_run_args(args, temp) != 0) return put("fw_driver: run failed\n"), 1;
#ifdef FW_TIMER_BASE
    uint32_t ticks = t0 - timer[1];
    put("timer ticks over the entry point: "), put_int(ticks), put("\n");
#endif
    uint32_t stack = fw_stack_used() - before;
    int bad = 0;
    for (int i = 0; i < MODEL_NUM_FETCHES; i++) {
        const void *ref = read_npy(av[2 + MODEL_NUM_FEEDS + i], fetch_bytes[i], descr);
        if (!ref) return 2;
        long long n = fetch_bytes[i] / (descr[2] - '0');
        double worst = 0;
        for (long long k = 0; k < n; k++) {
            double w = element(descr, ref, k), g = element(descr, args[MODEL_NUM_FEEDS + i], k);
            double e = g > w ? g - w : w - g;
            if (e > worst) worst = e;
            if (!(e <= atol + rtol * (w < 0 ? -w : w)) && !(w != w && g != g)) bad++;
        }
        put("fetch "), put_int(i), put(": max abs error "), put_num(worst), put(" over "), put_int(n), put(" values\n");
    }
    put("stack used by the entry point: "), put_int(stack), put(" bytes (header: at most "), put_int(MODEL_STACK_SIZE),
        put(")\n");
    if (stack > MODEL_STACK_SIZE) put("fw_driver: the entry point used more stack than the header says\n"), bad++;
    return bad ? 1 : 0;
}
