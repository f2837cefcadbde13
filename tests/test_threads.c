/* test_threads.c - one handle, many threads: concurrent predictions equal
 * the serial result bitwise; a training call overlapping another call on
 * the same handle gets ANN_ERR_BUSY and corrupts nothing. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { N_THREADS = 48, ROWS = 64, CALLS = 40 };

typedef struct {
    const ann *m;
    const double *X;
    const double *want;  /* ROWS x n_out serial result of one ROWS-row call */
    const double *want1; /* the same rows, each from a serial one-row call */
    size_t n_in, n_out;
    atomic_int *mismatches;
    atomic_int *errors;
    pthread_barrier_t *go;
} job;

static void *predict_worker(void *p)
{
    job *j = p;
    double *out = malloc(ROWS * j->n_out * sizeof *out);
    pthread_barrier_wait(j->go);
    for (int c = 0; c < CALLS; c++) {
        /* alternate one-row (direct/GEMV path) and 64-row (GEMM path) calls */
        size_t rows = c % 2 ? 1 : ROWS, first = c % 2 ? (size_t)c % ROWS : 0;
        if (ann_predict(j->m, j->X + first * j->n_in, rows, out) != ANN_OK) {
            atomic_fetch_add(j->errors, 1);
            continue;
        }
        const double *ref = rows == 1 ? j->want1 : j->want;
        if (memcmp(out, ref + first * j->n_out, rows * j->n_out * sizeof *out) != 0)
            atomic_fetch_add(j->mismatches, 1);
    }
    free(out);
    return NULL;
}

static void concurrent_predict(size_t n_in, size_t width, int f32)
{
    size_t u[] = {width, width, 10};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann *m = make_net(n_in, 3, u, a);
    if (f32)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    double *X = malloc(ROWS * n_in * sizeof *X);
    uint64_t s = 17;
    for (size_t i = 0; i < ROWS * n_in; i++)
        X[i] = t_normal(&s);
    /* serial reference: each call shape as the workers use it */
    double *want = malloc(ROWS * 10 * sizeof *want), *one = malloc(10 * sizeof *one);
    ASSERT_OK(ann_predict(m, X, ROWS, want));
    double *want1 = malloc(ROWS * 10 * sizeof *want1);
    for (size_t r = 0; r < ROWS; r++) {
        ASSERT_OK(ann_predict(m, X + r * n_in, 1, one));
        memcpy(want1 + r * 10, one, 10 * sizeof *one);
    }
    atomic_int mism = 0, errs = 0;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_THREADS);
    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){m, X, want, want1, n_in, 10, &mism, &errs, &go};
        pthread_create(&th[t], NULL, predict_worker, &jobs[t]);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(atomic_load(&errs), 0);
    assert_int_equal(atomic_load(&mism), 0);
    free(X);
    free(want);
    free(want1);
    free(one);
    ann_destroy(m);
}

static void test_concurrent_predict_small(void **state)
{
    (void)state;
    concurrent_predict(6, 8, 0); /* direct loops */
}

static void test_concurrent_predict_blas(void **state)
{
    (void)state;
    concurrent_predict(100, 96, 0); /* GEMM / GEMV */
    concurrent_predict(100, 96, 1);
}

/* Strict version: each worker does only batch calls; must equal serial. */
static void *batch_worker(void *p)
{
    job *j = p;
    double *out = malloc(ROWS * j->n_out * sizeof *out);
    pthread_barrier_wait(j->go);
    for (int c = 0; c < CALLS; c++) {
        if (ann_predict(j->m, j->X, ROWS, out) != ANN_OK)
            atomic_fetch_add(j->errors, 1);
        else if (memcmp(out, j->want, ROWS * j->n_out * sizeof *out) != 0)
            atomic_fetch_add(j->mismatches, 1);
    }
    free(out);
    return NULL;
}

static void test_concurrent_predict_bitwise(void **state)
{
    (void)state;
    size_t u[] = {128, 64, 10};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_SIGMOID, ANN_ACT_SOFTMAX};
    ann *m = make_net(50, 3, u, a);
    double *X = malloc(ROWS * 50 * sizeof *X), *want = malloc(ROWS * 10 * sizeof *want);
    uint64_t s = 3;
    for (size_t i = 0; i < ROWS * 50; i++)
        X[i] = t_normal(&s);
    ASSERT_OK(ann_predict(m, X, ROWS, want));
    atomic_int mism = 0, errs = 0;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_THREADS);
    pthread_t th[N_THREADS];
    job jobs[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (job){m, X, want, want, 50, 10, &mism, &errs, &go};
        pthread_create(&th[t], NULL, batch_worker, &jobs[t]);
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(atomic_load(&errs), 0);
    assert_int_equal(atomic_load(&mism), 0);
    free(X);
    free(want);
    ann_destroy(m);
}

/* Inside the progress callback the handle is held by ann_fit: every other
 * call that needs it reports busy, read-only parameter reads still work. */
typedef struct {
    ann *m;
    int checked;
} cb_ctx;

static int busy_cb(void *user, size_t epoch, double tl, double vl)
{
    (void)tl;
    (void)vl;
    cb_ctx *c = user;
    double x[2] = {0.1, 0.2}, y[1] = {0}, out[1], v;
    assert_int_equal(ann_predict(c->m, x, 1, out), ANN_ERR_BUSY);
    assert_int_equal(ann_set_param(c->m, ANN_PARAM_LEARNING_RATE, 0.5), ANN_ERR_BUSY);
    assert_int_equal(ann_fit(c->m, x, y, 1), ANN_ERR_BUSY);
    assert_int_equal(ann_train_batch(c->m, x, y, 1), ANN_ERR_BUSY);
    ann *cl = NULL;
    assert_int_equal(ann_clone(c->m, &cl), ANN_ERR_BUSY);
    assert_null(cl);
    assert_int_equal(ann_get_param(c->m, ANN_PARAM_EPOCHS_RUN, &v), ANN_OK);
    assert_true(v == (double)epoch);
    c->checked++;
    return 0;
}

static void test_busy_inside_fit(void **state)
{
    (void)state;
    size_t u[] = {3, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(2, 2, u, a);
    cb_ctx c = {m, 0};
    ASSERT_OK(ann_set_progress(m, busy_cb, &c));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
    double X[] = {0, 1, 1, 0, 1, 1}, Y[] = {1, 1, 0};
    ASSERT_OK(ann_fit(m, X, Y, 3));
    assert_int_equal(c.checked, 3);
    double lr;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_LEARNING_RATE, &lr));
    assert_true(lr == 0.01);
    ann_destroy(m);
}

/* Real threads racing: one trains in a loop, others predict and try to
 * train.  Every status is OK or BUSY, and afterwards the model equals a
 * model that ran exactly the successful training calls. */
typedef struct {
    ann *m;
    const double *X, *Y;
    atomic_int *fits_ok, *busy, *other;
    atomic_int *stop;
} race_job;

static void *race_trainer(void *p)
{
    race_job *j = p;
    /* BUSY is the contract, not a wait: retry until 30 fits got through */
    for (int i = 0; i < 200000 && atomic_load(j->fits_ok) < 30; i++) {
        ann_status st = ann_fit(j->m, j->X, j->Y, 32);
        if (st == ANN_OK) atomic_fetch_add(j->fits_ok, 1);
        else if (st == ANN_ERR_BUSY) atomic_fetch_add(j->busy, 1);
        else atomic_fetch_add(j->other, 1);
    }
    return NULL;
}

static void *race_predictor(void *p)
{
    race_job *j = p;
    double out[32];
    while (!atomic_load(j->stop)) {
        ann_status st = ann_predict(j->m, j->X, 32, out);
        if (st == ANN_ERR_BUSY) atomic_fetch_add(j->busy, 1);
        else if (st != ANN_OK) atomic_fetch_add(j->other, 1);
        else
            for (int i = 0; i < 32; i++)
                if (!isfinite(out[i])) atomic_fetch_add(j->other, 1);
        struct timespec ts = {0, 20000}; /* leave the trainers a gap */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_fit_races(void **state)
{
    (void)state;
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(3, 2, u, a), *ref = NULL;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    ASSERT_OK(ann_clone(m, &ref));
    double X[32 * 3], Y[32];
    uint64_t s = 9;
    for (int i = 0; i < 96; i++) X[i] = t_normal(&s);
    for (int i = 0; i < 32; i++) Y[i] = X[3 * i] - X[3 * i + 2];
    atomic_int ok = 0, busy = 0, other = 0, stop = 0;
    race_job j = {m, X, Y, &ok, &busy, &other, &stop};
    pthread_t tr[2], pr[4];
    for (int i = 0; i < 2; i++) pthread_create(&tr[i], NULL, race_trainer, &j);
    for (int i = 0; i < 4; i++) pthread_create(&pr[i], NULL, race_predictor, &j);
    for (int i = 0; i < 2; i++) pthread_join(tr[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(pr[i], NULL);
    assert_int_equal(atomic_load(&other), 0);
    assert_true(atomic_load(&ok) > 0);
    /* shuffle off: the result depends only on how many fits succeeded */
    for (int i = 0; i < atomic_load(&ok); i++)
        ASSERT_OK(ann_fit(ref, X, Y, 32));
    assert_true(weights_same(m, ref));
    ann_destroy(m);
    ann_destroy(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_predict_small),
        cmocka_unit_test(test_concurrent_predict_blas),
        cmocka_unit_test(test_concurrent_predict_bitwise),
        cmocka_unit_test(test_busy_inside_fit),
        cmocka_unit_test(test_fit_races),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
