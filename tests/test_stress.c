/* test_stress.c - one model, predictions from 2, 8, 64, 256 and 512 threads
 * at once, at batch 1 (the GEMV path) and batch 64 (GEMM): every result is
 * bitwise the serial one and nothing crashes, well above the ~150
 * concurrent callers at which OpenBLAS runs out of buffers (libann's gate,
 * lib/blas.c, lets at most ANN__BLAS_SLOTS callers into OpenBLAS at once).
 * Then many handles trained in parallel threads, each bitwise equal to the
 * same training done serially (run under ThreadSanitizer by tests/run.sh).
 *
 * Calls per thread: 10^4 with ANN_STRESS=1 (the figure, minutes);
 * by default max(2, 4096 / threads), so the suite stays quick, and
 * max(2, 256 / threads) with ANN_TEST_REDUCED=1 (sanitizers, valgrind). */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

enum { N_IN = 24, N_OUT = 10, ROWS = 64 };

typedef struct {
    const ann *m;
    const double *X, *want, *want1;
    long calls;
    size_t batch;
    unsigned seed;
    atomic_long *mismatches, *errors;
    pthread_barrier_t *go;
} job;

static void *predict_worker(void *p)
{
    job *j = p;
    double out[ROWS * N_OUT];
    unsigned s = j->seed;
    pthread_barrier_wait(j->go);
    for (long c = 0; c < j->calls; c++) {
        s = s * 1103515245u + 12345u;
        size_t first = j->batch == 1 ? (s >> 8) % ROWS : 0;
        if (ann_predict(j->m, j->X + first * N_IN, j->batch, out) != ANN_OK) {
            atomic_fetch_add(j->errors, 1);
            continue;
        }
        const double *ref = j->batch == 1 ? j->want1 + first * N_OUT : j->want;
        if (memcmp(out, ref, j->batch * N_OUT * sizeof *out) != 0)
            atomic_fetch_add(j->mismatches, 1);
    }
    return NULL;
}

static long calls_for(int threads)
{
    const char *full = getenv("ANN_STRESS");
    if (full && atoi(full) == 1)
        return 10000;
    /* ANN_TEST_REDUCED: sanitizer and valgrind runs, ~20x slower */
    const char *reduced = getenv("ANN_TEST_REDUCED");
    long budget = reduced && atoi(reduced) == 1 ? 256 : 4096;
    long c = budget / threads;
    return c < 2 ? 2 : c;
}

static void stress(int f32)
{
    size_t u[] = {48, 48, N_OUT};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann *m = make_net(N_IN, 3, u, a);
    if (f32)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    static double X[ROWS * N_IN], want[ROWS * N_OUT], want1[ROWS * N_OUT];
    uint64_t s = 99;
    for (size_t i = 0; i < ROWS * N_IN; i++)
        X[i] = t_normal(&s);
    ASSERT_OK(ann_predict(m, X, ROWS, want));
    for (size_t r = 0; r < ROWS; r++)
        ASSERT_OK(ann_predict(m, X + r * N_IN, 1, want1 + r * N_OUT));

    static const int counts[] = {2, 8, 64, 256, 512};
    pthread_t *tid = malloc(512 * sizeof *tid);
    job *jobs = malloc(512 * sizeof *jobs);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
        for (size_t batch = 1; batch <= ROWS; batch *= ROWS) {
            int n = counts[ci];
            atomic_long mism = 0, errs = 0;
            pthread_barrier_t go;
            pthread_barrier_init(&go, NULL, (unsigned)n);
            int started = 0;
            for (int t = 0; t < n; t++) {
                jobs[t] = (job){m, X, want, want1, calls_for(n), batch,
                                (unsigned)(t * 7919 + 1), &mism, &errs, &go};
                if (pthread_create(&tid[t], &attr, predict_worker, &jobs[t]) != 0)
                    break;
                started++;
            }
            /* every thread must start, or the barrier never opens */
            assert_int_equal(started, n);
            for (int t = 0; t < n; t++)
                pthread_join(tid[t], NULL);
            pthread_barrier_destroy(&go);
            printf("# %s: %3d threads x %ld calls at batch %2zu: %ld mismatches, %ld errors\n",
                   f32 ? "f32" : "f64", n, calls_for(n), batch, (long)mism, (long)errs);
            assert_int_equal(errs, 0);
            assert_int_equal(mism, 0);
        }
    }
    pthread_attr_destroy(&attr);
    free(tid);
    free(jobs);
    ann_destroy(m);
}

static void test_predict_stress_f64(void **state) { (void)state; stress(0); }
static void test_predict_stress_f32(void **state) { (void)state; stress(1); }

/* ---- many handles, one per thread ---------------------------------------- */
enum { N_HANDLES = 8, TROWS = 96 };
static double TX[TROWS * N_IN], TY[TROWS * N_OUT];

typedef struct {
    ann *m;
    ann_status st;
} train_job;

static void *train_worker(void *p)
{
    train_job *j = p;
    j->st = ann_fit(j->m, TX, TY, TROWS);
    if (j->st == ANN_OK) {
        double out[ROWS * N_OUT];
        j->st = ann_predict(j->m, TX, ROWS, out);
    }
    return NULL;
}

static ann *train_model(int i)
{
    size_t u[] = {32, N_OUT};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann *m = make_net(N_IN, 2, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, i));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, i % 3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 16));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 5));
    if (i % 2)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    return m;
}

static void test_parallel_training(void **state)
{
    (void)state;
    uint64_t s = 5;
    for (size_t i = 0; i < TROWS * N_IN; i++)
        TX[i] = t_normal(&s);
    for (size_t r = 0; r < TROWS; r++)
        for (size_t k = 0; k < N_OUT; k++)
            TY[r * N_OUT + k] = k == r % N_OUT;
    train_job jobs[N_HANDLES];
    pthread_t tid[N_HANDLES];
    for (int i = 0; i < N_HANDLES; i++) {
        jobs[i].m = train_model(i);
        assert_int_equal(pthread_create(&tid[i], NULL, train_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < N_HANDLES; i++)
        pthread_join(tid[i], NULL);
    static unsigned char a[1 << 16], b[1 << 16];
    for (int i = 0; i < N_HANDLES; i++) {
        ASSERT_OK(jobs[i].st);
        ann *ref = train_model(i);
        ASSERT_OK(ann_fit(ref, TX, TY, TROWS));
        size_t na, nb;
        ASSERT_OK(ann_save_buffer(jobs[i].m, a, sizeof a, &na));
        ASSERT_OK(ann_save_buffer(ref, b, sizeof b, &nb));
        assert_true(na == nb && memcmp(a, b, na) == 0);
        ann_destroy(ref);
        ann_destroy(jobs[i].m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict_stress_f64),
        cmocka_unit_test(test_predict_stress_f32),
        cmocka_unit_test(test_parallel_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
