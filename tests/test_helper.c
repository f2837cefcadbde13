/* test_helper.c - the fit's helper thread (lib/helper.c), white-box.
 *
 * ann__helper_run: every item of [0, n) in exactly one chunk of at most
 * `chunk` items, the OR of the chunks' results, the caller's
 * floating-point environment on the helper, a helper that never wakes in
 * time (the caller does everything), no helper at all.  Then whole fits
 * with OpenBLAS on two threads, helper on and helper off: the same bytes
 * (parameters and optimizer state) for every optimizer, both precisions,
 * labels and targets, converted and native rows, and the same refusal,
 * model untouched, for a bad row late in the data. */
#define _GNU_SOURCE /* pthread_getname_np */
#include <cblas.h>
#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "../lib/ann_internal.h"
#include "common.h"

/* ---- ann__helper_run ------------------------------------------------------ */

typedef struct {
    pthread_t caller;
    int *seen;            /* per item: times visited */
    atomic_size_t chunk_max; /* the largest chunk seen */
    atomic_int helper_did; /* a chunk ran on the helper */
    int wait_for_helper;   /* the caller's first chunk waits for one */
    int helper_slow;       /* the helper's chunks take 2 ms each */
    size_t bad_item;       /* a chunk holding it returns 1 (SIZE_MAX: none) */
    double *out;           /* per item: num / den computed there */
    double num, den;
} job;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double quot(double num, double den);

static int job_fn(void *ctx, size_t lo, size_t hi)
{
    job *j = ctx;
    int on_helper = !pthread_equal(pthread_self(), j->caller);
    if (on_helper && j->helper_slow) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (on_helper)
        atomic_store(&j->helper_did, 1);
    else if (j->wait_for_helper) {
        /* hold this chunk until the helper has done one (at most 20 s) */
        double t0 = now_s();
        while (!atomic_load(&j->helper_did) && now_s() - t0 < 20)
            sched_yield();
        j->wait_for_helper = 0;
    }
    size_t len = hi - lo, cur = atomic_load(&j->chunk_max);
    while (len > cur && !atomic_compare_exchange_weak(&j->chunk_max, &cur, len)) {
    }
    int r = 0;
    for (size_t i = lo; i < hi; i++) {
        j->seen[i]++;
        if (j->out)
            j->out[i] = quot(j->num, j->den);
        if (i == j->bad_item)
            r = 1;
    }
    return r;
}

static void job_init(job *j, size_t n)
{
    memset(j, 0, sizeof *j);
    j->caller = pthread_self();
    j->seen = calloc(n ? n : 1, sizeof *j->seen);
    assert_non_null(j->seen);
    atomic_init(&j->chunk_max, 0);
    atomic_init(&j->helper_did, 0);
    j->bad_item = SIZE_MAX;
}

static void test_every_item_once(void **state)
{
    (void)state;
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    const size_t ns[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097};
    const size_t chunks[] = {1, 8, 64};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
            for (int rep = 0; rep < 20; rep++) {
                job j;
                job_init(&j, ns[a]);
                assert_int_equal(ann__helper_run(h, job_fn, &j, ns[a], chunks[c]), 0);
                for (size_t i = 0; i < ns[a]; i++)
                    if (j.seen[i] != 1)
                        fail_msg("n %zu chunk %zu: item %zu visited %d times", ns[a],
                                 chunks[c], i, j.seen[i]);
                assert_true(atomic_load(&j.chunk_max) <= chunks[c]);
                free(j.seen);
            }
    ann__helper_stop(h);
}

/* One job of n items in chunks of `chunk` whose caller's first chunk
 * waits for the helper (slow: the helper's chunks take 2 ms each): the
 * helper did a chunk and every item was visited once. */
static void run_shared(ann__helper *h, size_t n, size_t chunk, int slow)
{
    job j;
    job_init(&j, n);
    j.wait_for_helper = 1;
    j.helper_slow = slow;
    assert_int_equal(ann__helper_run(h, job_fn, &j, n, chunk), 0);
    assert_true(atomic_load(&j.helper_did));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(j.seen[i], 1);
    free(j.seen);
}

/* The caller's first chunk waits for the helper: both threads certainly
 * work on one range, many times over (the chunks they share, the wait for
 * the helper's last one). */
static void test_both_threads_work(void **state)
{
    (void)state;
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    unsigned long before = atomic_load(&ann__helper_taken);
    for (int rep = 0; rep < 50; rep++)
        run_shared(h, 500, 4, 0);
    assert_true(atomic_load(&ann__helper_taken) >= before + 50);
    ann__helper_stop(h);
}

/* A helper slow on its chunk: the caller, done with its own, waits for it
 * (past its spin, asleep) and returns only once the helper's items are
 * done. */
static void test_caller_waits(void **state)
{
    (void)state;
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    for (int rep = 0; rep < 10; rep++)
        run_shared(h, 64, 8, 1);
    ann__helper_stop(h);
}

/* The helper blocks every signal: signals for the process go to the
 * application's threads.  On Linux it is named "ann-helper". */
static int mask_fn(void *ctx, size_t lo, size_t hi)
{
    job *j = ctx;
    (void)lo;
    (void)hi;
    if (!pthread_equal(pthread_self(), j->caller)) {
        sigset_t cur;
        if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGINT) == 1 &&
            sigismember(&cur, SIGTERM) == 1 && sigismember(&cur, SIGALRM) == 1 &&
            sigismember(&cur, SIGUSR1) == 1)
            atomic_store(&j->helper_did, 1);
        else
            atomic_store(&j->helper_did, 2);
#ifdef __linux__
        char name[16] = "";
        if (pthread_getname_np(pthread_self(), name, sizeof name) != 0 ||
            strcmp(name, "ann-helper") != 0)
            atomic_store(&j->helper_did, 3);
#endif
    }
    return 0;
}

static void test_signals_blocked(void **state)
{
    (void)state;
    sigset_t none, before, after;
    sigemptyset(&none);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &none, &before), 0);
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    /* the caller's own mask is as it was */
    assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
    assert_int_equal(sigismember(&after, SIGINT), 0);
    job j;
    job_init(&j, 64);
    /* ann__helper_sync waits until the helper has taken the task, not
     * until it has claimed a chunk: on a loaded machine (the suites run
     * in parallel) the caller may claim every chunk first.  Try again
     * until the helper has run one, whose signal mask is what is checked */
    for (int tries = 0; tries < 100 && !atomic_load(&j.helper_did); tries++) {
        ann__helper_sync = 1;
        assert_int_equal(ann__helper_run(h, mask_fn, &j, 64, 1), 0);
        ann__helper_sync = 0;
    }
    assert_int_equal(atomic_load(&j.helper_did), 1);
    free(j.seen);
    ann__helper_stop(h);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &before, NULL), 0);
}

static void test_result_is_or(void **state)
{
    (void)state;
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    const size_t bads[] = {0, 1, 250, 498, 499};
    for (size_t b = 0; b < sizeof bads / sizeof *bads; b++)
        for (int wait = 0; wait < 2; wait++) {
            job j;
            job_init(&j, 500);
            j.bad_item = bads[b];
            j.wait_for_helper = wait;
            assert_int_not_equal(ann__helper_run(h, job_fn, &j, 500, 8), 0);
            free(j.seen);
        }
    ann__helper_stop(h);
}

/* The helper computes in the caller's floating-point environment: the
 * rounding mode (where the machine honours it: on the emulated CPU of some
 * CI machines division ignores it) and, on x86, MXCSR's flush-to-zero
 * and denormals-are-zero bits. */
static double quot(double num, double den)
{
    volatile double a = num, b = den;
    return a / b;
}

static void fenv_case(ann__helper *h, double num, double den, const char *what)
{
    double want = quot(num, den);
    job j;
    job_init(&j, 400);
    j.out = calloc(400, sizeof *j.out);
    assert_non_null(j.out);
    j.num = num;
    j.den = den;
    j.wait_for_helper = 1;
    assert_int_equal(ann__helper_run(h, job_fn, &j, 400, 4), 0);
    assert_true(atomic_load(&j.helper_did));
    for (size_t i = 0; i < 400; i++)
        if (memcmp(&j.out[i], &want, sizeof want) != 0)
            fail_msg("%s: item %zu is %a, the caller's %a", what, i, j.out[i], want);
    free(j.out);
    free(j.seen);
}

static void test_caller_fenv(void **state)
{
    (void)state;
    ann__helper *h = ann__helper_start();
    assert_non_null(h);
    int tested = 0;
    assert_int_equal(fesetround(FE_UPWARD), 0);
    double up = quot(1, 3);
    assert_int_equal(fesetround(FE_DOWNWARD), 0);
    double down = quot(1, 3);
    if (up != down) {
        fenv_case(h, 1, 3, "FE_DOWNWARD");
        assert_int_equal(fesetround(FE_UPWARD), 0);
        fenv_case(h, 1, 3, "FE_UPWARD");
        tested++;
    }
    assert_int_equal(fesetround(FE_TONEAREST), 0);
#if defined(__SSE2__)
    unsigned csr = _mm_getcsr();
    assert_true(quot(0x1p-1000, 0x1p60) != 0); /* a subnormal */
    _mm_setcsr(csr | 0x8040);                  /* FTZ | DAZ */
    double flushed = quot(0x1p-1000, 0x1p60);
    if (flushed == 0) {
        fenv_case(h, 0x1p-1000, 0x1p60, "FTZ/DAZ");
        tested++;
    }
    _mm_setcsr(csr);
#endif
    fenv_case(h, 0x1p-1000, 0x1p60, "default environment");
    ann__helper_stop(h);
    if (!tested)
        skip(); /* this machine honours neither setting */
}

/* No helper: one call over the whole range, on the caller. */
static void test_no_helper(void **state)
{
    (void)state;
    job j;
    job_init(&j, 100);
    assert_int_equal(ann__helper_run(NULL, job_fn, &j, 100, 8), 0);
    assert_int_equal((int)atomic_load(&j.chunk_max), 100);
    assert_false(atomic_load(&j.helper_did));
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(j.seen[i], 1);
    free(j.seen);
    ann__helper_off = 1;
    assert_null(ann__helper_start());
    ann__helper_off = 0;
    ann__helper_stop(NULL); /* a no-op */
}

/* ---- whole fits: helper on == helper off, to the byte ----------------- */

enum { ROWS = 600, IN = 300, HID = 64, OUT = 10 };

/* The fit tests' data (one-hot targets, labels, float32 copy of X), with
 * OpenBLAS on 2 threads until fit_data_free. */
typedef struct {
    double *X, *Yoh;
    float *Xf;
    int32_t *lab;
    int threads0;
} fit_data;

static void fit_data_init(fit_data *d)
{
    d->X = malloc(sizeof *d->X * ROWS * IN);
    d->Yoh = malloc(sizeof *d->Yoh * ROWS * OUT);
    d->Xf = malloc(sizeof *d->Xf * ROWS * IN);
    d->lab = malloc(sizeof *d->lab * ROWS);
    assert_true(d->X && d->Yoh && d->Xf && d->lab);
    uint64_t s = 42;
    for (size_t r = 0; r < ROWS; r++) {
        int32_t c = (int32_t)(t_next(&s) % OUT);
        d->lab[r] = c;
        for (size_t k = 0; k < OUT; k++)
            d->Yoh[r * OUT + k] = k == (size_t)c;
        for (size_t j = 0; j < IN; j++) {
            /* sparse, like pixels: many zero gradients */
            double v = t_unif(&s) < 0.7 ? 0.0 : t_unif(&s) + 0.1 * (double)(j % (size_t)(c + 2));
            d->X[r * IN + j] = v;
            d->Xf[r * IN + j] = (float)v;
        }
    }
    d->threads0 = openblas_get_num_threads();
    openblas_set_num_threads(2);
}

/* Also puts the helper switches back. */
static void fit_data_free(fit_data *d)
{
    ann__helper_off = 0;
    ann__helper_sync = 0;
    openblas_set_num_threads(d->threads0);
    free(d->X);
    free(d->Yoh);
    free(d->Xf);
    free(d->lab);
}

static ann *make_model(int prec, int opt, int nesterov)
{
    ann *m = NULL;
    size_t units[] = {HID, HID, OUT};
    ann_activation acts[] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ASSERT_OK(ann_create(&m, IN, 3, units, acts));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_NESTEROV, nesterov));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, opt == ANN_OPTIMIZER_ADAM ? 1e-3 : 0.05));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 64));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 7));
    ASSERT_OK(ann_reinit(m));
    return m;
}

typedef enum { FEED_LABELS, FEED_TARGETS, FEED_F32_VIEW } feed;

static ann_status fit(ann *m, feed f, const fit_data *d)
{
    if (f == FEED_LABELS)
        return ann_fit_labels(m, d->X, d->lab, ROWS);
    if (f == FEED_TARGETS)
        return ann_fit(m, d->X, d->Yoh, ROWS);
    ann_matrix xv = {ANN_DTYPE_F32, ROWS, IN, IN, 1, d->Xf};
    return ann_fit_labels_view(m, &xv, d->lab);
}

static void test_fits_same_bytes(void **state)
{
    (void)state;
    fit_data d;
    fit_data_init(&d);
    const int opts[][2] = {{ANN_OPTIMIZER_SGD, 0}, {ANN_OPTIMIZER_MOMENTUM, 0},
                           {ANN_OPTIMIZER_MOMENTUM, 1}, {ANN_OPTIMIZER_ADAM, 0}};
    const int precs[] = {ANN_PRECISION_F32, ANN_PRECISION_F64};
    /* under valgrind (ANN_TEST_REDUCED): SGD and Adam on labels only */
    int reduced = getenv("ANN_TEST_REDUCED") != NULL;
    for (size_t p = 0; p < 2; p++)
        for (size_t o = 0; o < 4; o += reduced ? 3 : 1)
            for (int f = FEED_LABELS; f <= (reduced ? FEED_LABELS : FEED_F32_VIEW); f++) {
                unsigned char *bufs[2];
                size_t sizes[2];
                for (int on = 0; on < 2; on++) {
                    ann__helper_off = !on;
                    ann__helper_sync = on;
                    ann *m = make_model(precs[p], opts[o][0], opts[o][1]);
                    unsigned long t0 = atomic_load(&ann__helper_taken);
                    ASSERT_OK(fit(m, (feed)f, &d));
                    /* helper off: never used; on: it took every task (the
                     * gathers of 64 rows x 300 inputs, 75 or 150 KiB;
                     * the optimizer passes over the 24,070 parameters) */
                    unsigned long took = atomic_load(&ann__helper_taken) - t0;
                    if (!on)
                        assert_int_equal(took, 0);
                    else if (took == 0)
                        fail_msg("prec %d opt %d feed %d: the helper took no task",
                                 precs[p], opts[o][0], f);
                    bufs[on] = t_save_mem(m, &sizes[on]);
                    ann_destroy(m);
                }
                ann__helper_off = 0;
                ann__helper_sync = 0;
                assert_int_equal(sizes[0], sizes[1]);
                if (memcmp(bufs[0], bufs[1], sizes[0]) != 0)
                    fail_msg("prec %d opt %d nesterov %d feed %d: helper changed the model",
                             precs[p], opts[o][0], opts[o][1], f);
                free(bufs[0]);
                free(bufs[1]);
            }
    fit_data_free(&d);
}

/* A NaN in a late row: refused with the same message, model untouched,
 * with and without the helper (the first epoch's gather checks rows). */
static void test_bad_row_refused(void **state)
{
    (void)state;
    fit_data d;
    fit_data_init(&d);
    d.X[(ROWS - 3) * IN + 17] = NAN;
    for (int on = 0; on < 2; on++) {
        ann__helper_off = !on;
        ann__helper_sync = on;
        ann *m = make_model(ANN_PRECISION_F64, ANN_OPTIMIZER_ADAM, 0);
        size_t s0;
        unsigned char *b0 = t_save_mem(m, &s0);
        assert_int_equal(ann_fit_labels(m, d.X, d.lab, ROWS), ANN_ERR_NON_FINITE);
        assert_non_null(strstr(ann_errmsg(m), "X[597][17]"));
        t_assert_saves_as(m, b0, s0);
        free(b0);
        ann_destroy(m);
    }
    fit_data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_both_threads_work),
        cmocka_unit_test(test_caller_waits),
        cmocka_unit_test(test_signals_blocked),
        cmocka_unit_test(test_result_is_or),
        cmocka_unit_test(test_caller_fenv),
        cmocka_unit_test(test_no_helper),
        cmocka_unit_test(test_fits_same_bytes),
        cmocka_unit_test(test_bad_row_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
