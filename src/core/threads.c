/* threads.c: persistent worker pool (see threads.h).
 *
 * One generation counter guarded by a mutex: ag_pool_run bumps it and
 * broadcasts; each worker runs its slice and the last one to finish signals
 * the caller. Simple and correct first; a spinning pool with lower wake-up
 * latency can replace the internals without changing the interface. */
#include "core/threads.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ag_pool {
    int n;                      /* threads including the caller */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long gen;          /* bumped per job */
    int pending;                /* workers still running the current job */
    int quit;
    ag_pool_fn fn;
    void *arg;
};

typedef struct { ag_pool *p; int ith; } worker_arg;

static void *worker_main(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    ag_pool *p = wa.p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        ag_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, wa.ith, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
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
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->tids; i++) pthread_join(p->tids[i], NULL);
    free(p->tids);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int ag_pool_size(const ag_pool *p) { return p ? p->n : 1; }

void ag_pool_run(ag_pool *p, ag_pool_fn fn, void *arg)
{
    if (!p || p->n <= 1) { fn(arg, 0, 1); return; }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
