/* shell.h: running the built `airgap` (or any command) from a test, for the
 * tests that drive the CLI end to end (tests/cli, tests/pull).
 *
 *     rc = sh("%s info -m %s 2>&1", AG_CLI, path);   exit code; stdout in out_buf
 *     count_lines(out_buf)                            "one clear line" checks
 *
 * sh_prefix, if set, is prepended to every command (e.g. "export X=1;"). */
#ifndef AG_TEST_SHELL_H
#define AG_TEST_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>

static char out_buf[1 << 16];
static char sh_prefix[1024];

/* Runs a shell command; returns its exit code (128 + signal if killed) and
 * leaves its stdout in out_buf (truncated to fit). */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof(cmd), "%s ", sh_prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out_buf, 1, sizeof(out_buf) - 1, p);
    out_buf[got] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

#endif
