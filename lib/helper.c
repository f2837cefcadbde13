/* helper.c - one helper thread for a fit's element-wise work.
 *
 * With OpenBLAS on two or more threads its products run on every core,
 * but what libann does between them (gathering a shuffled batch's rows,
 * the optimizer's pass over the parameters) ran on the calling thread
 * alone while the other core idled.  A fit that has cores to spare
 * (ann__blas_threads() > 1: the caller's own thread budget) starts one
 * helper thread for its duration; ann__helper_run splits a range of
 * independent items between the caller and the helper.
 *
 * Work is claimed in chunks from a shared counter, so a helper that wakes
 * late (or never, if the scheduler keeps it off the CPU) costs nothing but
 * the wake-up call: the caller takes the chunks it has not claimed.  The
 * items must be independent and their results must not depend on which
 * thread computes them (each chunk computes exactly what the whole range
 * would for its items), so the results are the same bits whatever the
 * split.  The helper runs in the caller's floating-point environment
 * (rounding mode, traps), copied per task.
 *
 * No busy waiting while the helper has no task: it sleeps on a condition
 * variable, as OpenBLAS's own threads are working then.  The caller spins
 * briefly for the one chunk the helper may still be finishing, then
 * sleeps until it is done. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getcpu, pthread_setaffinity_np */
#endif
#include "ann_internal.h"

#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#if defined(__linux__) && defined(CPU_COUNT)
#define ANN__HELPER_AFFINITY 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* For tests (tests/test_helper.c): no helper starts while ann__helper_off
 * is set; with ann__helper_sync set, the caller waits until the helper
 * has taken each task before it claims a chunk itself (so that the helper
 * certainly takes part); ann__helper_taken counts the tasks taken. */
int ann__helper_off;
int ann__helper_sync;
atomic_ulong ann__helper_taken;

struct ann__helper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a task is posted, or quit */
    pthread_cond_t done; /* the helper left its task (see `waiting`) */
    /* the task, written by the caller under mu before `posted` */
    ann__range_fn fn;
    void *ctx;
    size_t n, chunk;
    fenv_t env;
    int posted;         /* a task waits for the helper (under mu) */
    int quit;           /* under mu */
    int waiting;        /* the caller sleeps on `done` (under mu) */
    atomic_size_t next; /* the next unclaimed item */
    atomic_int busy;    /* the helper is inside a task */
    atomic_int result;  /* the helper's OR of fn's results */
#ifdef ANN__HELPER_AFFINITY
    cpu_set_t allowed;  /* the starting thread's CPUs */
    int kept_off;       /* the CPU the helper is kept off, or -1 */
#endif
};

/* Claim chunks until none is left; OR of fn's results. */
static int claim(ann__helper *h, ann__range_fn fn, void *ctx, size_t n, size_t chunk)
{
    int r = 0;
    for (;;) {
        size_t lo = atomic_fetch_add_explicit(&h->next, chunk, memory_order_relaxed);
        if (lo >= n)
            return r;
        size_t hi = n - lo < chunk ? n : lo + chunk;
        r |= fn(ctx, lo, hi);
    }
}

static void *helper_main(void *arg)
{
    ann__helper *h = arg;
#ifdef ANN__HELPER_AFFINITY
    pthread_setname_np(pthread_self(), "ann-helper"); /* for top -H, gdb */
#endif
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->posted && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->quit)
            break;
        h->posted = 0;
        atomic_store_explicit(&h->busy, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ann__helper_taken, 1, memory_order_relaxed);
        ann__range_fn fn = h->fn;
        void *ctx = h->ctx;
        size_t n = h->n, chunk = h->chunk;
        fenv_t env = h->env;
        pthread_mutex_unlock(&h->mu);
        fesetenv(&env);
        int r = claim(h, fn, ctx, n, chunk);
        atomic_store_explicit(&h->result, r, memory_order_relaxed);
        /* publishes the chunks' writes to the caller */
        atomic_store_explicit(&h->busy, 0, memory_order_release);
        pthread_mutex_lock(&h->mu);
        if (h->waiting)
            pthread_cond_signal(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

ann__helper *ann__helper_start(void)
{
    if (ann__helper_off)
        return NULL;
    ann__helper *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
#ifdef ANN__HELPER_AFFINITY
    /* A caller kept on one CPU has none to spare. */
    if (sched_getaffinity(0, sizeof h->allowed, &h->allowed) ||
        CPU_COUNT(&h->allowed) < 2)
        goto no_mu;
    h->kept_off = -1;
#endif
    if (pthread_mutex_init(&h->mu, NULL))
        goto no_mu;
    if (pthread_cond_init(&h->cv, NULL))
        goto no_cv;
    if (pthread_cond_init(&h->done, NULL))
        goto no_done;
    atomic_init(&h->next, 0);
    atomic_init(&h->busy, 0);
    atomic_init(&h->result, 0);
    /* Created with every signal blocked (the mask is inherited), so that
     * signals for the process go to the application's own threads, which
     * may wait for them or expect their calls to be interrupted. */
    sigset_t all, old;
    sigfillset(&all);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    int failed = pthread_create(&h->thread, NULL, helper_main, h);
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!failed)
        return h;
    pthread_cond_destroy(&h->done);
no_done:
    pthread_cond_destroy(&h->cv);
no_cv:
    pthread_mutex_destroy(&h->mu);
no_mu:
    free(h);
    return NULL;
}

void ann__helper_stop(ann__helper *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->quit = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->done);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

#ifdef ANN__HELPER_AFFINITY
/* Woken by the caller, the helper was placed on the caller's own CPU in
 * most steps (the scheduler's wake-affine choice: the other CPU looked
 * busy with OpenBLAS's idle thread, which spins in sched_yield between
 * products), and the two then took turns on one core.  So the helper is
 * allowed every CPU of the caller's set but the one the caller is on;
 * its mask is set again only when the caller has moved (sched_getcpu is
 * a vDSO read). */
static void keep_off_caller(ann__helper *h)
{
    int c = sched_getcpu();
    if (c < 0 || c == h->kept_off || c >= CPU_SETSIZE)
        return;
    cpu_set_t set = h->allowed;
    CPU_CLR(c, &set);
    if (CPU_COUNT(&set) > 0 && !pthread_setaffinity_np(h->thread, sizeof set, &set))
        h->kept_off = c;
}
#endif

int ann__helper_run(ann__helper *h, ann__range_fn fn, void *ctx, size_t n, size_t chunk)
{
    if (!h || n <= chunk)
        return n ? fn(ctx, 0, n) : 0;
#ifdef ANN__HELPER_AFFINITY
    keep_off_caller(h);
#endif
    atomic_store_explicit(&h->next, 0, memory_order_relaxed);
    atomic_store_explicit(&h->result, 0, memory_order_relaxed);
    pthread_mutex_lock(&h->mu);
    h->fn = fn;
    h->ctx = ctx;
    h->n = n;
    h->chunk = chunk;
    fegetenv(&h->env);
    h->posted = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (ann__helper_sync) {
        pthread_mutex_lock(&h->mu);
        while (h->posted) {
            pthread_mutex_unlock(&h->mu);
            sched_yield();
            pthread_mutex_lock(&h->mu);
        }
        pthread_mutex_unlock(&h->mu);
    }
    int r = claim(h, fn, ctx, n, chunk);
    pthread_mutex_lock(&h->mu);
    int taken = !h->posted;
    h->posted = 0; /* not taken yet: withdrawn (every chunk is done) */
    pthread_mutex_unlock(&h->mu);
    if (taken) {
        /* It took the task under mu: wait for the chunk it may be on, a
         * few microseconds, spinning; then asleep (it may have been
         * preempted, or share this CPU if the caller has just moved). */
        for (unsigned spins = 0; atomic_load_explicit(&h->busy, memory_order_acquire);
             spins++) {
            if (spins < 1024) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&h->mu);
            h->waiting = 1;
            while (atomic_load_explicit(&h->busy, memory_order_acquire))
                pthread_cond_wait(&h->done, &h->mu);
            h->waiting = 0;
            pthread_mutex_unlock(&h->mu);
        }
        r |= atomic_load_explicit(&h->result, memory_order_relaxed);
    }
    return r;
}
