/* threads.c: persistent worker pool (see threads.h).
 *
 * Decode dispatches a few hundred small loops per token, so the wake-up cost
 * matters more than anything else here. A job is published by bumping an
 * atomic generation counter; workers spin on it for a short while (a few tens
 * of microseconds, the gap between two ops) and only then sleep on a condvar,
 * so back-to-back ops never pay a futex round trip while an idle pool (a chat
 * waiting for the user) costs no CPU. The caller runs slice 0 itself and
 * spins until the workers' pending count drops to zero.
 *
 * Rejected: one mutex+condvar round trip per job (simple, but ~10-50 us per
 * op, i.e. several ms per token), and spinning forever (burns a core while
 * idle, and on an oversubscribed phone steals time from the caller). */
#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_ROUNDS 4000 /* polls before a worker goes to sleep (~tens of us) */

struct ag_pool {
    int n;                      /* threads including the caller */
    pthread_t *tids;
    atomic_uint gen;            /* bumped per job */
    atomic_int pending;         /* workers still running the current job */
    atomic_int sleepers;        /* workers blocked on the condvar */
    atomic_int quit;
    ag_pool_fn fn;              /* written before gen is bumped (release) */
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

typedef struct { ag_pool *p; int ith; } worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Waits until gen differs from seen (or quit); returns the new gen. */
static unsigned wait_job(ag_pool *p, unsigned seen)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->quit)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    ag_pool *p = wa.p;
    unsigned seen = 0; /* gen is 0 at creation; a job may be published before we start */
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->quit)) break;
        p->fn(p->arg, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
    return NULL;
}

int ag_physical_cores(void)
{
    /* Count distinct (physical id, core id) pairs in /proc/cpuinfo; fall back
     * to the online CPU count where that file is absent (Android, wasm). */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int n = 0;
    if (f) {
        char line[256];
        int phys = 0, seen[1024][2], n_seen = 0;
        while (fgets(line, sizeof(line), f)) {
            int v;
            if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1) {
                int dup = 0;
                for (int i = 0; i < n_seen; i++)
                    if (seen[i][0] == phys && seen[i][1] == v) dup = 1;
                if (!dup && n_seen < 1024) { seen[n_seen][0] = phys; seen[n_seen][1] = v; n_seen++; }
            }
        }
        fclose(f);
        n = n_seen;
    }
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n;
}

ag_pool *ag_pool_create(int n_threads)
{
    if (n_threads <= 0) n_threads = ag_physical_cores();
    if (n_threads > 256) n_threads = 256;
    ag_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->n = n_threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (n_threads > 1) {
        p->tids = calloc((size_t)n_threads, sizeof(pthread_t));
        if (!p->tids) { ag_pool_free(p); return NULL; }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof(*wa));
            if (!wa) { p->n = i; ag_pool_free(p); return NULL; }
            wa->p = p;
            wa->ith = i;
            if (pthread_create(&p->tids[i], NULL, worker_main, wa) != 0) {
                free(wa);
                p->n = i;
                ag_pool_free(p);
                return NULL;
            }
        }
    }
    return p;
}

void ag_pool_free(ag_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->tids; i++) pthread_join(p->tids[i], NULL);
    free(p->tids);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p);
}

int ag_pool_size(const ag_pool *p) { return p ? p->n : 1; }

void ag_pool_run(ag_pool *p, ag_pool_fn fn, void *arg)
{
    if (!p || p->n <= 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with a sleeper's check */
    if (atomic_load(&p->sleepers) > 0) {
        /* taking the mutex orders the bump before a sleeper's re-check */
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    /* spin, but yield now and then: a descheduled worker (oversubscribed
     * machine) must get the core back rather than watch us spin */
    for (unsigned i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if (i % 1024 == 0) sched_yield();
    }
}
