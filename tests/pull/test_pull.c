/* test_pull.c: `airgap pull` (tools/pull) against a local Hugging Face
 * emulator (tests/pull/hf_server.py, started as a child process): quant
 * choice, resume after a dropped connection, a server that ignores Range,
 * corruption caught by sha256, 404, 401 without / with HF_TOKEN, redirects,
 * a stalled server (an error, not a hang), Ctrl-C keeping the partial,
 * stale partials, list / rm / resolve, and --offline with the server gone.
 * Also the SHA-256 FIPS 180-4 example vectors.
 *
 * CMake links it with the pull module (libcurl, cJSON); AG_SOURCE_DIR (the
 * repository root) locates hf_server.py.
 * Manual build:
 *   cc -std=c11 -D_GNU_SOURCE -DAG_SOURCE_DIR='"/work/main"' \
 *      -Itests -Itools/pull tests/pull/test_pull.c tools/pull/[a-z]*.c -lcurl -lcjson \
 *      -fsanitize=address,undefined -g */
#include "harness.h"
#include "pull_internal.h"
#include "sha256.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AG_SOURCE_DIR
#define AG_SOURCE_DIR "."
#endif

static char g_tmp[256], g_srv[300], g_cache[300], g_log[300];
static pid_t g_server = -1;

/* ---- helpers ---------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Deterministic bytes starting with the GGUF magic. */
static void make_file(const char *repo, const char *file, size_t size)
{
    char dir[600], path[900];
    snprintf(dir, sizeof(dir), "%s/%s", g_srv, repo);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    ag_pull_mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    uint32_t x = 2166136261u;
    for (const char *p = file; *p; p++)
        x = (x ^ (uint8_t)*p) * 16777619u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fputc(i < 4 ? "GGUF"[i] : (int)(x & 0xff), f);
    }
    fclose(f);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        *n = (size_t)len;
    }
    return buf;
}

/* Whether the pulled file at got has the bytes of the server's repo/file. */
static bool same_as_server(const char *got, const char *repo, const char *file)
{
    char want[900];
    size_t n1 = 0, n2 = 0;
    snprintf(want, sizeof(want), "%s/%s/%s", g_srv, repo, file);
    char *a = read_all(got, &n1), *b = read_all(want, &n2);
    bool same = a && b && n1 == n2 && memcmp(a, b, n1) == 0;
    free(a);
    free(b);
    return same;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Lines of the server log that contain both needles. */
static int log_count(const char *a, const char *b)
{
    size_t n;
    char *log = read_all(g_log, &n);
    int count = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n"))
        count += strstr(line, a) && (!b || strstr(line, b));
    free(log);
    return count;
}

static void start_server(void)
{
    int fds[2];
    char script[512];
    snprintf(script, sizeof(script), "%s/tests/pull/hf_server.py", AG_SOURCE_DIR);
    if (!exists(script))
        snprintf(script, sizeof(script), "tests/pull/hf_server.py");
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    g_server = fork();
    if (g_server == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", script, "--dir", g_srv, "--port", "0", "--log", g_log,
               (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[64] = "";
    FILE *f = fdopen(fds[0], "r");
    if (!f || !fgets(line, sizeof(line), f) || atoi(line) <= 0) {
        fprintf(stderr, "cannot start %s\n", script);
        exit(1);
    }
    fclose(f);
    char ep[128];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", atoi(line));
    setenv("HF_ENDPOINT", ep, 1);
}

static void stop_server(void)
{
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
        g_server = -1;
    }
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void cleanup(void)
{
    stop_server();
    if (g_tmp[0])
        nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ag_pull_opts opts(void)
{
    ag_pull_opts o = ag_pull_opts_default();
    o.quiet = 1;
    o.retry_delay_ms = 20;
    return o;
}

/* ---- sha256 ------------------------------------------------------------------ */

static void test_sha256(void)
{
    static const struct {
        const char *msg;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ag_sha256 s;
        char hex[65];
        ag_sha256_init(&s);
        ag_sha256_update(&s, v[i].msg, strlen(v[i].msg));
        ag_sha256_final_hex(&s, hex);
        CHECK(strcmp(hex, v[i].hex) == 0, "sha256 vector %zu: %s", i, hex);
        /* the same message fed one byte at a time */
        ag_sha256_init(&s);
        for (size_t k = 0; v[i].msg[k]; k++)
            ag_sha256_update(&s, v[i].msg + k, 1);
        ag_sha256_final_hex(&s, hex);
        CHECK(strcmp(hex, v[i].hex) == 0, "sha256 vector %zu bytewise: %s", i, hex);
    }
    /* one million 'a' in uneven pieces */
    ag_sha256 s;
    char buf[1000], hex[65];
    memset(buf, 'a', sizeof(buf));
    ag_sha256_init(&s);
    size_t left = 1000000, step = 1;
    while (left) {
        size_t k = step < left ? step : left;
        k = k < sizeof(buf) ? k : sizeof(buf);
        ag_sha256_update(&s, buf, k);
        left -= k;
        step = step * 7 % 997 + 1;
    }
    ag_sha256_final_hex(&s, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256 of a million 'a': %s", hex);
}

/* ---- names -------------------------------------------------------------------- */

static void test_names(void)
{
    char q[64];
    ag_pull_quant_of("Qwen3.5-0.8B-Q4_K_M.gguf", q, sizeof(q));
    CHECK(!strcmp(q, "Q4_K_M"), "quant of Qwen3.5-0.8B-Q4_K_M.gguf: %s", q);
    ag_pull_quant_of("Qwen3.5-0.8B-UD-Q4_K_XL.gguf", q, sizeof(q));
    CHECK(!strcmp(q, "UD-Q4_K_XL"), "quant of UD: %s", q);
    ag_pull_quant_of("sub/X-Q2_K-00001-of-00002.gguf", q, sizeof(q));
    CHECK(!strcmp(q, "Q2_K"), "quant of split: %s", q);
    ag_pull_quant_of("mmproj-F16.gguf", q, sizeof(q));
    CHECK(!strcmp(q, "F16"), "quant of mmproj: %s", q);
    ag_pull_quant_of("all-MiniLM-L6-v2.Q8_0.gguf", q, sizeof(q));
    CHECK(!strcmp(q, "Q8_0"), "quant with dots: %s", q);
    ag_pull_quant_of("model.gguf", q, sizeof(q));
    CHECK(!strcmp(q, ""), "no quant: %s", q);
    CHECK(ag_pull_is_split("a/X-Q2_K-00001-of-00002.gguf"), "split");
    CHECK(!ag_pull_is_split("X-Q2_K.gguf"), "not split");

    pull_spec s;
    CHECK(ag_pull_parse_spec("unsloth/Qwen3.5-0.8B-GGUF:Q4_K_M", &s) == 0 &&
              s.kind == SPEC_QUANT && !strcmp(s.repo, "unsloth/Qwen3.5-0.8B-GGUF") &&
              !strcmp(s.quant, "Q4_K_M"),
          "parse REPO:QUANT");
    CHECK(ag_pull_parse_spec("unsloth/Qwen3.5-0.8B-GGUF/mmproj-F16.gguf", &s) == 0 &&
              s.kind == SPEC_FILE && !strcmp(s.file, "mmproj-F16.gguf"),
          "parse REPO/FILE");
    CHECK(ag_pull_parse_spec("qwen3.5-0.8b", &s) == 0 && !strcmp(s.alias, "qwen3.5-0.8b") &&
              !strcmp(s.repo, "unsloth/Qwen3.5-0.8B-GGUF") && !strcmp(s.quant, "Q4_K_M"),
          "parse short name");
    CHECK(ag_pull_parse_spec("QWEN3.5-2B-MMPROJ", &s) == 0 && s.kind == SPEC_FILE,
          "short names are case-insensitive");
    CHECK(ag_pull_parse_spec(ag_pull_default_model(), &s) == 0, "default model parses");
    static const char *bad[] = {"", "a/b:", "a/b:Q4 K", "a/../b", "a/b/../x.gguf", "a/b/c.txt",
                                "a--x/b", "/abs", "a/b/", ".a/b", "a/b/x\n.gguf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ag_pull_parse_spec(bad[i], &s);
        CHECK(rc == AG_PULL_ERR_USAGE, "bad spec %zu '%s' -> %d (%s)", i, bad[i], rc,
              ag_pull_error());
    }
    CHECK(ag_pull_parse_spec("nosuchmodel", &s) == AG_PULL_ERR_NOT_FOUND &&
              strstr(ag_pull_error(), "qwen3.5-0.8b"),
          "unknown short name lists the known ones: %s", ag_pull_error());
    char path[PULL_PATH_MAX];
    CHECK(ag_pull_run(NULL, "X.gguf", path, sizeof(path)) == AG_PULL_ERR_USAGE,
          "pull of a bare file name is refused");

    ag_pull_model m[32];
    size_t n = ag_pull_models(m, 32);
    CHECK(n == ag_pull_n_builtins, "models without a list file: %zu", n);
    for (size_t i = 0; i < n && i < 32; i++)
        CHECK(ag_pull_parse_spec(m[i].name, &s) == 0, "built-in %s parses: %s", m[i].name,
              ag_pull_error());

    CHECK(ag_pull_check_fits("huge.gguf", (uint64_t)1 << 60) == AG_PULL_ERR_SPACE &&
              strstr(ag_pull_error(), "huge.gguf") && strstr(ag_pull_error(), "memory"),
          "check_fits refuses: %s", ag_pull_error());
    CHECK(ag_pull_check_fits("tiny.gguf", 1000) == 0, "check_fits passes a tiny file");
}

/* ---- against the server ---------------------------------------------------------- */

static void test_choose(void)
{
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "";
    int rc;

    o.quiet = 0;
    o.progress = 1; /* exercise the plain-line progress once */
    rc = ag_pull_run(&o, "test/ok-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0, "pull ok:Q4_K_M: %s", ag_pull_error());
    CHECK(ends_with(p, "/test--ok-GGUF/X-Q4_K_M.gguf"), "path %s", p);
    CHECK(same_as_server(p, "test/ok-GGUF", "X-Q4_K_M.gguf"), "content of X-Q4_K_M.gguf");
    char part[PULL_PATH_MAX + 16];
    snprintf(part, sizeof(part), "%s.partial", p);
    CHECK(!exists(part), "no partial left");
    o = opts();

    rc = ag_pull_run(&o, "test/ok-GGUF:q8_0", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/X-Q8_0.gguf") && same_as_server(p, "test/ok-GGUF", "X-Q8_0.gguf"),
          "pull ok:q8_0 (case-insensitive): %d %s %s", rc, p, ag_pull_error());
    rc = ag_pull_run(&o, "test/ok-GGUF:F16", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/X-F16.gguf"), "F16 picks the model, not mmproj: %s %s", p,
          ag_pull_error());
    rc = ag_pull_run(&o, "test/ok-GGUF/mmproj-F16.gguf", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/mmproj-F16.gguf") &&
              same_as_server(p, "test/ok-GGUF", "mmproj-F16.gguf"),
          "pull REPO/FILE: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/ok-GGUF:IQ4_XS", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/X-IQ4_XS.gguf"), "shortest match wins over -imat: %s %s", p,
          ag_pull_error());

    int before = log_count("/api/models/test/ok-GGUF", NULL);
    rc = ag_pull_run(&o, "test/ok-GGUF", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/X-Q4_K_M.gguf"), "REPO alone = Q4_K_M: %s", p);
    CHECK(log_count("/api/models/test/ok-GGUF", NULL) == before, "a cached pull is offline");

    rc = ag_pull_run(&o, "test/ok-GGUF:Q2_K", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_USAGE && strstr(ag_pull_error(), "split"), "split only: %d %s", rc,
          ag_pull_error());
    rc = ag_pull_run(&o, "test/ok-GGUF:Q5_K_M", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_FOUND && strstr(ag_pull_error(), "Q5_K_M") &&
              strstr(ag_pull_error(), "test/ok-GGUF:Q8_0"),
          "missing quant lists choices: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/ok-GGUF/nothere.gguf", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_FOUND && strstr(ag_pull_error(), "nothere.gguf"),
          "missing file: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/multi-GGUF", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_USAGE && strstr(ag_pull_error(), "choose one") &&
              strstr(ag_pull_error(), "test/multi-GGUF:Q8_0") &&
              strstr(ag_pull_error(), "test/multi-GGUF:F16"),
          "no default quant: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/paged-GGUF:Q8_0", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/paged-GGUF", "X-Q8_0.gguf"),
          "listing pages followed: %s", ag_pull_error());
    CHECK(log_count("paged-GGUF/tree/main", "cursor=3") == 1, "second listing page asked");
    rc = ag_pull_run(&o, "test/garbage-GGUF", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_PROTOCOL && strstr(ag_pull_error(), "not a JSON array"),
          "listing that is not JSON: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/hostile-GGUF", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/hostile-GGUF", "X-Q4_K_M.gguf"),
          "malformed listing entries are skipped: %s", ag_pull_error());
    rc = ag_pull_run(&o, "test/hostile-GGUF:Q8_0", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_FOUND, "a ../ entry is never used: %d %s", rc, ag_pull_error());
    rc = ag_pull_run(&o, "test/flaky-GGUF", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/flaky-GGUF", "X-Q8_0.gguf"),
          "single model repo + a 503 retried: %s", ag_pull_error());
}

static void test_resume(void)
{
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "";
    int rc = ag_pull_run(&o, "test/drop-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/drop-GGUF", "X-Q4_K_M.gguf"),
          "resume after a dropped connection: %s", ag_pull_error());
    CHECK(log_count("drop-GGUF/resolve", "range=bytes=") == 1, "one Range request after the drop");

    rc = ag_pull_run(&o, "test/drop-norange-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/drop-norange-GGUF", "X-Q4_K_M.gguf"),
          "server ignoring Range: restart from 0: %s", ag_pull_error());

    rc = ag_pull_run(&o, "test/redirect-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/redirect-GGUF", "X-Q4_K_M.gguf"),
          "redirect to a CDN path: %s", ag_pull_error());
    CHECK(log_count("GET /cdn/test/redirect-GGUF/X-Q4_K_M.gguf", NULL) == 1, "CDN was asked");

    /* A partial left by an earlier run (with matching meta) is resumed. */
    char dir[PULL_PATH_MAX], part[PULL_PATH_MAX + 32], meta[PULL_PATH_MAX + 64], src[900];
    ag_pull_repo_dir(NULL, "test/ok-GGUF", dir, sizeof(dir));
    snprintf(part, sizeof(part), "%s/X-Q3_K_M.gguf.partial", dir);
    snprintf(meta, sizeof(meta), "%s.meta", part);
    snprintf(src, sizeof(src), "%s/test/ok-GGUF/X-Q3_K_M.gguf", g_srv);
    size_t n;
    char *data = read_all(src, &n);
    ag_sha256 s;
    char hex[65];
    ag_sha256_init(&s);
    ag_sha256_update(&s, data, n);
    ag_sha256_final_hex(&s, hex);
    FILE *f = fopen(part, "wb");
    fwrite(data, 1, 100000, f);
    fclose(f);
    f = fopen(meta, "w");
    fprintf(f, "sha256 %s\nsize %zu\n", hex, n);
    fclose(f);
    rc = ag_pull_run(&o, "test/ok-GGUF:Q3_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/ok-GGUF", "X-Q3_K_M.gguf"), "resume a partial: %s",
          ag_pull_error());
    CHECK(log_count("X-Q3_K_M.gguf", "range=bytes=100000-") == 1, "asked from byte 100000");
    CHECK(!exists(part) && !exists(meta), "partial and meta gone after success");

    /* A partial whose meta names another sha256 (the remote file changed) restarts. */
    snprintf(part, sizeof(part), "%s/X-Q4_K_S.gguf.partial", dir);
    snprintf(meta, sizeof(meta), "%s.meta", part);
    f = fopen(part, "wb");
    fwrite("garbage garbage", 1, 15, f);
    fclose(f);
    f = fopen(meta, "w");
    fprintf(f, "sha256 %064d\nsize 123\n", 0);
    fclose(f);
    rc = ag_pull_run(&o, "test/ok-GGUF:Q4_K_S", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/ok-GGUF", "X-Q4_K_S.gguf"),
          "stale partial restarted: %s", ag_pull_error());
    CHECK(log_count("X-Q4_K_S.gguf", "range=bytes=") == 0, "no Range for a stale partial");

    /* A complete partial (interrupted between download and rename) needs no request. */
    snprintf(src, sizeof(src), "%s/test/ok-GGUF/X-Q6_K.gguf", g_srv);
    free(data);
    data = read_all(src, &n);
    ag_sha256_init(&s);
    ag_sha256_update(&s, data, n);
    ag_sha256_final_hex(&s, hex);
    snprintf(part, sizeof(part), "%s/X-Q6_K.gguf.partial", dir);
    snprintf(meta, sizeof(meta), "%s.meta", part);
    f = fopen(part, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    f = fopen(meta, "w");
    fprintf(f, "sha256 %s\nsize %zu\n", hex, n);
    fclose(f);
    rc = ag_pull_run(&o, "test/ok-GGUF:Q6_K", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/ok-GGUF", "X-Q6_K.gguf"), "complete partial: %s",
          ag_pull_error());
    CHECK(log_count("resolve/main/X-Q6_K.gguf", NULL) == 0, "no download for a complete partial");
    free(data);
}

static void test_errors(void)
{
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "", dir[PULL_PATH_MAX], f[PULL_PATH_MAX + 64];
    int rc = ag_pull_run(&o, "test/corrupt-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_INTEGRITY && strstr(ag_pull_error(), "sha256 mismatch") &&
              strstr(ag_pull_error(), "X-Q4_K_M.gguf"),
          "corruption caught: %d %s", rc, ag_pull_error());
    ag_pull_repo_dir(NULL, "test/corrupt-GGUF", dir, sizeof(dir));
    snprintf(f, sizeof(f), "%s/X-Q4_K_M.gguf", dir);
    CHECK(!exists(f), "no file under the final name after corruption");
    snprintf(f, sizeof(f), "%s/X-Q4_K_M.gguf.partial", dir);
    CHECK(!exists(f), "corrupt partial deleted");

    rc = ag_pull_run(&o, "test/nothere-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_FOUND && strstr(ag_pull_error(), "test/nothere-GGUF") &&
              strstr(ag_pull_error(), "not found") && strstr(ag_pull_error(), "404"),
          "404 names the repo: %s", ag_pull_error());

    unsetenv("HF_TOKEN");
    rc = ag_pull_run(&o, "test/private-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_AUTH && strstr(ag_pull_error(), "HF_TOKEN") &&
              strstr(ag_pull_error(), "401") && strstr(ag_pull_error(), "test/private-GGUF"),
          "401 asks for a token: %s", ag_pull_error());
    setenv("HF_TOKEN", "hf_wrong", 1);
    rc = ag_pull_run(&o, "test/private-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_AUTH && strstr(ag_pull_error(), "not accepted"),
          "wrong token: %s", ag_pull_error());
    setenv("HF_TOKEN", "hf_testtoken", 1);
    rc = ag_pull_run(&o, "test/private-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/private-GGUF", "X-Q4_K_M.gguf"),
          "private repo with HF_TOKEN: %s", ag_pull_error());
    unsetenv("HF_TOKEN");

    /* Stalled server: an error after the low-speed time, not a hang; then resume. */
    o.low_speed_time = 1;
    o.retries = -1;
    double t0 = now();
    rc = ag_pull_run(&o, "test/stall-GGUF:Q4_K_M", p, sizeof(p));
    double dt = now() - t0;
    CHECK(rc == AG_PULL_ERR_NETWORK && strstr(ag_pull_error(), "resume"),
          "stall is an error: %d %s", rc, ag_pull_error());
    CHECK(dt < 10, "stall detected in %.1f s", dt);
    ag_pull_repo_dir(NULL, "test/stall-GGUF", dir, sizeof(dir));
    snprintf(f, sizeof(f), "%s/X-Q4_K_M.gguf.partial", dir);
    CHECK(file_size(f) == 512, "stalled partial kept: %lld bytes", file_size(f));
    o = opts();
    rc = ag_pull_run(&o, "test/stall-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/stall-GGUF", "X-Q4_K_M.gguf"),
          "resume after a stall: %s", ag_pull_error());
    CHECK(log_count("stall-GGUF/resolve", "range=bytes=512-") == 1, "stall resumed at 512");

    /* Stall with automatic retries: the retry resumes and finishes. */
    o.low_speed_time = 1;
    rc = ag_pull_run(&o, "test/stall-GGUF:Q8_0", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/stall-GGUF", "X-Q8_0.gguf"),
          "automatic retry after a stall: %s", ag_pull_error());
    CHECK(log_count("stall-GGUF/resolve/main/X-Q8_0.gguf", "range=bytes=512-") == 1,
          "retry resumed at 512");
}

/* Ctrl-C in the middle of a slow download keeps the partial. */
static void test_interrupt(void)
{
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "", dir[PULL_PATH_MAX], f[PULL_PATH_MAX + 64];
    ag_pull_repo_dir(NULL, "test/slow-GGUF", dir, sizeof(dir));
    snprintf(f, sizeof(f), "%s/X-Q4_K_M.gguf.partial", dir);
    pid_t parent = getpid(), child = fork();
    if (child == 0) {
        /* wait until bytes arrive, so the pull's handler is installed */
        for (int i = 0; i < 500 && file_size(f) < 8192; i++)
            usleep(20000);
        if (file_size(f) >= 8192)
            kill(parent, SIGINT);
        _exit(0);
    }
    double t0 = now();
    int rc = ag_pull_run(&o, "test/slow-GGUF:Q4_K_M", p, sizeof(p));
    waitpid(child, NULL, 0);
    CHECK(rc == AG_PULL_ERR_INTERRUPTED && strstr(ag_pull_error(), "run the same command again"),
          "interrupted: %d %s", rc, ag_pull_error());
    CHECK(now() - t0 < 15, "interrupt is prompt");
    CHECK(file_size(f) >= 8192, "partial kept after Ctrl-C: %lld", file_size(f));
    char meta[PULL_PATH_MAX + 80];
    snprintf(meta, sizeof(meta), "%s.meta", f);
    CHECK(exists(meta), "meta kept after Ctrl-C");
    snprintf(f, sizeof(f), "%s/X-Q4_K_M.gguf", dir);
    CHECK(!exists(f), "no final file after Ctrl-C");
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL, "SIGINT handler restored");
}

static const ag_pull_entry *find_entry(const ag_pull_entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].name, name))
            return &e[i];
    return NULL;
}

static void test_cache(void)
{
    char list[600], p[PULL_PATH_MAX] = "", q[PULL_PATH_MAX] = "";
    snprintf(list, sizeof(list), "%s/models.tsv", g_tmp);
    FILE *f = fopen(list, "w");
    fprintf(f, "# test names\n"
               "tiny\ttest/ok-GGUF:Q8_0\tthe test model\n"
               "tinyproj\ttest/ok-GGUF/mmproj-F16.gguf\tits projector\n"
               "\n"
               "minilm\ttest/ok-GGUF:F16\toverrides the built-in\n");
    fclose(f);
    setenv("AIRGAP_MODELS_LIST", list, 1);
    ag_pull_model m[64];
    size_t n = ag_pull_models(m, 64);
    CHECK(n == ag_pull_n_builtins + 2, "list file adds 2 names: %zu", n);
    pull_spec s;
    CHECK(ag_pull_parse_spec("minilm", &s) == 0 && !strcmp(s.repo, "test/ok-GGUF"),
          "list file overrides a built-in");

    ag_pull_entry *e;
    int rc = ag_pull_list(NULL, &e, &n);
    CHECK(rc == 0, "list: %s", ag_pull_error());
    const ag_pull_entry *a = find_entry(e, n, "tiny");
    CHECK(a && !strcmp(a->quant, "Q8_0") && a->size > 0 && ends_with(a->path, "/X-Q8_0.gguf") &&
              !strcmp(a->repo, "test/ok-GGUF") && !a->partial,
          "list shows tiny");
    a = find_entry(e, n, "test/ok-GGUF:Q4_K_M");
    CHECK(a && !strcmp(a->file, "X-Q4_K_M.gguf") && a->size == 600000, "list shows REPO:QUANT");
    CHECK(find_entry(e, n, "tinyproj"), "list shows the projector by its short name");
    a = find_entry(e, n, "test/slow-GGUF/X-Q4_K_M.gguf");
    CHECK(a && a->partial && a->total == 2000000 && a->size > 0, "list shows the partial");
    CHECK(!find_entry(e, n, "test/corrupt-GGUF:Q4_K_M"), "nothing listed for the corrupt repo");
    ag_pull_list_free(e);

    /* resolve */
    CHECK(ag_pull_resolve(NULL, "tiny", p, sizeof(p)) == 0 && ends_with(p, "/X-Q8_0.gguf"),
          "resolve short name: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "test/ok-GGUF:Q4_K_M", p, sizeof(p)) == 0 &&
              ends_with(p, "/test--ok-GGUF/X-Q4_K_M.gguf"),
          "resolve REPO:QUANT: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "test/ok-GGUF/mmproj-F16.gguf", p, sizeof(p)) == 0,
          "resolve REPO/FILE: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "X-Q8_0.gguf", q, sizeof(q)) == AG_PULL_ERR_USAGE,
          "bare name in two repos is ambiguous: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "X-IQ4_XS.gguf", q, sizeof(q)) == 0 &&
              ends_with(q, "/test--ok-GGUF/X-IQ4_XS.gguf"),
          "resolve bare cached file name: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, p, q, sizeof(q)) == 0 && !strcmp(p, q), "a path stays a path");
    CHECK(ag_pull_resolve(NULL, "./missing.gguf", q, sizeof(q)) == AG_PULL_ERR_NOT_FOUND &&
              strstr(ag_pull_error(), "no such file"),
          "missing path: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "dir/missing.gguf", q, sizeof(q)) == AG_PULL_ERR_NOT_FOUND,
          "missing relative path");
    rc = ag_pull_resolve(NULL, "qwen3.5-2b", q, sizeof(q));
    CHECK(rc == AG_PULL_ERR_NOT_CACHED &&
              !strcmp(ag_pull_error(), "model 'qwen3.5-2b' is not cached; run: airgap pull "
                                       "qwen3.5-2b"),
          "uncached short name: %s", ag_pull_error());

    /* rm */
    rc = ag_pull_rm(NULL, "tiny", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/X-Q8_0.gguf") && !exists(p), "rm tiny: %s", ag_pull_error());
    CHECK(ag_pull_resolve(NULL, "tiny", q, sizeof(q)) == AG_PULL_ERR_NOT_CACHED,
          "gone after rm");
    CHECK(ag_pull_rm(NULL, "tiny", p, sizeof(p)) == AG_PULL_ERR_NOT_CACHED &&
              strstr(ag_pull_error(), "not cached"),
          "rm twice: %s", ag_pull_error());
    CHECK(ag_pull_rm(NULL, "/etc/passwd", p, sizeof(p)) == AG_PULL_ERR_USAGE,
          "rm refuses paths: %s", ag_pull_error());
    CHECK(ag_pull_rm(NULL, "test/slow-GGUF/X-Q4_K_M.gguf", p, sizeof(p)) == 0,
          "rm of a partial download: %s", ag_pull_error());
    char dir[PULL_PATH_MAX];
    ag_pull_repo_dir(NULL, "test/slow-GGUF", dir, sizeof(dir));
    CHECK(!exists(dir), "empty repo folder removed");
    CHECK(ag_pull_rm(NULL, "test/flaky-GGUF", p, sizeof(p)) == 0, "rm REPO");

    /* CLI entry points: usage errors and help */
    char *argv_pull[] = {"pull", NULL}, *argv_bad[] = {"pull", "--nope", "x", NULL};
    char *argv_rm[] = {"rm", NULL}, *argv_list[] = {"list", NULL}, *argv_l2[] = {"list", "x", NULL};
    CHECK(ag_pull_cli_pull(1, argv_pull) == 2, "pull without a model is a usage error");
    CHECK(ag_pull_cli_pull(3, argv_bad) == 2, "unknown flag is a usage error");
    CHECK(ag_pull_cli_rm(1, argv_rm) == 2, "rm without a name is a usage error");
    CHECK(ag_pull_cli_list(2, argv_l2) == 2, "list takes no argument");
    CHECK(ag_pull_cli_list(1, argv_list) == 0, "list runs");
    char *argv_rm2[] = {"rm", "tinyproj", NULL};
    CHECK(ag_pull_cli_rm(2, argv_rm2) == 0, "cli rm");
    char *argv_rm3[] = {"rm", "tinyproj", NULL};
    CHECK(ag_pull_cli_rm(2, argv_rm3) == 1, "cli rm of an uncached name fails");
    unsetenv("AIRGAP_MODELS_LIST");
}

/* What `airgap chat` with no -m does: the default model, from the endpoint. */
static void test_default(void)
{
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "";
    o.offline = 1;
    int rc = ag_pull_ensure(&o, ag_pull_default_model(), p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_CACHED &&
              !strcmp(ag_pull_error(), "model 'qwen3.5-0.8b' is not cached and --offline forbids "
                                       "downloading; run: airgap pull qwen3.5-0.8b"),
          "offline, default model not cached: %s", ag_pull_error());
    CHECK(log_count("Qwen3.5-0.8B", NULL) == 0, "offline asked nothing");
    o.offline = 0;
    rc = ag_pull_ensure(&o, ag_pull_default_model(), p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/unsloth--Qwen3.5-0.8B-GGUF/Qwen3.5-0.8B-Q4_K_M.gguf") &&
              same_as_server(p, "unsloth/Qwen3.5-0.8B-GGUF", "Qwen3.5-0.8B-Q4_K_M.gguf"),
          "default model pulled from the endpoint: %s %s", p, ag_pull_error());
    CHECK(log_count("GET /api/models/unsloth/Qwen3.5-0.8B-GGUF/tree/main", NULL) == 1,
          "the endpoint was asked for the default model");
    rc = ag_pull_ensure(&o, "qwen3.5-0.8b-mmproj", p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/unsloth--Qwen3.5-0.8B-GGUF/mmproj-F16.gguf"),
          "built-in projector name: %s", ag_pull_error());
    o.offline = 1;
    rc = ag_pull_ensure(&o, ag_pull_default_model(), p, sizeof(p));
    CHECK(rc == 0 && ends_with(p, "/Qwen3.5-0.8B-Q4_K_M.gguf"), "default model offline: %s",
          ag_pull_error());
}

/* With the server gone: cached models still resolve; nothing else works. */
static void test_offline(void)
{
    stop_server();
    ag_pull_opts o = opts();
    char p[PULL_PATH_MAX] = "";
    o.offline = 1;
    int rc = ag_pull_run(&o, "qwen3.5-2b", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_CACHED &&
              !strcmp(ag_pull_error(), "model 'qwen3.5-2b' is not cached and --offline forbids "
                                       "downloading; run: airgap pull qwen3.5-2b"),
          "offline pull: %s", ag_pull_error());
    rc = ag_pull_ensure(&o, ag_pull_default_model(), p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "unsloth/Qwen3.5-0.8B-GGUF", "Qwen3.5-0.8B-Q4_K_M.gguf"),
          "default model offline with the server gone: %s", ag_pull_error());
    rc = ag_pull_ensure(&o, "test/ok-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0 && same_as_server(p, "test/ok-GGUF", "X-Q4_K_M.gguf"),
          "offline ensure of a cached model: %s", ag_pull_error());
    o.offline = 0;
    setenv("AIRGAP_OFFLINE", "1", 1);
    rc = ag_pull_ensure(&o, "test/ok-GGUF:Q8_0", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NOT_CACHED && strstr(ag_pull_error(), "--offline forbids"),
          "AIRGAP_OFFLINE=1: %s", ag_pull_error());
    unsetenv("AIRGAP_OFFLINE");
    rc = ag_pull_run(&o, "test/ok-GGUF:Q4_K_M", p, sizeof(p));
    CHECK(rc == 0, "cached pull with the server gone: %s", ag_pull_error());
    double t0 = now();
    rc = ag_pull_ensure(&o, "test/ok-GGUF:Q8_0", p, sizeof(p));
    CHECK(rc == AG_PULL_ERR_NETWORK && strstr(ag_pull_error(), "cannot list test/ok-GGUF") &&
              strstr(ag_pull_error(), "http://127.0.0.1:"),
          "unreachable endpoint: %s", ag_pull_error());
    CHECK(now() - t0 < 5, "unreachable endpoint fails fast");
}

int main(void)
{
    test_sha256();

    snprintf(g_tmp, sizeof(g_tmp), "/tmp/ag_pull_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    snprintf(g_srv, sizeof(g_srv), "%s/srv", g_tmp);
    snprintf(g_cache, sizeof(g_cache), "%s/cache", g_tmp);
    snprintf(g_log, sizeof(g_log), "%s/server.log", g_tmp);
    setenv("AIRGAP_MODELS", g_cache, 1);
    unsetenv("HF_TOKEN");
    unsetenv("AIRGAP_OFFLINE");
    unsetenv("AIRGAP_MODELS_LIST");
    unsetenv("AIRGAP_PULL_LOW_SPEED_TIME");
    test_names();

    make_file("test/ok-GGUF", "X-Q4_K_M.gguf", 600000);
    make_file("test/ok-GGUF", "X-Q8_0.gguf", 300000);
    make_file("test/ok-GGUF", "X-Q4_K_S.gguf", 200000);
    make_file("test/ok-GGUF", "X-Q3_K_M.gguf", 250000);
    make_file("test/ok-GGUF", "X-Q6_K.gguf", 120000);
    make_file("test/ok-GGUF", "X-F16.gguf", 100000);
    make_file("test/ok-GGUF", "X-IQ4_XS.gguf", 50000);
    make_file("test/ok-GGUF", "X-IQ4_XS-imat.gguf", 50000);
    make_file("test/ok-GGUF", "mmproj-F16.gguf", 40000);
    make_file("test/ok-GGUF", "README.md", 100);
    make_file("test/ok-GGUF", "Q2_K/X-Q2_K-00001-of-00002.gguf", 1000);
    make_file("test/ok-GGUF", "Q2_K/X-Q2_K-00002-of-00002.gguf", 1000);
    make_file("test/multi-GGUF", "X-Q8_0.gguf", 1000);
    make_file("test/multi-GGUF", "X-F16.gguf", 1000);
    make_file("test/flaky-GGUF", "X-Q8_0.gguf", 5000);
    make_file("unsloth/Qwen3.5-0.8B-GGUF", "Qwen3.5-0.8B-Q4_K_M.gguf", 400000);
    make_file("unsloth/Qwen3.5-0.8B-GGUF", "Qwen3.5-0.8B-Q8_0.gguf", 700000);
    make_file("unsloth/Qwen3.5-0.8B-GGUF", "Qwen3.5-0.8B-UD-Q4_K_XL.gguf", 450000);
    make_file("unsloth/Qwen3.5-0.8B-GGUF", "mmproj-F16.gguf", 30000);
    make_file("unsloth/Qwen3.5-0.8B-GGUF", "README.md", 300);
    make_file("test/garbage-GGUF", "X-Q4_K_M.gguf", 100);
    make_file("test/hostile-GGUF", "X-Q4_K_M.gguf", 1000);
    make_file("test/paged-GGUF", "A-Q2_K.gguf", 100);
    make_file("test/paged-GGUF", "B-Q3_K.gguf", 100);
    make_file("test/paged-GGUF", "C-Q4_0.gguf", 100);
    make_file("test/paged-GGUF", "D-Q5_0.gguf", 100);
    make_file("test/paged-GGUF", "README.md", 100);
    make_file("test/paged-GGUF", "X-Q8_0.gguf", 3000);
    make_file("test/drop-GGUF", "X-Q4_K_M.gguf", 3000000);
    make_file("test/drop-norange-GGUF", "X-Q4_K_M.gguf", 1000000);
    make_file("test/corrupt-GGUF", "X-Q4_K_M.gguf", 500000);
    make_file("test/redirect-GGUF", "X-Q4_K_M.gguf", 500000);
    make_file("test/private-GGUF", "X-Q4_K_M.gguf", 100000);
    make_file("test/stall-GGUF", "X-Q4_K_M.gguf", 300000);
    make_file("test/stall-GGUF", "X-Q8_0.gguf", 300000);
    make_file("test/slow-GGUF", "X-Q4_K_M.gguf", 2000000);
    start_server();

    test_choose();
    test_resume();
    test_errors();
    test_interrupt();
    test_cache();
    test_default();
    test_offline();
    return REPORT();
}


