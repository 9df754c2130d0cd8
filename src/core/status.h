/* status.h: internal error reporting.
 *
 * Library code never prints and never exits on bad input: it returns an
 * ag_status and leaves a one-line detail in a thread-local buffer that
 * ag_last_error() returns. ag_fail() does both in one expression:
 *
 *     return ag_fail(AG_ERR_FORMAT, "%s: key '%s': expected u32", path, key);
 *
 * AG_ASSERT is for programmer bugs only (never for file or user input). */
#ifndef AG_CORE_STATUS_H
#define AG_CORE_STATUS_H

#include "airgap.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define AG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AG_PRINTF(a, b)
#endif

/* Sets this thread's detail text and returns s. */
ag_status ag_fail(ag_status s, const char *fmt, ...) AG_PRINTF(2, 3);
/* Prepends "prefix: " to the current detail (adds context on the way up). */
void ag_error_prefix(const char *fmt, ...) AG_PRINTF(1, 2);
void ag_error_clear(void);

#define AG_ASSERT(x)                                                                   \
    do {                                                                               \
        if (!(x)) {                                                                    \
            fprintf(stderr, "airgap: assertion failed: %s (%s:%d)\n", #x, __FILE__, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif
