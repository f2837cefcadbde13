/* test_preprocess.c - issue 5: input preprocessing (standardise, PCA, ZCA)
 * fitted by ann_fit and applied by predict, its persistence (format
 * version 2), orthogonal initialisation, and the interplay with refits,
 * ann_train_batch and parameter changes.
 *
 * The transform is observed black-box through an identity "probe": one
 * identity-activated layer with units = n_inputs whose weights are set to
 * the identity after the fit, so ann_predict returns the transformed
 * inputs. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N_ROWS 400
#define D 5

/* Correlated inputs: X = Z A + c, with a constant column at index 3 when
 * with_const. */
static void make_data(double *X, size_t n, uint64_t seed, int with_const)
{
    uint64_t s = seed;
    static const double A[D][D] = {{3, 1, 0, 0, 0.5},
                                   {0, 2, -1, 0, 0},
                                   {1, 0, 0.5, 0, 0.2},
                                   {0, 0, 0, 0, 0},
                                   {0.3, 0, 0, 0, 7}};
    static const double c[D] = {100, -5, 0.001, 42, 1e3};
    for (size_t i = 0; i < n; i++) {
        double z[D];
        for (int k = 0; k < D; k++) z[k] = t_normal(&s);
        for (int j = 0; j < D; j++) {
            double v = c[j];
            for (int k = 0; k < D; k++) v += z[k] * A[k][j];
            if (j == 3 && !with_const) v += 0.5 * t_normal(&s);
            X[i * D + j] = v;
        }
    }
}

static ann *probe(int mode)
{
    size_t u[] = {D};
    ann_activation a[] = {ANN_ACT_IDENTITY};
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, D, 1, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, mode));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e-300));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    return m;
}

static void set_identity(ann *m)
{
    double W[D * D] = {0}, b[D] = {0};
    for (int i = 0; i < D; i++) W[i * D + i] = 1;
    ASSERT_OK(ann_set_weights(m, 0, W, b));
}

/* Fit the transform on X (n rows) and return transform(X2) in out. */
static void fit_and_probe(ann *m, const double *X, size_t n, const double *X2, size_t n2,
                          double *out)
{
    ASSERT_OK(ann_fit(m, X, X, n)); /* targets irrelevant: lr ~ 0 */
    set_identity(m);
    ASSERT_OK(ann_predict(m, X2, n2, out));
}

static void cov(const double *Y, size_t n, double *mu, double *C)
{
    for (int j = 0; j < D; j++) {
        mu[j] = 0;
        for (size_t i = 0; i < n; i++) mu[j] += Y[i * D + j];
        mu[j] /= (double)n;
    }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += (Y[i * D + a] - mu[a]) * (Y[i * D + b] - mu[b]);
            C[a * D + b] = s / (double)n;
        }
}

static void test_standardize(void **state)
{
    (void)state;
    double *X = malloc(N_ROWS * D * sizeof *X), *Y = malloc(N_ROWS * D * sizeof *Y);
    make_data(X, N_ROWS, 1, 1);
    ann *m = probe(ANN_PREPROCESS_STANDARDIZE);
    fit_and_probe(m, X, N_ROWS, X, N_ROWS, Y);
    double mu[D], C[D * D];
    cov(Y, N_ROWS, mu, C);
    for (int j = 0; j < D; j++) {
        assert_true(fabs(mu[j]) < 1e-12);
        if (j == 3) {
            /* the constant feature: centred, not divided by zero */
            for (size_t i = 0; i < N_ROWS; i++) assert_true(Y[i * D + j] == 0);
        } else {
            assert_true(fabs(C[j * D + j] - 1) < 1e-12);
        }
    }
    /* a value never seen in training: finite */
    double x1[D] = {1e6, 1e6, 1e6, 1e6, 1e6}, y1[D];
    ASSERT_OK(ann_predict(m, x1, 1, y1));
    for (int j = 0; j < D; j++) assert_true(isfinite(y1[j]));
    ann_destroy(m);
    free(X);
    free(Y);
}

static void whiten(int mode)
{
    double *X = malloc(N_ROWS * D * sizeof *X), *Y = malloc(N_ROWS * D * sizeof *Y);
    make_data(X, N_ROWS, 2, 0);
    ann *m = probe(mode);
    fit_and_probe(m, X, N_ROWS, X, N_ROWS, Y);
    double mu[D], C[D * D], err = 0;
    cov(Y, N_ROWS, mu, C);
    for (int a = 0; a < D; a++) {
        assert_true(fabs(mu[a]) < 1e-10);
        for (int b = 0; b < D; b++)
            err = fmax(err, fabs(C[a * D + b] - (a == b)));
    }
    printf("%s: max |cov - I| = %.2e\n", mode == ANN_PREPROCESS_PCA ? "PCA" : "ZCA", err);
    assert_true(err < 1e-8);
    if (mode == ANN_PREPROCESS_ZCA) {
        /* ZCA stays close to the data: each output correlates most with its
         * own input */
        double Cx[D * D], mx[D];
        cov(X, N_ROWS, mx, Cx);
        for (int j = 0; j < D; j++) {
            double best = -1;
            int arg = -1;
            for (int k = 0; k < D; k++) {
                double s = 0;
                for (size_t i = 0; i < N_ROWS; i++)
                    s += (Y[i * D + j] - mu[j]) * (X[i * D + k] - mx[k]);
                s = fabs(s) / sqrt(Cx[k * D + k]);
                if (s > best) { best = s; arg = k; }
            }
            assert_int_equal(arg, j);
        }
    }
    ann_destroy(m);
    free(X);
    free(Y);
}
static void test_pca_identity(void **state) { (void)state; whiten(ANN_PREPROCESS_PCA); }
static void test_zca_identity(void **state) { (void)state; whiten(ANN_PREPROCESS_ZCA); }

/* A singular covariance (a constant column): the regulariser keeps every
 * output finite; the non-degenerate directions are still whitened. */
static void test_whiten_singular(void **state)
{
    (void)state;
    double *X = malloc(N_ROWS * D * sizeof *X), *Y = malloc(N_ROWS * D * sizeof *Y);
    make_data(X, N_ROWS, 3, 1);
    for (int mode = ANN_PREPROCESS_PCA; mode <= ANN_PREPROCESS_ZCA; mode++) {
        ann *m = probe(mode);
        fit_and_probe(m, X, N_ROWS, X, N_ROWS, Y);
        for (size_t i = 0; i < N_ROWS * D; i++) assert_true(isfinite(Y[i]));
        double mu[D], C[D * D], tr = 0;
        cov(Y, N_ROWS, mu, C);
        for (int j = 0; j < D; j++) tr += C[j * D + j];
        assert_true(fabs(tr - (D - 1)) < 1e-6); /* rank D-1 */
        ann_destroy(m);
    }
    free(X);
    free(Y);
}

/* Refit recomputes; train_batch uses the stored transform and never refits;
 * with nothing fitted it fits from its own batch; changing the mode drops
 * the transform. */
static void test_interplay(void **state)
{
    (void)state;
    double *X = malloc(N_ROWS * D * sizeof *X), *X2 = malloc(N_ROWS * D * sizeof *X2);
    double *Y = malloc(N_ROWS * D * sizeof *Y);
    make_data(X, N_ROWS, 4, 0);
    for (size_t i = 0; i < N_ROWS * D; i++) X2[i] = 3 * X[i] + 10;
    ann *m = probe(ANN_PREPROCESS_STANDARDIZE);
    double mu[D], C[D * D];
    fit_and_probe(m, X, N_ROWS, X2, N_ROWS, Y);
    cov(Y, N_ROWS, mu, C);
    assert_true(fabs(C[0] - 9) < 1e-9); /* X's transform applied to X2 */
    /* train_batch keeps the stored transform */
    ASSERT_OK(ann_train_batch(m, X2, X2, N_ROWS));
    set_identity(m);
    ASSERT_OK(ann_predict(m, X2, N_ROWS, Y));
    cov(Y, N_ROWS, mu, C);
    assert_true(fabs(C[0] - 9) < 1e-9);
    /* a refit on X2 recomputes */
    fit_and_probe(m, X2, N_ROWS, X2, N_ROWS, Y);
    cov(Y, N_ROWS, mu, C);
    assert_true(fabs(C[0] - 1) < 1e-12 && fabs(mu[0]) < 1e-12);
    /* changing the mode drops the transform: raw inputs */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_NONE));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE));
    ASSERT_OK(ann_predict(m, X2, N_ROWS, Y));
    for (size_t i = 0; i < N_ROWS * D; i++) assert_true(Y[i] == X2[i]);
    /* setting the same value keeps it */
    fit_and_probe(m, X, N_ROWS, X, N_ROWS, Y);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE));
    ASSERT_OK(ann_predict(m, X, N_ROWS, Y));
    cov(Y, N_ROWS, mu, C);
    assert_true(fabs(C[0] - 1) < 1e-12);
    ann_destroy(m);
    /* train_batch with nothing fitted: fits from that batch */
    m = probe(ANN_PREPROCESS_ZCA);
    ASSERT_OK(ann_train_batch(m, X, X, N_ROWS));
    set_identity(m);
    ASSERT_OK(ann_predict(m, X, N_ROWS, Y));
    cov(Y, N_ROWS, mu, C);
    assert_true(fabs(C[0] - 1) < 1e-8 && fabs(C[1]) < 1e-8);
    ann_destroy(m);
    free(X);
    free(X2);
    free(Y);
}

/* The transform comes from the training rows only, not the held-out ones. */
static void test_validation_rows_excluded(void **state)
{
    (void)state;
    double *X = malloc(N_ROWS * D * sizeof *X), *Y = malloc(N_ROWS * D * sizeof *Y);
    make_data(X, N_ROWS, 6, 0);
    for (size_t i = N_ROWS / 2; i < N_ROWS; i++) X[i * D] += 1000; /* held out */
    ann *m = probe(ANN_PREPROCESS_STANDARDIZE);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.5));
    fit_and_probe(m, X, N_ROWS, X, N_ROWS / 2, Y);
    double mu[D], C[D * D];
    cov(Y, N_ROWS / 2, mu, C);
    assert_true(fabs(mu[0]) < 1e-12 && fabs(C[0] - 1) < 1e-12);
    ann_destroy(m);
    free(X);
    free(Y);
}

/* A real network learns through each mode; save/load (buffer and file)
 * predicts bitwise identically; the file is version 2 only with a
 * transform; clones carry it. */
static void test_persist_modes(void **state)
{
    (void)state;
    size_t n = 200;
    double *X = malloc(n * 4 * sizeof *X), *y = malloc(n * sizeof *y);
    double *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
    house_make(n, 7, X, y);
    for (int prec = 0; prec <= 1; prec++)
        for (int mode = 0; mode <= 3; mode++) {
            size_t u[] = {6, 1};
            ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
            ann *m = NULL, *c = NULL, *k = NULL;
            ASSERT_OK(ann_create(&m, 4, 2, u, a));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, mode));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e-3));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
            ASSERT_OK(ann_fit(m, X, y, n));
            ASSERT_OK(ann_predict(m, X, n, p1));
            size_t sz;
            ASSERT_OK(ann_save_buffer(m, NULL, 0, &sz));
            unsigned char *b = malloc(sz);
            ASSERT_OK(ann_save_buffer(m, b, sz, &sz));
            assert_int_equal(b[8], mode ? 2 : 1);
            ASSERT_OK(ann_load_buffer(&c, b, sz));
            ASSERT_OK(ann_predict(c, X, n, p2));
            assert_memory_equal(p1, p2, n * sizeof *p1);
            double v;
            ASSERT_OK(ann_get_param(c, ANN_PARAM_PREPROCESS, &v));
            assert_true(v == mode);
            ASSERT_OK(ann_clone(m, &k));
            ASSERT_OK(ann_predict(k, X, n, p2));
            assert_memory_equal(p1, p2, n * sizeof *p1);
            /* re-saving the loaded model gives the same bytes */
            size_t sz2;
            unsigned char *b2 = malloc(sz);
            ASSERT_OK(ann_save_buffer(c, b2, sz, &sz2));
            assert_int_equal(sz, sz2);
            assert_memory_equal(b, b2, sz);
            /* a damaged PREP value is refused: flip the PREP mode to 7 */
            if (mode) {
                size_t pos = 24;
                while (pos + 16 <= sz - 4 && memcmp(b + pos, "PREP", 4) != 0) {
                    uint64_t len = 0;
                    for (int i = 0; i < 8; i++) len |= (uint64_t)b[pos + 8 + i] << (8 * i);
                    pos += 16 + len;
                }
                assert_memory_equal(b + pos, "PREP", 4);
                ann *bad = NULL;
                b[pos + 16] = 7;
                assert_int_equal(ann_load_buffer(&bad, b, sz), ANN_ERR_BAD_FORMAT);
            }
            ann_destroy(m);
            ann_destroy(c);
            ann_destroy(k);
            free(b);
            free(b2);
        }
    /* file round trip */
    size_t u[] = {6, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL, *c = NULL;
    ASSERT_OK(ann_create(&m, 4, 2, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_ZCA));
    ASSERT_OK(ann_fit(m, X, y, n));
    char path[] = "/tmp/ann_prep_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ASSERT_OK(ann_save(m, path));
    ASSERT_OK(ann_load(&c, path));
    remove(path);
    ASSERT_OK(ann_predict(m, X, n, p1));
    ASSERT_OK(ann_predict(c, X, n, p2));
    assert_memory_equal(p1, p2, n * sizeof *p1);
    ann_destroy(m);
    ann_destroy(c);
    free(X); free(y); free(p1); free(p2);
}

/* Standardisation makes the raw house data learnable at a rate that would
 * diverge without it. */
static void test_learns_raw_house(void **state)
{
    (void)state;
    size_t n = 500;
    double *X = malloc(n * 4 * sizeof *X), *y = malloc(n * sizeof *y);
    house_make(n, 8, X, y);
    double ym = 0;
    for (size_t i = 0; i < n; i++) ym += y[i];
    ym /= (double)n;
    double var = 0;
    for (size_t i = 0; i < n; i++) var += (y[i] - ym) * (y[i] - ym);
    var /= (double)n;
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, 4, 2, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.05));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 300));
    ASSERT_OK(ann_fit(m, X, y, n));
    double loss;
    ASSERT_OK(ann_evaluate(m, X, y, n, &loss));
    printf("raw house data, standardised inputs: MSE %.1f (variance %.1f, noise %.1f)\n",
           2 * loss, var, HOUSE_SIGMA * HOUSE_SIGMA);
    assert_true(2 * loss < 0.1 * var);
    ann_destroy(m);
    free(X);
    free(y);
}

/* ---- orthogonal init --------------------------------------------------- */
static void test_orthogonal(void **state)
{
    (void)state;
    size_t u[] = {3, 7, 7, 2};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_TANH, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, 5, 4, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_INIT_GAIN, 2.0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_ORTHOGONAL));
    double err = 0;
    for (size_t l = 0; l < 4; l++) {
        size_t un, fan;
        ASSERT_OK(ann_layer_info(m, l, &un, &fan, NULL));
        double *W = malloc(un * fan * sizeof *W), *b = malloc(un * sizeof *b);
        ASSERT_OK(ann_get_weights(m, l, W, b));
        for (size_t j = 0; j < un; j++) assert_true(b[j] == 0);
        if (un <= fan) { /* W W^T = gain^2 I */
            for (size_t i = 0; i < un; i++)
                for (size_t j = 0; j < un; j++) {
                    double s = 0;
                    for (size_t k = 0; k < fan; k++) s += W[i * fan + k] * W[j * fan + k];
                    err = fmax(err, fabs(s - (i == j ? 4.0 : 0.0)));
                }
        } else { /* W^T W = gain^2 I */
            for (size_t i = 0; i < fan; i++)
                for (size_t j = 0; j < fan; j++) {
                    double s = 0;
                    for (size_t k = 0; k < un; k++) s += W[k * fan + i] * W[k * fan + j];
                    err = fmax(err, fabs(s - (i == j ? 4.0 : 0.0)));
                }
        }
        free(W);
        free(b);
    }
    printf("orthogonal init: max deviation from gain^2 I = %.2e\n", err);
    assert_true(err < 1e-12);
    /* reproducible from the seed; a different seed differs */
    double w1[15], w2[15];
    ASSERT_OK(ann_get_weights(m, 0, w1, NULL));
    ASSERT_OK(ann_reinit(m));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 0));
    ASSERT_OK(ann_get_weights(m, 0, w2, NULL));
    assert_memory_equal(w1, w2, sizeof w1);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 1));
    ASSERT_OK(ann_get_weights(m, 0, w2, NULL));
    assert_memory_not_equal(w1, w2, sizeof w1);
    /* saved as version 2 (a value version 1 does not know) */
    size_t sz;
    ASSERT_OK(ann_save_buffer(m, NULL, 0, &sz));
    unsigned char *b = malloc(sz);
    ASSERT_OK(ann_save_buffer(m, b, sz, &sz));
    assert_int_equal(b[8], 2);
    ann *c = NULL;
    ASSERT_OK(ann_load_buffer(&c, b, sz));
    ASSERT_OK(ann_get_weights(c, 0, w1, NULL));
    assert_memory_equal(w1, w2, sizeof w1);
    free(b);
    ann_destroy(c);
    ann_destroy(m);
}

/* ---- Levenberg-Marquardt ---------------------------------------------- */
#define SIN_N 200
#define SIN_SIGMA 0.05
static void sin_data(double *x, double *y, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < SIN_N; i++) {
        x[i] = -3 + 6 * (double)i / (SIN_N - 1);
        y[i] = sin(x[i]) + SIN_SIGMA * t_normal(&s);
    }
}

static ann *sin_net(int optimizer)
{
    size_t u[] = {10, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, 1, 2, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, optimizer));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    return m;
}

/* Epochs until the mean training loss is within 20% of the noise floor
 * (sigma^2 / 2), at most max_epochs (returns max_epochs + 1 if missed). */
static int epochs_to_floor(ann *m, const double *x, const double *y, int max_epochs)
{
    double target = 1.2 * 0.5 * SIN_SIGMA * SIN_SIGMA, loss = INFINITY;
    for (int e = 1; e <= max_epochs; e++) {
        ASSERT_OK(ann_fit(m, x, y, SIN_N));
        ASSERT_OK(ann_evaluate(m, x, y, SIN_N, &loss));
        if (loss <= target)
            return e;
    }
    return max_epochs + 1;
}

static void test_lm_converges(void **state)
{
    (void)state;
    double x[SIN_N], y[SIN_N];
    sin_data(x, y, 9);
    ann *lm = sin_net(ANN_OPTIMIZER_LEVENBERG_MARQUARDT);
    int e_lm = epochs_to_floor(lm, x, y, 100);
    ann *sgd = sin_net(ANN_OPTIMIZER_SGD);
    ASSERT_OK(ann_set_param(sgd, ANN_PARAM_LEARNING_RATE, 0.05));
    ASSERT_OK(ann_set_param(sgd, ANN_PARAM_BATCH_SIZE, 1));
    int e_sgd = epochs_to_floor(sgd, x, y, 300);
    printf("sin(x), 1-10-1 tanh: LM reached 1.2x the noise floor in %d epochs, "
           "per-sample SGD in %d%s\n", e_lm, e_sgd > 300 ? 300 : e_sgd,
           e_sgd > 300 ? "+ (not reached)" : "");
    assert_true(e_lm < 30);
    assert_true(e_sgd > 3 * e_lm);
    double steps;
    ASSERT_OK(ann_get_param(lm, ANN_PARAM_STEPS, &steps));
    assert_true(steps >= 1);
    /* saved with LM (version 2) and continued after load */
    size_t sz;
    ASSERT_OK(ann_save_buffer(lm, NULL, 0, &sz));
    unsigned char *b = malloc(sz);
    ASSERT_OK(ann_save_buffer(lm, b, sz, &sz));
    assert_int_equal(b[8], 2);
    ann *c = NULL;
    ASSERT_OK(ann_load_buffer(&c, b, sz));
    ASSERT_OK(ann_fit(c, x, y, SIN_N));
    free(b);
    ann_destroy(c);
    ann_destroy(lm);
    ann_destroy(sgd);
}

static void test_lm_rejects(void **state)
{
    (void)state;
    double x[SIN_N], y[SIN_N];
    sin_data(x, y, 10);
    /* cross-entropy */
    size_t u[] = {4, 2};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, 1, 2, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_LEVENBERG_MARQUARDT));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    int32_t lab[SIN_N];
    for (int i = 0; i < SIN_N; i++) lab[i] = y[i] > 0;
    double w0[4], w1[4];
    ASSERT_OK(ann_get_weights(m, 0, w0, NULL));
    assert_int_equal(ann_fit_labels(m, x, lab, SIN_N), ANN_ERR_UNSUPPORTED);
    assert_non_null(strstr(ann_errmsg(m), "squared-error"));
    ASSERT_OK(ann_get_weights(m, 0, w1, NULL));
    assert_memory_equal(w0, w1, sizeof w0);
    /* squared error on the same softmax net works */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_SQUARED_ERROR));
    ASSERT_OK(ann_fit_labels(m, x, lab, SIN_N));
    /* train_batch */
    double Y2[2 * SIN_N];
    for (int i = 0; i < SIN_N; i++) { Y2[2 * i] = lab[i]; Y2[2 * i + 1] = 1 - lab[i]; }
    assert_int_equal(ann_train_batch(m, x, Y2, SIN_N), ANN_ERR_UNSUPPORTED);
    ann_destroy(m);
    /* oversize: 1-5000-1 has 15001 parameters */
    size_t ub[] = {5000, 1};
    ann_activation ab[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ASSERT_OK(ann_create(&m, 1, 2, ub, ab));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_LEVENBERG_MARQUARDT));
    assert_int_equal(ann_fit(m, x, y, SIN_N), ANN_ERR_UNSUPPORTED);
    assert_non_null(strstr(ann_errmsg(m), "4096"));
    /* float32 */
    ann_destroy(m);
    m = sin_net(ANN_OPTIMIZER_LEVENBERG_MARQUARDT);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    assert_int_equal(ann_fit(m, x, y, SIN_N), ANN_ERR_UNSUPPORTED);
    ann_destroy(m);
}

/* LM's Jacobian equals finite differences of the outputs: checked through
 * one LM step from mu huge, which is -g/mu to first order = the gradient
 * direction of the summed squared error. */
static void test_lm_gradient_direction(void **state)
{
    (void)state;
    double x[SIN_N], y[SIN_N];
    sin_data(x, y, 11);
    ann *a = sin_net(ANN_OPTIMIZER_LEVENBERG_MARQUARDT);
    ann *g = NULL;
    ASSERT_OK(ann_clone(a, &g));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_LM_MU, 1e8));
    ASSERT_OK(ann_set_param(g, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_SGD));
    ASSERT_OK(ann_set_param(g, ANN_PARAM_BATCH_SIZE, 0));
    ASSERT_OK(ann_set_param(g, ANN_PARAM_SHUFFLE, 0));
    /* SGD full batch: w -= lr * (1/n) J^T e; LM: w -= J^T e / mu */
    ASSERT_OK(ann_set_param(g, ANN_PARAM_LEARNING_RATE, SIN_N / 1e8));
    double w0[10], wa[10], wg[10];
    ASSERT_OK(ann_get_weights(a, 0, w0, NULL));
    ASSERT_OK(ann_fit(a, x, y, SIN_N));
    ASSERT_OK(ann_fit(g, x, y, SIN_N));
    ASSERT_OK(ann_get_weights(a, 0, wa, NULL));
    ASSERT_OK(ann_get_weights(g, 0, wg, NULL));
    for (int i = 0; i < 10; i++) {
        double da = wa[i] - w0[i], dg = wg[i] - w0[i];
        assert_true(fabs(da - dg) <= 1e-4 * fabs(dg) + 1e-15);
    }
    ann_destroy(a);
    ann_destroy(g);
}

/* ---- target scaling ---------------------------------------------------- */
static void test_target_scaling(void **state)
{
    (void)state;
    size_t n = 500;
    double *X = malloc(n * 4 * sizeof *X), *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p);
    house_make(n, 12, X, y);
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    for (int opt = ANN_OPTIMIZER_ADAM; opt <= ANN_OPTIMIZER_LEVENBERG_MARQUARDT; opt++) {
        ann *m = NULL, *c = NULL;
        ASSERT_OK(ann_create(&m, 4, 2, u, a));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_TARGET_SCALING, 1));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, opt == ANN_OPTIMIZER_ADAM ? 200 : 30));
        ASSERT_OK(ann_fit(m, X, y, n));
        double loss, tl, mse = 0;
        ASSERT_OK(ann_evaluate(m, X, y, n, &loss));
        ASSERT_OK(ann_get_param(m, ANN_PARAM_TRAIN_LOSS, &tl));
        ASSERT_OK(ann_predict(m, X, n, p));
        for (size_t i = 0; i < n; i++) mse += (p[i] - y[i]) * (p[i] - y[i]);
        mse /= (double)n;
        printf("target scaling, %s: evaluate MSE %.1f (noise 100), scaled train loss %.4f\n",
               opt == ANN_OPTIMIZER_ADAM ? "Adam" : "LM", 2 * loss, tl);
        /* predictions and evaluate are in the original units */
        assert_true(fabs(2 * loss - mse) <= 1e-9 * mse);
        assert_true(mse < 2 * HOUSE_SIGMA * HOUSE_SIGMA);
        assert_true(tl < 0.05); /* scaled units */
        /* saved (TSCL, version 2) and loaded: the same predictions */
        size_t sz;
        ASSERT_OK(ann_save_buffer(m, NULL, 0, &sz));
        unsigned char *b = malloc(sz);
        ASSERT_OK(ann_save_buffer(m, b, sz, &sz));
        assert_int_equal(b[8], 2);
        ASSERT_OK(ann_load_buffer(&c, b, sz));
        double *p2 = malloc(n * sizeof *p2);
        ASSERT_OK(ann_predict(c, X, n, p2));
        assert_memory_equal(p, p2, n * sizeof *p);
        /* turning it off drops the scaler: outputs are raw network outputs */
        ASSERT_OK(ann_set_param(c, ANN_PARAM_TARGET_SCALING, 0));
        ASSERT_OK(ann_predict(c, X, 1, p2));
        assert_true(fabs(p2[0]) < 10);
        free(p2);
        free(b);
        ann_destroy(c);
        ann_destroy(m);
    }
    /* a constant target: centred only, predicted back finite */
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, 4, 2, u, a));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_TARGET_SCALING, 1));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE));
    for (size_t i = 0; i < n; i++) y[i] = 5;
    ASSERT_OK(ann_fit(m, X, y, n));
    ASSERT_OK(ann_predict(m, X, n, p));
    for (size_t i = 0; i < n; i++) assert_true(fabs(p[i] - 5) < 1);
    ann_destroy(m);
    /* labels and cross-entropy are refused */
    size_t uc[] = {3, 2};
    ann_activation ac[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ASSERT_OK(ann_create(&m, 4, 2, uc, ac));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_TARGET_SCALING, 1));
    int32_t lab[4] = {0, 1, 0, 1};
    assert_int_equal(ann_fit_labels(m, X, lab, 4), ANN_ERR_UNSUPPORTED);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    double Y2[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    assert_int_equal(ann_fit(m, X, Y2, 4), ANN_ERR_UNSUPPORTED);
    assert_int_equal(ann_train_batch(m, X, Y2, 4), ANN_ERR_UNSUPPORTED);
    ann_destroy(m);
    free(X);
    free(y);
    free(p);
}

static void test_bounds(void **state)
{
    (void)state;
    double lo, hi, def;
    ASSERT_OK(ann_param_bounds(ANN_PARAM_PREPROCESS, &lo, &hi, &def));
    assert_true(lo == 0 && hi == 3 && def == 0);
    ASSERT_OK(ann_param_bounds(ANN_PARAM_INIT, &lo, &hi, &def));
    assert_true(hi == ANN_INIT_ORTHOGONAL);
    ASSERT_OK(ann_param_bounds(ANN_PARAM_INIT_GAIN, &lo, &hi, &def));
    assert_true(def == 1.0);
    ann *m = probe(ANN_PREPROCESS_NONE);
    assert_int_equal(ann_set_param(m, ANN_PARAM_PREPROCESS, 4), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_param(m, ANN_PARAM_PREPROCESS, 1.5), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_param(m, ANN_PARAM_WHITEN_EPSILON, 0), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_param(m, ANN_PARAM_INIT_GAIN, 0), ANN_ERR_INVALID_ARGUMENT);
    ann_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_pca_identity),
        cmocka_unit_test(test_zca_identity),
        cmocka_unit_test(test_whiten_singular),
        cmocka_unit_test(test_interplay),
        cmocka_unit_test(test_validation_rows_excluded),
        cmocka_unit_test(test_persist_modes),
        cmocka_unit_test(test_learns_raw_house),
        cmocka_unit_test(test_orthogonal),
        cmocka_unit_test(test_lm_converges),
        cmocka_unit_test(test_lm_rejects),
        cmocka_unit_test(test_lm_gradient_direction),
        cmocka_unit_test(test_target_scaling),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
