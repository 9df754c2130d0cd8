/* status.c: status codes to text and the thread-local error detail (see status.h). */
#include "core/status.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *ag_status_str(ag_status s)
{
    switch (s) {
    case AG_OK: return "ok";
    case AG_ERR_IO: return "i/o error";
    case AG_ERR_FORMAT: return "malformed input";
    case AG_ERR_UNSUPPORTED: return "unsupported";
    case AG_ERR_NOMEM: return "out of memory";
    case AG_ERR_INVALID_ARG: return "invalid argument";
    case AG_ERR_CONTEXT_FULL: return "context full";
    case AG_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case AG_ERR_ABORTED: return "aborted";
    }
    return "unknown status";
}

const char *ag_last_error(void) { return last_error; }

void ag_error_clear(void) { last_error[0] = 0; }

ag_status ag_fail(ag_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    /* keep it one line: control characters from hostile input become '?' */
    for (char *p = last_error; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return s;
}

void ag_error_prefix(const char *fmt, ...)
{
    char prefix[256], old[sizeof(last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof(old));
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof(last_error)) return;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    /* the old text may be cut at the end to fit */
    size_t room = sizeof(last_error) - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = 0;
}
