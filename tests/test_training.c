/* test_training.c - the training toolbox: optimizer update rules against
 * hand computation, L2 and learning-rate decay, labels, validation and
 * early stopping, the progress callback, online steps, warm starts,
 * divergence rollback, reproducibility across BLAS thread counts. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const double TX[] = {0.5, -1.0, 1.5, 2.0, -0.3, 0.8, 0.1, 0.2, -1.2};
static const double TY[] = {0.7, -0.2, 0.4};

static ann *tiny(void)
{
    size_t u[] = {3, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(3, 2, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    return m;
}

/* The gradient of the batch loss at m's weights: one SGD step with rate 1
 * on a clone (the gradient itself is verified against finite differences
 * in test_gradcheck). */
static double *gradient_at(const ann *m, const double *X, const double *Y, size_t n, double l2)
{
    ann *c = NULL;
    ASSERT_OK(ann_clone(m, &c));
    ASSERT_OK(ann_set_param(c, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_SGD));
    ASSERT_OK(ann_set_param(c, ANN_PARAM_LEARNING_RATE, 1));
    ASSERT_OK(ann_set_param(c, ANN_PARAM_L2, l2));
    ASSERT_OK(ann_set_param(c, ANN_PARAM_LR_DECAY, 0));
    size_t P;
    double *w0 = weights_dump(c, &P);
    ASSERT_OK(ann_train_batch(c, X, Y, n));
    double *w1 = weights_dump(c, NULL);
    for (size_t i = 0; i < P; i++)
        w0[i] -= w1[i];
    free(w1);
    ann_destroy(c);
    return w0;
}

static void assert_close_buf(const double *a, const double *b, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol * fmax(1, fabs(b[i])))
            fail_msg("element %zu: %.17g vs %.17g", i, a[i], b[i]);
}

static void run_rule(int opt, int nesterov)
{
    ann *m = tiny();
    const double lr = 0.05, mu = 0.8, b1 = 0.85, b2 = 0.99, eps = 1e-7;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, lr));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_MOMENTUM, mu));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_NESTEROV, nesterov));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_BETA1, b1));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_BETA2, b2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_EPSILON, eps));
    size_t P;
    double *w = weights_dump(m, &P);
    double *v = calloc(P, sizeof *v), *s2 = calloc(P, sizeof *s2);
    for (int t = 1; t <= 5; t++) {
        double *g = gradient_at(m, TX, TY, 3, 0);
        for (size_t i = 0; i < P; i++) {
            if (opt == ANN_OPTIMIZER_MOMENTUM) {
                v[i] = mu * v[i] + g[i];
                w[i] -= lr * (nesterov ? g[i] + mu * v[i] : v[i]);
            } else { /* Adam, Kingma & Ba with bias correction */
                v[i] = b1 * v[i] + (1 - b1) * g[i];
                s2[i] = b2 * s2[i] + (1 - b2) * g[i] * g[i];
                double mhat = v[i] / (1 - pow(b1, t)), vhat = s2[i] / (1 - pow(b2, t));
                w[i] -= lr * mhat / (sqrt(vhat) + eps);
            }
        }
        free(g);
        ASSERT_OK(ann_train_batch(m, TX, TY, 3));
        double *got = weights_dump(m, NULL);
        assert_close_buf(got, w, P, 1e-12);
        free(got);
    }
    double steps;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_STEPS, &steps));
    assert_true(steps == 5);
    free(w);
    free(v);
    free(s2);
    ann_destroy(m);
}

static void test_optimizer_rules(void **state)
{
    (void)state;
    run_rule(ANN_OPTIMIZER_MOMENTUM, 0);
    run_rule(ANN_OPTIMIZER_MOMENTUM, 1);
    run_rule(ANN_OPTIMIZER_ADAM, 0);
}

static void test_l2_and_decay(void **state)
{
    (void)state;
    /* L2: weights get l2*w added to their gradient, biases do not */
    ann *m = tiny();
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, 0.3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.1));
    size_t P;
    double *w = weights_dump(m, &P);
    double *g = gradient_at(m, TX, TY, 3, 0);
    ASSERT_OK(ann_train_batch(m, TX, TY, 3));
    double *got = weights_dump(m, NULL);
    /* layout per layer: W (units x fan_in) then b */
    size_t layer_sizes[][2] = {{3, 3}, {1, 3}}, off = 0;
    for (int l = 0; l < 2; l++) {
        size_t nw = layer_sizes[l][0] * layer_sizes[l][1], nb = layer_sizes[l][0];
        for (size_t i = 0; i < nw + nb; i++) {
            double want = w[off + i] - 0.1 * (g[off + i] + (i < nw ? 0.3 * w[off + i] : 0));
            assert_true(fabs(got[off + i] - want) < 1e-14);
        }
        off += nw + nb;
    }
    free(w);
    free(g);
    free(got);
    ann_destroy(m);

    /* decay: epoch e (counted over the handle's life) uses lr/(1+d*e) */
    m = tiny();
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LR_DECAY, 0.5));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    for (int e = 0; e < 3; e++) {
        w = weights_dump(m, &P);
        g = gradient_at(m, TX, TY, 3, 0);
        ASSERT_OK(ann_fit(m, TX, TY, 3));
        got = weights_dump(m, NULL);
        for (size_t i = 0; i < P; i++)
            assert_true(fabs(got[i] - (w[i] - 0.2 / (1 + 0.5 * e) * g[i])) < 1e-14);
        free(w);
        free(g);
        free(got);
    }
    /* reset_state restarts the decay schedule */
    ASSERT_OK(ann_reset_state(m));
    double steps;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_STEPS, &steps));
    assert_true(steps == 0);
    ann_destroy(m);
}

/* A 3-class problem: three Gaussian blobs in 2-D. */
enum { C_N = 600 };
static void blobs(double *X, int32_t *lab, double *onehot, uint64_t seed)
{
    static const double cx[] = {0, 2.5, -2.5}, cy[] = {2.5, -1.5, -1.5};
    uint64_t s = seed;
    for (int i = 0; i < C_N; i++) {
        int c = i % 3;
        X[2 * i] = cx[c] + 1.1 * t_normal(&s);
        X[2 * i + 1] = cy[c] + 1.1 * t_normal(&s);
        lab[i] = c;
        for (int k = 0; k < 3; k++)
            onehot[3 * i + k] = k == c;
    }
}

static ann *classifier(void)
{
    size_t u[] = {16, 3};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m = make_net(2, 2, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 8));
    return m;
}

static void test_labels(void **state)
{
    (void)state;
    double *X = malloc(C_N * 2 * sizeof *X), *Y = malloc(C_N * 3 * sizeof *Y);
    int32_t *lab = malloc(C_N * sizeof *lab), *pred = malloc(C_N * sizeof *pred);
    blobs(X, lab, Y, 1);
    ann *a = classifier(), *b = classifier();
    ASSERT_OK(ann_fit_labels(a, X, lab, C_N));
    ASSERT_OK(ann_fit(b, X, Y, C_N));
    assert_true(weights_same(a, b)); /* labels are exactly one-hot targets */
    ASSERT_OK(ann_predict_labels(a, X, C_N, pred));
    int ok = 0;
    for (int i = 0; i < C_N; i++)
        ok += pred[i] == lab[i];
    printf("3-class blobs: training accuracy %.3f after 10 epochs\n", ok / (double)C_N);
    assert_true(ok > 0.85 * C_N);
    /* predict returns probabilities; labels are their argmax */
    double *P = malloc(C_N * 3 * sizeof *P);
    ASSERT_OK(ann_predict(a, X, C_N, P));
    for (int i = 0; i < C_N; i++) {
        double s = P[3 * i] + P[3 * i + 1] + P[3 * i + 2];
        assert_true(fabs(s - 1) < 1e-12);
        for (int k = 0; k < 3; k++)
            assert_true(P[3 * i + pred[i]] >= P[3 * i + k]);
    }
    ann_destroy(a);
    ann_destroy(b);

    /* binary: one sigmoid output, labels {0,1}, threshold 0.5 */
    size_t u[] = {8, 1};
    ann_activation act[] = {ANN_ACT_TANH, ANN_ACT_SIGMOID};
    ann *m = make_net(2, 2, u, act);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    for (int i = 0; i < C_N; i++)
        lab[i] = lab[i] == 0;
    assert_int_equal(ann_fit_labels(m, X, lab, C_N), ANN_OK);
    ASSERT_OK(ann_predict_labels(m, X, C_N, pred));
    ASSERT_OK(ann_predict(m, X, C_N, P));
    ok = 0;
    for (int i = 0; i < C_N; i++) {
        ok += pred[i] == lab[i];
        assert_int_equal(pred[i], P[i] >= 0.5);
    }
    assert_true(ok > 0.9 * C_N);
    lab[5] = 2;
    assert_int_equal(ann_fit_labels(m, X, lab, C_N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "labels[5]"));
    ann_destroy(m);
    free(X);
    free(Y);
    free(lab);
    free(pred);
    free(P);
}

/* Each optimizer reaches a lower loss than plain SGD in the same epochs. */
static double final_loss(int opt, int problem)
{
    ann *m;
    double loss;
    if (problem == 0) {
        enum { N = 1000 };
        double *X = malloc(N * 4 * sizeof *X), *y = malloc(N * sizeof *y), mu[4], sd[4], my, sy;
        house_make(N, 3, X, y);
        col_stats(X, N, 4, mu, sd);
        standardise(X, N, 4, mu, sd);
        col_stats(y, N, 1, &my, &sy);
        standardise(y, N, 1, &my, &sy);
        size_t u[] = {8, 1};
        ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
        m = make_net(4, 2, u, a);
        ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, opt == ANN_OPTIMIZER_ADAM ? 0.01 : 0.02));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 8));
        ASSERT_OK(ann_fit(m, X, y, N));
        ASSERT_OK(ann_evaluate(m, X, y, N, &loss));
        free(X);
        free(y);
    } else {
        double *X = malloc(C_N * 2 * sizeof *X), *Y = malloc(C_N * 3 * sizeof *Y);
        int32_t *lab = malloc(C_N * sizeof *lab);
        blobs(X, lab, Y, 2);
        m = classifier();
        ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, opt == ANN_OPTIMIZER_ADAM ? 0.01 : 0.02));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 5));
        ASSERT_OK(ann_fit_labels(m, X, lab, C_N));
        ASSERT_OK(ann_evaluate(m, X, Y, C_N, &loss));
        free(X);
        free(Y);
        free(lab);
    }
    ann_destroy(m);
    return loss;
}

static void test_optimizers_beat_sgd(void **state)
{
    (void)state;
    for (int problem = 0; problem < 2; problem++) {
        double sgd = final_loss(ANN_OPTIMIZER_SGD, problem);
        double mom = final_loss(ANN_OPTIMIZER_MOMENTUM, problem);
        double adam = final_loss(ANN_OPTIMIZER_ADAM, problem);
        printf("%s: loss after equal epochs: SGD %.4f, momentum %.4f, Adam %.4f\n",
               problem ? "3-class blobs" : "house prices", sgd, mom, adam);
        assert_true(mom < sgd);
        assert_true(adam < sgd);
    }
}

/* Online steps: consecutive train_batch calls equal one ann_fit over the
 * same rows in the same order, bitwise, for every optimizer; and two fits
 * of E epochs equal one fit of 2E epochs (a warm start continues). */
static void test_online_and_warm_start(void **state)
{
    (void)state;
    enum { N = 300, B = 25 };
    double *X = malloc(N * 4 * sizeof *X), *y = malloc(N * sizeof *y);
    house_make(N, 4, X, y);
    double mu[4], sd[4], my, sy;
    col_stats(X, N, 4, mu, sd);
    standardise(X, N, 4, mu, sd);
    col_stats(y, N, 1, &my, &sy);
    standardise(y, N, 1, &my, &sy);
    for (int opt = 0; opt < 3; opt++) {
        size_t u[] = {40, 120, 1}; /* the second layer takes the BLAS path */
        ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_IDENTITY};
        ann *f = make_net(4, 3, u, a), *o = NULL;
        ASSERT_OK(ann_set_param(f, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(f, ANN_PARAM_SHUFFLE, 0));
        ASSERT_OK(ann_set_param(f, ANN_PARAM_BATCH_SIZE, B));
        ASSERT_OK(ann_set_param(f, ANN_PARAM_EPOCHS, 1));
        ASSERT_OK(ann_set_param(f, ANN_PARAM_L2, 1e-3));
        ASSERT_OK(ann_clone(f, &o));
        ASSERT_OK(ann_fit(f, X, y, N));
        for (size_t s = 0; s < N; s += B)
            ASSERT_OK(ann_train_batch(o, X + 4 * s, y + s, B));
        assert_true(weights_same(f, o));
        ann_destroy(o);

        /* warm start with shuffling, decay and optimizer state */
        ann *w1 = make_net(4, 3, u, a), *w2 = NULL;
        ASSERT_OK(ann_set_param(w1, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(w1, ANN_PARAM_LR_DECAY, 0.1));
        ASSERT_OK(ann_set_param(w1, ANN_PARAM_BATCH_SIZE, B));
        ASSERT_OK(ann_clone(w1, &w2));
        ASSERT_OK(ann_set_param(w1, ANN_PARAM_EPOCHS, 4));
        ASSERT_OK(ann_set_param(w2, ANN_PARAM_EPOCHS, 2));
        ASSERT_OK(ann_fit(w1, X, y, N));
        double l_half;
        ASSERT_OK(ann_fit(w2, X, y, N));
        ASSERT_OK(ann_evaluate(w2, X, y, N, &l_half));
        ASSERT_OK(ann_fit(w2, X, y, N));
        assert_true(weights_same(w1, w2));
        double l_end;
        ASSERT_OK(ann_evaluate(w2, X, y, N, &l_end));
        assert_true(l_end < l_half); /* continued, not restarted */
        ann_destroy(w1);
        ann_destroy(w2);
        ann_destroy(f);
    }
    free(X);
    free(y);
}

typedef struct {
    double val[64];
    double train[64];
    size_t n;
    size_t stop_at;
} log_ctx;

static int logger(void *user, size_t epoch, double tl, double vl)
{
    log_ctx *c = user;
    assert_int_equal(epoch, c->n + 1);
    c->train[c->n] = tl;
    c->val[c->n++] = vl;
    return c->stop_at && epoch == c->stop_at;
}

static void test_early_stopping(void **state)
{
    (void)state;
    /* few rows, a big network, noisy targets: it overfits, so the
     * validation loss turns up and early stopping must fire */
    enum { N = 120 };
    double X[N * 4], y[N], mu[4], sd[4], my, sy;
    house_make(N, 6, X, y);
    col_stats(X, N, 4, mu, sd);
    standardise(X, N, 4, mu, sd);
    col_stats(y, N, 1, &my, &sy);
    standardise(y, N, 1, &my, &sy);
    uint64_t s = 5;
    for (int i = 0; i < N; i++)
        y[i] += 0.5 * t_normal(&s);
    size_t u[] = {64, 64, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 3, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0)); /* validation = last 25% */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.25));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PATIENCE, 5));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 8));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 60));
    log_ctx c = {{0}, {0}, 0, 0};
    ASSERT_OK(ann_set_progress(m, logger, &c));
    ASSERT_OK(ann_fit(m, X, y, N));
    double run, best_epoch;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_EPOCHS_RUN, &run));
    ASSERT_OK(ann_get_param(m, ANN_PARAM_BEST_EPOCH, &best_epoch));
    assert_int_equal((size_t)run, c.n);
    assert_true(c.n < 60); /* it stopped early */
    size_t argmin = 0;
    for (size_t e = 0; e < c.n; e++)
        if (c.val[e] < c.val[argmin])
            argmin = e;
    assert_int_equal((size_t)best_epoch, argmin + 1);
    assert_int_equal(c.n, argmin + 1 + 5); /* patience epochs after the best */
    /* the restored weights are the best epoch's: their validation loss */
    double vloss;
    ASSERT_OK(ann_evaluate(m, X + 90 * 4, y + 90, 30, &vloss));
    assert_true(fabs(vloss - c.val[argmin]) < 1e-12 * fmax(1, vloss));
    assert_true(vloss < c.val[c.n - 1]);
    printf("early stopping: best epoch %zu of %zu run, validation loss %.4f (last %.4f)\n",
           argmin + 1, c.n, vloss, c.val[c.n - 1]);
    ann_destroy(m);
}

static void test_callback_stop(void **state)
{
    (void)state;
    enum { N = 200 };
    double X[N * 4], y[N];
    house_make(N, 7, X, y);
    double mu[4], sd[4], my, sy;
    col_stats(X, N, 4, mu, sd);
    standardise(X, N, 4, mu, sd);
    col_stats(y, N, 1, &my, &sy);
    standardise(y, N, 1, &my, &sy);
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 2, u, a), *ref = NULL;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 10));
    ASSERT_OK(ann_clone(m, &ref));
    log_ctx c = {{0}, {0}, 0, 3};
    ASSERT_OK(ann_set_progress(m, logger, &c));
    assert_int_equal(ann_fit(m, X, y, N), ANN_STOPPED);
    assert_non_null(strstr(ann_errmsg(m), "epoch 3"));
    assert_int_equal(c.n, 3);
    assert_true(isnan(c.val[0])); /* no validation set */
    double run, tl;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_EPOCHS_RUN, &run));
    assert_true(run == 3);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_TRAIN_LOSS, &tl));
    assert_true(tl == c.train[2]);
    ASSERT_OK(ann_set_param(ref, ANN_PARAM_EPOCHS, 3));
    ASSERT_OK(ann_fit(ref, X, y, N));
    assert_true(weights_same(m, ref)); /* weights as of the completed epoch */
    ASSERT_OK(ann_set_progress(m, NULL, NULL));
    ann_destroy(m);
    ann_destroy(ref);
}

/* Plain SGD steps BLAS-sized layers inside the weight-gradient GEMM, and
 * momentum with OpenBLAS on more than one thread (the default on a
 * multi-core machine) through the GEMM and an axpy; both leave the
 * weights' finiteness to the next forward pass, or to the end of the
 * epoch (ann__ws.w_pending).  On one thread (run again in a child
 * process) momentum's carried-velocity pass checks them itself.  An 80-64(ReLU)-1 net whose layer-0 step
 * overflows in the first batch while the loss is still finite (huge
 * finite inputs and targets, a small W0 and W1 = 1, so that layer 1's
 * checked step stays finite): the fit must name batch 1 and restore the
 * weights, whether the next forward (4 batches) or the epoch's end (1
 * batch) finds it; ann_train_batch must leave the weights unchanged. */
static void divergence_fused_cases(void)
{
    enum { IN = 80, H = 64, N = 32, B = 8 };
    static double X[N * IN], Y[N], W0[H * IN], b0[H], W1[H], b1[1];
    for (int c = 0; c < 4; c++) {
        int f32 = c & 1, opt = c & 2 ? ANN_OPTIMIZER_MOMENTUM : ANN_OPTIMIZER_SGD;
        double xs = f32 ? 1e4 : 1e150, ys = f32 ? 1e30 : 1e153;
        uint64_t s = 99;
        for (size_t i = 0; i < N * IN; i++)
            X[i] = xs * t_unif(&s);
        for (size_t i = 0; i < N; i++)
            Y[i] = -ys;
        for (size_t i = 0; i < H * IN; i++)
            W0[i] = 1e-6 * (t_unif(&s) - 0.5);
        for (size_t i = 0; i < H; i++)
            W1[i] = 1;
        for (size_t rows = B; rows <= N; rows += N - B) {
            size_t u[2] = {H, 1};
            ann_activation a[2] = {ANN_ACT_RELU, ANN_ACT_IDENTITY};
            ann *m = make_net(IN, 2, u, a);
            if (f32)
                ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e6));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, B));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
            ASSERT_OK(ann_set_weights(m, 0, W0, b0));
            ASSERT_OK(ann_set_weights(m, 1, W1, b1));
            size_t n;
            double *before = weights_dump(m, &n);
            assert_int_equal(ann_fit(m, X, Y, rows), ANN_ERR_DIVERGED);
            if (!strstr(ann_errmsg(m), "update overflowed in epoch 1, batch 1;"))
                fail_msg("f32 %d, optimizer %d, %zu rows: %s", f32, opt, rows, ann_errmsg(m));
            assert_true(weights_equal_buf(m, before));
            assert_int_equal(ann_train_batch(m, X, Y, B), ANN_ERR_DIVERGED);
            assert_non_null(strstr(ann_errmsg(m), "update overflowed; weights unchanged"));
            assert_true(weights_equal_buf(m, before));
            free(before);
            ann_destroy(m);
        }
    }
}

/* argv[0]: the tests run parts of themselves in child processes. */
static const char *self_path;

/* Run this executable with argv and OPENBLAS_NUM_THREADS=threads (the
 * parent's environment otherwise); its stdout into buf (NUL-terminated). */
static void run_with_threads(const char *threads, char *const argv[], char *buf, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char env_threads[64];
    snprintf(env_threads, sizeof env_threads, "OPENBLAS_NUM_THREADS=%s", threads);
    size_t ne = 0;
    while (environ[ne]) ne++;
    char **env = calloc(ne + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) != 0)
            env[k++] = environ[i];
    env[k++] = env_threads;
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self_path, &fa, NULL, argv, env), 0);
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fds[0], buf + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
}

static void test_divergence_fused_sgd(void **state)
{
    (void)state;
    divergence_fused_cases();
    char buf[16];
    char *argv[] = {(char *)self_path, (char *)"--divergence", NULL};
    run_with_threads("1", argv, buf, sizeof buf);
    assert_string_equal(buf, "ok\n");
}

static void test_divergence_rollback(void **state)
{
    (void)state;
    enum { N = 64, B = 8 };
    double X[N * 4], Xs[N * 4], y[N];
    house_make(N, 8, X, y); /* raw, unscaled: large inputs */
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_IDENTITY};
    for (int opt = 0; opt < 3; opt++) {
        ann *m = make_net(4, 2, u, a), *ref = NULL;
        ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, opt == 2 ? 1e6 : 1e3));
        /* Adam's steps are bounded by the rate: only absurd inputs make it
         * overflow (finite, but their squares are not) */
        double scale_x = opt == 2 ? 1e152 : 1;
        for (int i = 0; i < N * 4; i++)
            Xs[i] = X[i] * scale_x;
        ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, B));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1000));
        ASSERT_OK(ann_clone(m, &ref));
        ann_status st = ann_fit(m, Xs, y, N);
        assert_int_equal(st, ANN_ERR_DIVERGED);
        size_t epoch = 0, batch = 0;
        const char *msg = ann_errmsg(m);
        const char *p = strstr(msg, "epoch ");
        assert_non_null(p);
        sscanf(p, "epoch %zu, batch %zu", &epoch, &batch);
        assert_true(epoch >= 1 && batch >= 1);
        size_t n;
        double *w = weights_dump(m, &n);
        for (size_t i = 0; i < n; i++)
            assert_true(isfinite(w[i]));
        free(w);
        if (strstr(msg, "before that batch")) {
            /* replay every step before the failing one: same weights */
            size_t steps = (epoch - 1) * (N / B) + (batch - 1);
            for (size_t k = 0; k < steps; k++)
                ASSERT_OK(ann_train_batch(ref, Xs + 4 * (k % (N / B)) * B, y + (k % (N / B)) * B, B));
            assert_true(weights_same(m, ref));
            double s1, s2;
            ASSERT_OK(ann_get_param(m, ANN_PARAM_STEPS, &s1));
            ASSERT_OK(ann_get_param(ref, ANN_PARAM_STEPS, &s2));
            assert_true(s1 == s2);
        }
        printf("divergence (optimizer %d): %s\n", opt, msg);
        /* the model remains usable */
        double out[N];
        ASSERT_OK(ann_predict(m, Xs, N, out));
        ann_destroy(m);
        ann_destroy(ref);
    }
}

/* A diverging momentum fit on a net with a BLAS-sized layer (4-80-64-1:
 * 5120 weights in layer 1), whose velocity may be carried between the
 * steps of an epoch (engine_tmpl.h): whatever state the failed fit names
 * ("before that batch" or "the start of epoch e"), replaying that many
 * steps with ann_train_batch must give the same weights, and one more
 * step on both the same weights again, which checks the velocity too.
 * Returns the message's kind (1: before that batch, 2: epoch start). */
static int divergence_momentum_replay(void)
{
    enum { N = 64, B = 8 };
    double X[N * 4], y[N];
    house_make(N, 8, X, y); /* raw, unscaled: large inputs */
    size_t u[] = {80, 64, 1};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 3, u, a), *ref = NULL;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e-4));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, B));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1000));
    ASSERT_OK(ann_clone(m, &ref));
    double *w0 = weights_dump(m, NULL);
    assert_int_equal(ann_fit(m, X, y, N), ANN_ERR_DIVERGED);
    const char *msg = ann_errmsg(m);
    size_t epoch = 0, batch = 0;
    const char *p = strstr(msg, "epoch ");
    assert_non_null(p);
    sscanf(p, "epoch %zu, batch %zu", &epoch, &batch);
    int kind = strstr(msg, "before that batch") ? 1 : strstr(msg, "start of epoch") ? 2 : 0;
    if (!kind || epoch < 1 || batch < 1)
        fail_msg("%s", msg);
    size_t steps = (epoch - 1) * (N / B) + (kind == 1 ? batch - 1 : 0);
    for (size_t k = 0; k < steps; k++)
        ASSERT_OK(ann_train_batch(ref, X + 4 * (k % (N / B)) * B, y + (k % (N / B)) * B, B));
    assert_true(weights_same(m, ref));
    /* one more step on both, from the initial weights (ann_set_weights
     * keeps the optimizer state) so that it stays finite: its step is
     * lr (mu V + g), so the velocities must be the same too */
    weights_load(m, w0);
    weights_load(ref, w0);
    free(w0);
    double Xn[B * 4], yn[B];
    for (size_t i = 0; i < B * 4; i++)
        Xn[i] = X[i] / 1000;
    for (size_t i = 0; i < B; i++)
        yn[i] = y[i] / 1000;
    ASSERT_OK(ann_train_batch(m, Xn, yn, B));
    ASSERT_OK(ann_train_batch(ref, Xn, yn, B));
    assert_true(weights_same(m, ref));
    ann_destroy(m);
    ann_destroy(ref);
    return kind;
}

static void test_divergence_momentum_state(void **state)
{
    (void)state;
    int here = divergence_momentum_replay();
    char buf[16];
    char *argv[] = {(char *)self_path, (char *)"--divergence-momentum", NULL};
    run_with_threads("1", argv, buf, sizeof buf);
    printf("diverging momentum fit restored %s (default threads), %s (1 thread)\n",
           here == 1 ? "to before the batch" : "to the epoch's start",
           buf[0] == '1' ? "to before the batch" : "to the epoch's start");
    assert_true(buf[0] == '1' || buf[0] == '2');
}

/* Same seed, same data: the same weights whatever OpenBLAS's thread count.
 * The child processes print a digest of their weights. */
static uint64_t train_digest(void)
{
    enum { N = 512 };
    double *X = malloc(N * 64 * sizeof *X), *y = malloc(N * 10 * sizeof *y);
    uint64_t s = 77;
    for (int i = 0; i < N * 64; i++)
        X[i] = t_normal(&s);
    for (int i = 0; i < N * 10; i++)
        y[i] = t_normal(&s);
    size_t u[] = {256, 128, 10};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(64, 3, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 128));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    ASSERT_OK(ann_fit(m, X, y, N));
    size_t n;
    double *w = weights_dump(m, &n);
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)w;
    for (size_t i = 0; i < n * sizeof *w; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    free(w);
    free(X);
    free(y);
    ann_destroy(m);
    return h;
}

static uint64_t digest_with_threads(const char *threads)
{
    char buf[64];
    char *argv[] = {(char *)self_path, (char *)"--digest", NULL};
    run_with_threads(threads, argv, buf, sizeof buf);
    assert_true(buf[0] != 0);
    return strtoull(buf, NULL, 16);
}

static void test_thread_count_reproducible(void **state)
{
    (void)state;
    uint64_t d1 = digest_with_threads("1"), d2 = digest_with_threads("2");
    printf("weights digest: OPENBLAS_NUM_THREADS=1 %016llx, =2 %016llx\n",
           (unsigned long long)d1, (unsigned long long)d2);
    assert_true(d1 == d2);
    assert_true(d1 == train_digest());
}

/* A net whose products OpenBLAS splits unevenly between threads: 300
 * inputs (an inner dimension over 256), batch 250 and a remainder batch
 * of 100, 40 hidden units.  Saved to path by the child process. */
static int uneven_fit_save(const char *path, int f32, double l2)
{
    enum { N = 600, D = 300 };
    double *X = malloc(N * D * sizeof *X), *y = malloc(N * 3 * sizeof *y);
    uint64_t s = 91;
    for (int i = 0; i < N * D; i++)
        X[i] = t_normal(&s);
    for (int i = 0; i < N * 3; i++)
        y[i] = t_normal(&s);
    size_t u[] = {40, 3};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL;
    int bad = ann_create(&m, D, 2, u, a) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_PRECISION,
                            f32 ? ANN_PRECISION_F32 : ANN_PRECISION_F64) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_SEED, 5) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_BATCH_SIZE, 250) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_EPOCHS, 3) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01) != ANN_OK ||
              ann_set_param(m, ANN_PARAM_L2, l2) != ANN_OK ||
              ann_fit(m, X, y, N) != ANN_OK || ann_save(m, path) != ANN_OK;
    ann_destroy(m);
    free(X);
    free(y);
    return bad;
}

/* What ann_fit promises across thread counts (ann.h): bitwise the same
 * weights for the same OPENBLAS_NUM_THREADS, and weights that agree to
 * rounding for different ones, also where OpenBLAS's split of a product
 * between threads changes its kernels' rounding (float32, and float64
 * shapes like these).  Momentum on more than one thread steps layer 0
 * through its GEMM and an axpy (engine_tmpl.h), on one thread through
 * the carried velocity's pass: the two must agree, with and without
 * L2. */
static void test_thread_count_rounding(void **state)
{
    (void)state;
    for (int c = 0; c < 4; c++) {
        int f32 = c & 1;
        const char *l2 = c & 2 ? "0.001" : "0";
        const char *thr[3] = {"1", "2", "2"};
        ann *m[3];
        for (int k = 0; k < 3; k++) {
            char path[4096], buf[64];
            snprintf(path, sizeof path, "%s.threads%d.%d.ann", self_path, c, k);
            char *argv[] = {(char *)self_path, (char *)"--save-uneven", path,
                            (char *)(f32 ? "f32" : "f64"), (char *)l2, NULL};
            run_with_threads(thr[k], argv, buf, sizeof buf);
            ASSERT_OK(ann_load(&m[k], path));
            unlink(path);
        }
        size_t n;
        double *w1 = weights_dump(m[0], &n), *w2 = weights_dump(m[1], NULL),
               *w2b = weights_dump(m[2], NULL);
        assert_memory_equal(w2, w2b, n * sizeof *w2);
        double big = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            big = fmax(big, fabs(w1[i]));
            diff = fmax(diff, fabs(w1[i] - w2[i]));
        }
        printf("%s, l2 %s, 300-40-3 at batch 250: 1 and 2 threads %s (largest difference "
               "%.3g, largest weight %.3g)\n", f32 ? "float32" : "float64", l2,
               diff == 0 ? "bitwise equal" : "differ", diff, big);
        assert_true(big > 0.01);
        assert_true(diff <= (f32 ? 1e-5 : 1e-12) * big);
        free(w1);
        free(w2);
        free(w2b);
        for (int k = 0; k < 3; k++)
            ann_destroy(m[k]);
    }
}

/* Momentum on BLAS-sized layers against the rule computed by hand, over
 * two epochs of ann_fit: 60-80-70-1, so both hidden layers' weights take
 * a GEMM path (the float64 GEMM + axpy path on more than one OpenBLAS
 * thread, the carried velocity otherwise: engine_tmpl.h), N rows at
 * batch 25 (301: each epoch ends with a one-row step), then one
 * ann_train_batch step.  The reference steps
 * a copy of the weights, v = mu v + g, w -= lr v, with g the batch
 * gradient (incl. l2 w) at the reference's own weights.  Returns the
 * largest difference relative to the largest weight. */
static double momentum_rule_err(int f32, double l2, size_t N)
{
    enum { D = 60, B = 25, E = 2 };
    const double lr = 0.05, mu = 0.9;
    double *X = malloc(N * D * sizeof *X), *y = malloc(N * sizeof *y);
    uint64_t s = 17;
    for (size_t i = 0; i < N * D; i++)
        X[i] = t_normal(&s);
    for (size_t i = 0; i < N; i++)
        y[i] = sin(X[i * D]) + 0.5 * X[i * D + 1] * X[i * D + 2];
    size_t u[] = {80, 70, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_IDENTITY};
    ann *m = make_net(D, 3, u, a), *r = NULL;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, f32 ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 3));
    ASSERT_OK(ann_reinit(m));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_MOMENTUM, mu));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, lr));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, l2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, B));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, E));
    ASSERT_OK(ann_clone(m, &r));
    ASSERT_OK(ann_fit(m, X, y, N));
    /* then one ann_train_batch step, which reads the velocity fit left */
    ASSERT_OK(ann_train_batch(m, X, y, B));
    size_t P;
    double *w = weights_dump(r, &P), *v = calloc(P, sizeof *v);
    for (int e = 0; e <= E; e++)
        for (size_t st = 0; st < (e < E ? N : 1); st += B) {
            size_t cnt = N - st < B ? N - st : B;
            double *g = gradient_at(r, X + st * D, y + st, cnt, l2);
            for (size_t i = 0; i < P; i++) {
                v[i] = mu * v[i] + g[i];
                w[i] -= lr * v[i];
            }
            free(g);
            weights_load(r, w);
            if (f32) /* the reference's weights rounded as the model's */
                free(w), w = weights_dump(r, NULL);
        }
    double *got = weights_dump(m, NULL), big = 0, diff = 0;
    for (size_t i = 0; i < P; i++) {
        big = fmax(big, fabs(w[i]));
        diff = fmax(diff, fabs(got[i] - w[i]));
    }
    free(got);
    free(w);
    free(v);
    free(X);
    free(y);
    ann_destroy(m);
    ann_destroy(r);
    return big > 0.01 ? diff / big : INFINITY;
}

/* momentum_rule_err at OpenBLAS's default thread count (here) and on one
 * thread (a child process): float64 takes a different path in each. */
static void test_momentum_blas_rule(void **state)
{
    (void)state;
    for (int c = 0; c < 8; c++) {
        int f32 = c & 1;
        size_t N = c & 4 ? 301 : 300;
        double l2 = c & 2 ? 1e-2 : 0, tol = f32 ? 2e-6 : 1e-12;
        double here = momentum_rule_err(f32, l2, N);
        char rows[16];
        snprintf(rows, sizeof rows, "%zu", N);
        char buf[64];
        char *argv[] = {(char *)self_path, (char *)"--momentum-rule",
                        (char *)(f32 ? "f32" : "f64"), (char *)(l2 != 0 ? "0.01" : "0"), rows,
                        NULL};
        run_with_threads("1", argv, buf, sizeof buf);
        double one = strtod(buf, NULL);
        printf("%s momentum, l2 %g, 60-80-70-1, %zu rows: relative difference from the rule %.3g "
               "(default threads), %.3g (1 thread)\n", f32 ? "float32" : "float64", l2, N, here, one);
        assert_true(buf[0] != 0);
        assert_true(here <= tol);
        assert_true(one <= tol);
    }
}

/* A bad X value is found while the first epoch gathers its row, after
 * earlier batches have stepped the weights: ann_fit must still report it
 * as the check before training did (status, "X[r][c]") and leave the model
 * exactly as it was - its whole saved state (weights, optimizer state,
 * counters, generator) byte for byte, so that the next fit equals the same
 * fit on a copy taken before.  Every gather path: shuffled rows copied,
 * rows used in place (float32 rows into a float32 model, unshuffled) and
 * rows converted in order (doubles into a float32 model, unshuffled); each
 * optimizer; a model with optimizer state from an earlier fit and a fresh
 * one; a bad row early and late; and a fit that diverges before it reaches
 * the bad row. */
static void test_bad_row_mid_fit(void **state)
{
    (void)state;
    enum { NR = 400, NI = 6, NO = 2 };
    double X[NR * NI], Y[NR * NO];
    float Xf[NR * NI];
    uint64_t st = 42;
    for (size_t i = 0; i < NR * NI; i++)
        X[i] = 2 * t_unif(&st) - 1;
    for (size_t r = 0; r < NR; r++)
        for (size_t k = 0; k < NO; k++)
            Y[r * NO + k] = X[r * NI + k] * X[r * NI + k + 1];
    const ann_optimizer opts[] = {ANN_OPTIMIZER_SGD, ANN_OPTIMIZER_MOMENTUM, ANN_OPTIMIZER_ADAM};
    const size_t bad_rows[] = {0, 333};
    static unsigned char before[1 << 16], after[1 << 16];
    int diverged_first = 0;
    for (int path = 0; path < 3; path++)
        for (size_t oi = 0; oi < 3; oi++)
            for (int warm = 0; warm < 2; warm++)
                for (size_t bi = 0; bi < 2; bi++)
                    for (int diverge = 0; diverge < 2; diverge++) {
                        size_t u[] = {40, NO};
                        ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_IDENTITY};
                        ann *m = make_net(NI, 2, u, a);
                        ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opts[oi]));
                        ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 16));
                        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 2));
                        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01));
                        if (path > 0) {
                            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
                            ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
                        }
                        if (warm)
                            ASSERT_OK(ann_fit(m, X, Y, NR));
                        size_t r = bad_rows[bi], c = 3;
                        X[r * NI + c] = diverge ? -INFINITY : NAN;
                        for (size_t i = 0; i < NR * NI; i++)
                            Xf[i] = (float)X[i];
                        if (diverge) { /* overflows within the first batches */
                            ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e6));
                            /* confirm it does, with the bad value made good */
                            ann *probe;
                            ASSERT_OK(ann_clone(m, &probe));
                            X[r * NI + c] = 0.25;
                            diverged_first += ann_fit(probe, X, Y, NR) == ANN_ERR_DIVERGED;
                            X[r * NI + c] = -INFINITY;
                            ann_destroy(probe);
                        }
                        ann *twin;
                        ASSERT_OK(ann_clone(m, &twin));
                        size_t nb = 0, na = 0;
                        ASSERT_OK(ann_save_buffer(m, before, sizeof before, &nb));
                        ann_matrix xv = {ANN_DTYPE_F32, NR, NI, NI, 1, Xf};
                        ann_matrix yv = {ANN_DTYPE_F64, NR, NO, NO, 1, Y};
                        ann_status got = path == 1 ? ann_fit_view(m, &xv, &yv)
                                                   : ann_fit(m, X, Y, NR);
                        char want[32];
                        snprintf(want, sizeof want, "X[%zu][%zu]", r, c);
                        if (got != ANN_ERR_NON_FINITE || !strstr(ann_errmsg(m), want))
                            fail_msg("path %d opt %zu warm %d row %zu diverge %d: %d %s", path,
                                     oi, warm, r, diverge, (int)got, ann_errmsg(m));
                        ASSERT_OK(ann_save_buffer(m, after, sizeof after, &na));
                        assert_int_equal(na, nb);
                        assert_memory_equal(after, before, nb);
                        /* and the same future: one clean fit each */
                        X[r * NI + c] = 0.25;
                        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01));
                        ASSERT_OK(ann_set_param(twin, ANN_PARAM_LEARNING_RATE, 0.01));
                        ASSERT_OK(ann_fit(m, X, Y, NR));
                        ASSERT_OK(ann_fit(twin, X, Y, NR));
                        assert_true(weights_same(m, twin));
                        ann_destroy(twin);
                        ann_destroy(m);
                    }
    /* the diverging fits must have diverged on clean data (else that case
     * tests nothing): all of them with the bad row late */
    if (diverged_first < 3 * 3 * 2)
        fail_msg("only %d of the diverging fits diverged", diverged_first);
}

/* Inputs that are finite but overflow layer 0's pre-activations are not
 * bad input: in the first epoch, where the rows are checked (through those
 * pre-activations when they are read unconverted), the fit must not call
 * them non-finite.  Here every pre-activation is +Inf, tanh saturates at 1
 * and the fit goes on.  Both precisions, rows in place or copied
 * (shuffled), a GEMM-sized layer 0; for float32, the same bits as double
 * rows holding the same values (converted, so checked on the copy). */
static void test_fit_overflowing_inputs(void **state)
{
    (void)state;
    enum { NR = 64, NI = 8, U = 64 };
    static double X[NR * NI], Y[NR * 2], W0[U * NI];
    static float Xf[NR * NI];
    static unsigned char ref[1 << 17];
    for (size_t i = 0; i < U * NI; i++)
        W0[i] = 1e30;
    for (int prec = 0; prec < 2; prec++)
        for (int shuffle = 0; shuffle < 2; shuffle++) {
            double big = prec ? 3e38 : 1e300;
            for (size_t i = 0; i < NR * NI; i++) {
                X[i] = i % 2 ? big : 0.25 * (double)(i % 7);
                Xf[i] = (float)X[i];
            }
            for (size_t r = 0; r < NR; r++)
                Y[r * 2] = r % 2, Y[r * 2 + 1] = 1 - Y[r * 2];
            ann *m[2];
            for (int conv = 0; conv < 1 + prec; conv++) {
                size_t u[] = {U, 2};
                ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
                m[conv] = make_net(NI, 2, u, a);
                ASSERT_OK(ann_set_param(m[conv], ANN_PARAM_PRECISION,
                                        prec ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
                ASSERT_OK(ann_set_param(m[conv], ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
                ASSERT_OK(ann_set_param(m[conv], ANN_PARAM_SHUFFLE, shuffle));
                ASSERT_OK(ann_set_param(m[conv], ANN_PARAM_BATCH_SIZE, 16));
                ASSERT_OK(ann_set_weights(m[conv], 0, W0, NULL));
                /* prec 1: float rows (read as they are), then double rows */
                int f32 = prec && !conv;
                ann_matrix xv = {f32 ? ANN_DTYPE_F32 : ANN_DTYPE_F64, NR, NI, NI, 1,
                                 f32 ? (void *)Xf : (void *)X};
                ann_matrix yv = {ANN_DTYPE_F64, NR, 2, 2, 1, Y};
                ann_status st = ann_fit_view(m[conv], &xv, &yv);
                if (st != ANN_OK)
                    fail_msg("precision %d shuffle %d rows %s: %s (%s)", prec, shuffle,
                             f32 ? "float" : "double", ann_status_str(st),
                             ann_errmsg(m[conv]));
            }
            if (prec) {
                size_t n = 0;
                ASSERT_OK(ann_save_buffer(m[1], ref, sizeof ref, &n));
                t_assert_saves_as(m[0], ref, n);
                ann_destroy(m[1]);
            }
            ann_destroy(m[0]);
        }
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "--digest") == 0) {
        printf("%016llx\n", (unsigned long long)train_digest());
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--divergence-momentum") == 0) {
        printf("%d\n", divergence_momentum_replay());
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--divergence") == 0) {
        divergence_fused_cases();
        printf("ok\n");
        return 0;
    }
    if (argc > 4 && strcmp(argv[1], "--momentum-rule") == 0) {
        printf("%.17g\n", momentum_rule_err(strcmp(argv[2], "f32") == 0, atof(argv[3]),
                                            (size_t)atoi(argv[4])));
        return 0;
    }
    if (argc > 4 && strcmp(argv[1], "--save-uneven") == 0)
        return uneven_fit_save(argv[2], strcmp(argv[3], "f32") == 0, atof(argv[4]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizer_rules),
        cmocka_unit_test(test_l2_and_decay),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_optimizers_beat_sgd),
        cmocka_unit_test(test_online_and_warm_start),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_divergence_rollback),
        cmocka_unit_test(test_divergence_fused_sgd),
        cmocka_unit_test(test_divergence_momentum_state),
        cmocka_unit_test(test_thread_count_reproducible),
        cmocka_unit_test(test_thread_count_rounding),
        cmocka_unit_test(test_momentum_blas_rule),
        cmocka_unit_test(test_bad_row_mid_fit),
        cmocka_unit_test(test_fit_overflowing_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
