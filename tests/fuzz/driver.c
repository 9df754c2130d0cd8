/* driver.c: a standalone main for the fuzz targets tests/fuzz/fuzz_*.c, used
 * when they are not built with libFuzzer, so that ctest always runs them.
 *
 * Contract for a target file (all but the first symbol optional):
 *
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 *       Required, returns 0. Must survive any input: no crash, hang, leak or
 *       sanitizer report. data is a heap block of exactly size bytes.
 *   int LLVMFuzzerInitialize(int *argc, char ***argv);
 *       Called once first, as libFuzzer does.
 *   const char *ag_fuzz_seed_files[] = { AG_SHARED_DIR "/...", ..., NULL };
 *       Seed inputs read from disk (missing files are skipped with a note).
 *   void ag_fuzz_seeds(void (*add)(void *ctx, const uint8_t *data, size_t size), void *ctx);
 *       Seeds built in memory (e.g. small hand-made files covering every case).
 *   const size_t ag_fuzz_focus_bytes = 65536;
 *       Mutate mostly (7 in 8 edits) within the first N bytes: for formats
 *       whose interesting part is a header. Default: the whole input.
 *   const size_t ag_fuzz_max_seed_bytes = N;
 *       Read at most N bytes of each seed file (default 16 MiB).
 *
 * Usage:
 *   fuzz_x FILE|DIR ...       run the target once on each file (reproduce a
 *                             crash; directories are read one level deep)
 *   fuzz_x                    run every seed, then random mutations of the
 *                             seeds until AG_FUZZ_ITERS inputs (default 3000)
 *                             or AG_FUZZ_SECONDS (default 10) have passed;
 *                             AG_FUZZ_SEED sets the (deterministic) RNG seed
 *   fuzz_x --write-seeds DIR  write the seeds as files DIR/seed-N, e.g. as a
 *                             starting corpus for the libFuzzer build
 * On a crash (sanitizer report, fatal signal, or one input running longer
 * than AG_FUZZ_TIMEOUT seconds, default 20) the input is saved as
 * ./fuzz-crash-<pid>.bin first, to be replayed with `fuzz_x that-file`.
 *
 * Mutations (1 to 4 per input): bit flips; bytes set to 0, 0xff, random or
 * +-1; 4- and 8-byte little-endian fields overwritten with boundary values
 * (0, 1, 2^31, 2^32-1, 2^32, 2^63, 2^64-1, the input size, ...) or nudged by
 * a small delta; truncation; insertion and deletion of short runs; copying
 * a chunk within the input. Rejected: a coverage-guided engine of our own
 * (libFuzzer does that job when available; this driver's job is a cheap,
 * deterministic smoke run inside ctest). Optional symbols are weak, which
 * GCC and Clang support on ELF and Mach-O. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WEAK __attribute__((weak))
WEAK int LLVMFuzzerInitialize(int *argc, char ***argv);
WEAK extern const char *ag_fuzz_seed_files[];
WEAK void ag_fuzz_seeds(void (*add)(void *ctx, const uint8_t *data, size_t size), void *ctx);
WEAK extern const size_t ag_fuzz_focus_bytes;
WEAK extern const size_t ag_fuzz_max_seed_bytes;
WEAK void __sanitizer_set_death_callback(void (*callback)(void));

/* ---- saving the input that crashed ---- */

static const uint8_t *cur_data;
static size_t cur_size;
static char crash_path[64];

static void save_input(void)
{
    if (!cur_data) return;
    FILE *f = fopen(crash_path, "wb");
    if (f) {
        fwrite(cur_data, 1, cur_size, f);
        fclose(f);
        fprintf(stderr, "fuzz driver: input of %zu bytes saved as %s\n", cur_size, crash_path);
    }
    cur_data = NULL;
}

static void on_signal(int sig)
{
    if (sig == SIGALRM) fprintf(stderr, "fuzz driver: one input ran too long\n");
    save_input();
    signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
    raise(sig == SIGALRM ? SIGABRT : sig);
}

static unsigned input_timeout;

static void run_one(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        fprintf(stderr, "fuzz driver: out of memory\n");
        exit(2);
    }
    if (size) memcpy(copy, data, size);
    cur_data = copy;
    cur_size = size;
    alarm(input_timeout);
    LLVMFuzzerTestOneInput(copy, size);
    alarm(0);
    cur_data = NULL;
    free(copy);
}

/* ---- seeds ---- */

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static seed *seeds;
static size_t n_seeds, cap_seeds;

static void add_seed(void *ctx, const uint8_t *data, size_t size)
{
    (void)ctx;
    if (n_seeds == cap_seeds) {
        cap_seeds = cap_seeds ? 2 * cap_seeds : 16;
        seeds = realloc(seeds, cap_seeds * sizeof(*seeds));
        if (!seeds) exit(2);
    }
    uint8_t *p = malloc(size ? size : 1);
    if (!p) exit(2);
    if (size) memcpy(p, data, size);
    seeds[n_seeds++] = (seed){p, size};
}

/* Reads up to max bytes of a file; NULL if it cannot be read. */
static uint8_t *read_file(const char *path, size_t max, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *p = malloc(cap);
    while (p && len < max) {
        if (len == cap) {
            cap *= 2;
            uint8_t *q = realloc(p, cap);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
        }
        size_t want = cap - len < max - len ? cap - len : max - len;
        size_t got = fread(p + len, 1, want, f);
        len += got;
        if (got < want) break;
    }
    fclose(f);
    *n = len;
    return p;
}

/* ---- mutations ---- */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static const uint64_t boundary[] = {
    0, 1, 2, 3, 4, 7, 8, 13, 31, 32, 33, 64, 255, 256, 4096, 65535, 65536,
    0x7fffffffull, 0x80000000ull, 0xffffffffull, 0x100000000ull, 1ull << 40,
    1ull << 62, 0x7fffffffffffffffull, 0x8000000000000000ull,
    0xfffffffffffffff8ull, 0xffffffffffffffffull,
};

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static size_t pick_pos(size_t n, size_t focus)
{
    if (focus && focus < n && below(8) != 0) return below(focus);
    return below(n);
}

static void mutate(buf *b, size_t focus)
{
    size_t pos = pick_pos(b->n, focus);
    switch (below(10)) {
    case 0: /* bit flip */
        if (b->n) b->p[pos] ^= (uint8_t)(1u << below(8));
        break;
    case 1: { /* byte set */
        static const uint8_t vals[] = {0, 0xff, 0x7f, 0x80, 1};
        if (!b->n) break;
        size_t k = below(8);
        b->p[pos] = k < 5 ? vals[k] : k == 5 ? (uint8_t)(b->p[pos] + 1) : k == 6 ? (uint8_t)(b->p[pos] - 1) : (uint8_t)rnd();
        break;
    }
    case 2:
    case 3: { /* boundary value in a 4- or 8-byte field */
        int w = below(2) ? 8 : 4;
        if (b->n < (size_t)w) break;
        if (pos > b->n - w) pos = b->n - w;
        size_t k = below(sizeof(boundary) / sizeof(boundary[0]) + 3);
        uint64_t v = k < sizeof(boundary) / sizeof(boundary[0]) ? boundary[k]
                     : k == sizeof(boundary) / sizeof(boundary[0]) ? b->n
                     : k == sizeof(boundary) / sizeof(boundary[0]) + 1 ? b->n - pos
                                                                         : b->n - pos + 1 + below(16);
        put_le(b->p + pos, v, w);
        break;
    }
    case 4: { /* nudge a field */
        int w = below(2) ? 8 : 4;
        if (b->n < (size_t)w) break;
        if (pos > b->n - w) pos = b->n - w;
        int64_t d = (int64_t)below(33) - 16;
        put_le(b->p + pos, get_le(b->p + pos, w) + (uint64_t)d, w);
        break;
    }
    case 5: /* truncate */
        if (below(3) == 0) b->n = pos;
        break;
    case 6: { /* insert random bytes */
        size_t k = 1 + below(16);
        if (b->n + k > b->cap) break;
        memmove(b->p + pos + k, b->p + pos, b->n - pos);
        for (size_t i = 0; i < k; i++) b->p[pos + i] = below(2) ? 0 : (uint8_t)rnd();
        b->n += k;
        break;
    }
    case 7: { /* delete bytes */
        size_t k = 1 + below(16);
        if (pos + k > b->n) break;
        memmove(b->p + pos, b->p + pos + k, b->n - pos - k);
        b->n -= k;
        break;
    }
    case 8: { /* copy a chunk within the input */
        size_t k = 1 + below(64);
        if (b->n < k) break;
        size_t from = below(b->n - k + 1);
        if (pos > b->n - k) pos = b->n - k;
        memmove(b->p + pos, b->p + from, k);
        break;
    }
    default: /* random byte */
        if (b->n) b->p[pos] = (uint8_t)rnd();
        break;
    }
}

/* ---- main ---- */

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long env_long(const char *name, long def)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 0) : def;
}

static int run_path(const char *path, size_t max)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;
        if (!d) return 0;
        while ((e = readdir(d))) {
            char sub[4096];
            if (e->d_name[0] == '.') continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            if (stat(sub, &sb) == 0 && S_ISREG(sb.st_mode)) n += run_path(sub, max);
        }
        closedir(d);
        return n;
    }
    size_t n;
    uint8_t *p = read_file(path, max, &n);
    if (!p) {
        fprintf(stderr, "fuzz driver: cannot read %s\n", path);
        exit(2);
    }
    run_one(p, n);
    free(p);
    return 1;
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    size_t max_seed = &ag_fuzz_max_seed_bytes ? ag_fuzz_max_seed_bytes : (size_t)16 << 20;
    size_t focus = &ag_fuzz_focus_bytes ? ag_fuzz_focus_bytes : 0;
    snprintf(crash_path, sizeof(crash_path), "fuzz-crash-%ld.bin", (long)getpid());
    input_timeout = (unsigned)env_long("AG_FUZZ_TIMEOUT", 20);
    /* Under a sanitizer its own handlers report the fault and then call
     * the death callback; without one, plain signal handlers save the input. */
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(save_input);
    } else {
        signal(SIGSEGV, on_signal);
        signal(SIGBUS, on_signal);
        signal(SIGFPE, on_signal);
    }
    signal(SIGILL, on_signal);
    signal(SIGABRT, on_signal); /* AG_ASSERT; sanitizers leave SIGABRT alone */
    signal(SIGALRM, on_signal);
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

    const char *write_dir = NULL;
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        write_dir = argv[2];
    } else if (argc > 1) {
        int n = 0;
        for (int i = 1; i < argc; i++) n += run_path(argv[i], SIZE_MAX);
        printf("%s: ran %d inputs\n", name, n);
        return 0;
    }

    if (&ag_fuzz_seed_files) {
        for (const char *const *f = ag_fuzz_seed_files; *f; f++) {
            size_t n;
            uint8_t *p = read_file(*f, max_seed, &n);
            if (!p) {
                fprintf(stderr, "%s: note: seed %s not readable, skipped\n", name, *f);
                continue;
            }
            add_seed(NULL, p, n);
            free(p);
        }
    }
    if (ag_fuzz_seeds) ag_fuzz_seeds(add_seed, NULL);
    if (n_seeds == 0) add_seed(NULL, (const uint8_t *)"", 0);

    if (write_dir) {
        for (size_t i = 0; i < n_seeds; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/seed-%zu", write_dir, i);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(seeds[i].p, 1, seeds[i].n, f) != seeds[i].n || fclose(f) != 0) {
                fprintf(stderr, "%s: cannot write %s\n", name, path);
                return 2;
            }
        }
        printf("%s: wrote %zu seeds to %s\n", name, n_seeds, write_dir);
        return 0;
    }

    double t0 = now();
    for (size_t i = 0; i < n_seeds; i++) run_one(seeds[i].p, seeds[i].n);

    long iters = env_long("AG_FUZZ_ITERS", 3000);
    double seconds = (double)env_long("AG_FUZZ_SECONDS", 10);
    rng_state = (uint64_t)env_long("AG_FUZZ_SEED", 0x5eed);
    size_t max_n = 0;
    for (size_t i = 0; i < n_seeds; i++)
        if (seeds[i].n > max_n) max_n = seeds[i].n;
    buf b = {malloc(max_n + 4 * 16 + 1), 0, max_n + 4 * 16};
    if (!b.p) return 2;
    long done = 0;
    for (; done < iters; done++) {
        if ((done & 15) == 0 && now() - t0 > seconds) break;
        const seed *s = &seeds[below(n_seeds)];
        memcpy(b.p, s->p, s->n);
        b.n = s->n;
        for (size_t k = 1 + below(4); k > 0; k--) mutate(&b, focus);
        run_one(b.p, b.n);
    }
    free(b.p);
    printf("%s: %zu seeds and %ld mutated inputs in %.1f s, no crash\n", name, n_seeds, done, now() - t0);
    for (size_t i = 0; i < n_seeds; i++) free(seeds[i].p);
    free(seeds);
    return 0;
}
