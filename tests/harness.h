/* harness.h: the whole test framework (after antirez's testhelp.h).
 *
 *     CHECK(cond, "what %d", x);     counts a failure and prints it with file:line
 *     CHECK_NEAR(a, b, tol, "what");  |a-b| <= tol
 *     return REPORT();                prints a summary, exit code 0 iff no failure
 *
 * AG_SHARED_DIR (set by CMake) is the absolute path of ../shared. */
#ifndef AG_TEST_HARNESS_H
#define AG_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

static int test_failures, test_checks;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        test_checks++;                                                      \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol, ...)                                          \
    do {                                                                    \
        double check_a_ = (double)(a), check_b_ = (double)(b);              \
        CHECK(fabs(check_a_ - check_b_) <= (tol), __VA_ARGS__);             \
        if (fabs(check_a_ - check_b_) > (tol))                              \
            fprintf(stderr, "     got %.9g, want %.9g (tol %g)\n", check_a_, check_b_, (double)(tol)); \
    } while (0)

#define REPORT()                                                            \
    (printf("%s: %d checks, %d failures\n", __FILE__, test_checks, test_failures), \
     test_failures ? 1 : 0)

#ifndef AG_SHARED_DIR
#define AG_SHARED_DIR "../shared"
#endif

#endif
