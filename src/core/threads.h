/* threads.h: a small persistent worker pool for data-parallel loops.
 *
 * Decode runs hundreds of small matmuls per token, so workers are created
 * once per context and woken per loop (mutex + condvar), not spawned per op.
 * ag_pool_run(pool, fn, arg) calls fn(arg, ith, nth) for ith = 0..nth-1 on
 * nth threads (the caller is thread 0) and returns when all have finished.
 * A NULL pool or nth = 1 runs fn(arg, 0, 1) inline. */
#ifndef AG_CORE_THREADS_H
#define AG_CORE_THREADS_H

typedef struct ag_pool ag_pool;
typedef void (*ag_pool_fn)(void *arg, int ith, int nth);

/* n_threads <= 0 means the number of physical cores. Returns NULL on failure
 * (callers then run single-threaded). */
ag_pool *ag_pool_create(int n_threads);
void ag_pool_free(ag_pool *p);
int ag_pool_size(const ag_pool *p);
void ag_pool_run(ag_pool *p, ag_pool_fn fn, void *arg);
/* Physical cores (falls back to online CPUs). */
int ag_physical_cores(void);

#endif
