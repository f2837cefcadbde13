/* test_gradcheck.c - the numerics against independent references:
 *  - analytic gradients (one SGD step with learning rate 1 moves each
 *    weight by exactly -dL/dw) against central finite differences of
 *    ann_evaluate, for every activation (step excluded) x loss x depth 1-3;
 *  - forward passes and losses against values computed by hand here. */
#include "common.h"

#include <stdio.h>

enum { N_ROWS = 7, N_IN = 3 };

typedef struct {
    ann_activation out;
    ann_loss loss;
    size_t n_out;
} out_cfg;

static const out_cfg OUTS[] = {
    {ANN_ACT_IDENTITY, ANN_LOSS_SQUARED_ERROR, 2},
    {ANN_ACT_SIGMOID, ANN_LOSS_SQUARED_ERROR, 2},
    {ANN_ACT_TANH, ANN_LOSS_SQUARED_ERROR, 2},
    {ANN_ACT_RELU, ANN_LOSS_SQUARED_ERROR, 2},
    {ANN_ACT_LEAKY_RELU, ANN_LOSS_SQUARED_ERROR, 2},
    {ANN_ACT_SOFTMAX, ANN_LOSS_SQUARED_ERROR, 3},
    {ANN_ACT_SIGMOID, ANN_LOSS_CROSS_ENTROPY, 2},
    {ANN_ACT_SIGMOID, ANN_LOSS_CROSS_ENTROPY, 1},
    {ANN_ACT_SOFTMAX, ANN_LOSS_CROSS_ENTROPY, 3},
};
static const ann_activation HIDDEN[] = {ANN_ACT_IDENTITY, ANN_ACT_SIGMOID, ANN_ACT_TANH,
                                        ANN_ACT_RELU, ANN_ACT_LEAKY_RELU};

static double worst_rel = 0;
static int n_models = 0;

/* Max over weights of |analytic - numeric| / max(|analytic|, |numeric|, 1e-4 * scale),
 * scale = the largest gradient entry: a relative error that does not blow
 * up on entries that are zero up to rounding. */
static double check_model(size_t depth, ann_activation hidden, const out_cfg *oc, uint64_t seed)
{
    size_t units[3];
    ann_activation acts[3];
    for (size_t l = 0; l + 1 < depth; l++) {
        units[l] = 4 + l;
        acts[l] = hidden;
    }
    units[depth - 1] = oc->n_out;
    acts[depth - 1] = oc->out;
    ann *m = make_net(N_IN, depth, units, acts);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, (double)seed));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, oc->loss));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEAKY_SLOPE, 0.1));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1.0));
    /* Non-zero biases so ReLU kinks are not sitting at exactly 0. */
    uint64_t s = seed * 977 + 1;
    size_t n;
    double *w0 = weights_dump(m, &n);
    for (size_t i = 0; i < n; i++)
        w0[i] += 0.3 * (t_unif(&s) - 0.5);
    weights_load(m, w0);

    double X[N_ROWS * N_IN], Y[N_ROWS * 3];
    for (size_t i = 0; i < N_ROWS * N_IN; i++)
        X[i] = 2 * t_unif(&s) - 1;
    for (size_t r = 0; r < N_ROWS; r++) {
        double sum = 0;
        for (size_t k = 0; k < oc->n_out; k++) {
            Y[r * oc->n_out + k] = t_unif(&s);
            sum += Y[r * oc->n_out + k];
        }
        if (oc->out == ANN_ACT_SOFTMAX && oc->loss == ANN_LOSS_CROSS_ENTROPY && r % 2)
            for (size_t k = 0; k < oc->n_out; k++) /* half the rows proper distributions */
                Y[r * oc->n_out + k] /= sum;
    }

    /* numeric: for smooth networks, fourth-order central differences
     * (f(-2h) - 8f(-h) + 8f(h) - f(2h)) / 12h with truncation error O(h^4),
     * so h can be large enough that rounding stays ~1e-12; with ReLU kinks,
     * plain central differences with a small h so no kink is crossed. */
    int kinked = (depth > 1 && (hidden == ANN_ACT_RELU || hidden == ANN_ACT_LEAKY_RELU)) ||
                 oc->out == ANN_ACT_RELU || oc->out == ANN_ACT_LEAKY_RELU;
    double *num = malloc(n * sizeof *num), *w = malloc(n * sizeof *w);
    memcpy(w, w0, n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        double h = (kinked ? 1e-5 : 1e-4) * fmax(1.0, fabs(w0[i])), f[4];
        static const double off[4] = {-2, -1, 1, 2};
        for (int k = 0; k < 4; k++) {
            if (kinked && (k == 0 || k == 3))
                continue;
            w[i] = w0[i] + off[k] * h;
            weights_load(m, w);
            ASSERT_OK(ann_evaluate(m, X, Y, N_ROWS, &f[k]));
        }
        w[i] = w0[i];
        num[i] = kinked ? (f[2] - f[1]) / (2 * h)
                        : (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
    }
    weights_load(m, w0);
    /* analytic: one full-batch SGD step with learning rate 1 */
    ASSERT_OK(ann_train_batch(m, X, Y, N_ROWS));
    double *w1 = weights_dump(m, NULL);
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(num[i]));
    for (size_t i = 0; i < n; i++) {
        double an = w0[i] - w1[i];
        double den = fmax(fmax(fabs(an), fabs(num[i])), 1e-4 * scale);
        double rel = fabs(an - num[i]) / den;
        if (rel > worst)
            worst = rel;
    }
    free(num);
    free(w);
    free(w0);
    free(w1);
    ann_destroy(m);
    n_models++;
    return worst;
}

static void test_gradients(void **state)
{
    (void)state;
    uint64_t seed = 1;
    for (size_t depth = 1; depth <= 3; depth++) {
        size_t nh = depth == 1 ? 1 : sizeof HIDDEN / sizeof HIDDEN[0];
        for (size_t h = 0; h < nh; h++)
            for (size_t o = 0; o < sizeof OUTS / sizeof OUTS[0]; o++) {
                double rel = check_model(depth, HIDDEN[h], &OUTS[o], seed++);
                if (rel > worst_rel)
                    worst_rel = rel;
                if (rel >= 1e-6)
                    fail_msg("depth %zu hidden %d out %d loss %d: relative error %.3g",
                             depth, (int)HIDDEN[h], (int)OUTS[o].out, (int)OUTS[o].loss, rel);
            }
    }
    printf("gradient check: %d models, max relative error %.3g\n", n_models, worst_rel);
}

/* BLAS-sized layers (more than ANN__DIRECT_MAX = 4096 multiply-adds per
 * row) take plain SGD's fused step: the weight-gradient GEMM writes the
 * weights, W <- (1 - lr l2) W - lr D^T A (lib/engine_tmpl.h).  An
 * 80-64-72-3 tanh net (layers 0 and 1 fused, layer 2 a direct loop), 9
 * rows, learning rate 1:
 *  - float64, l2 = 0: w0 - w1 against fourth-order central differences of
 *    ann_evaluate, on every 5th parameter and every bias;
 *  - float64, l2 = 0.3: the same plus l2 * w0 on the weights (ann_evaluate
 *    has no L2 term), biases unpenalised;
 *  - float32, l2 = 0.3: the step from the same float-rounded start against
 *    float64's, relative to the largest step (float rounding only). */
enum { W_IN = 80, W_ROWS = 9, W_OUT = 3, W_L = 3 };
static const size_t W_UNITS[W_L] = {64, 72, W_OUT};

static ann *wide_net(int f32, double l2, const double *w)
{
    ann_activation a[W_L] = {ANN_ACT_TANH, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(W_IN, W_L, W_UNITS, a);
    if (f32)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1.0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, l2));
    if (w)
        weights_load(m, w);
    return m;
}

/* 1 if parameter i (in weights_dump's order) is a bias. */
static int wide_is_bias(size_t i)
{
    size_t off = 0, fan = W_IN;
    for (size_t l = 0; l < W_L; l++) {
        size_t nw = W_UNITS[l] * fan;
        if (i < off + nw)
            return 0;
        if (i < off + nw + W_UNITS[l])
            return 1;
        off += nw + W_UNITS[l];
        fan = W_UNITS[l];
    }
    return 0;
}

static double *wide_step(int f32, double l2, const double *w0, const double *X, const double *Y)
{
    ann *m = wide_net(f32, l2, w0);
    ASSERT_OK(ann_train_batch(m, X, Y, W_ROWS));
    double *w1 = weights_dump(m, NULL);
    ann_destroy(m);
    return w1;
}

static void test_gradients_blas_layers(void **state)
{
    (void)state;
    uint64_t s = 4242;
    double X[W_ROWS * W_IN], Y[W_ROWS * W_OUT];
    for (size_t i = 0; i < W_ROWS * W_IN; i++)
        X[i] = 2 * t_unif(&s) - 1;
    for (size_t i = 0; i < W_ROWS * W_OUT; i++)
        Y[i] = 2 * t_unif(&s) - 1;
    ann *m = wide_net(0, 0, NULL);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 11));
    ASSERT_OK(ann_reinit(m));
    size_t n;
    double *w0 = weights_dump(m, &n);
    for (size_t i = 0; i < n; i++) /* biases away from 0, weights rounded to float */
        w0[i] = (double)(float)(w0[i] + (wide_is_bias(i) ? 0.2 * (t_unif(&s) - 0.5) : 0));
    weights_load(m, w0);

    double *num = malloc(n * sizeof *num), *w = malloc(n * sizeof *w);
    memcpy(w, w0, n * sizeof *w);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        num[i] = NAN;
        if (i % 5 && !wide_is_bias(i))
            continue;
        double h = 1e-3 * fmax(1.0, fabs(w0[i])), f[4];
        static const double off[4] = {-2, -1, 1, 2};
        for (int k = 0; k < 4; k++) {
            w[i] = w0[i] + off[k] * h;
            weights_load(m, w);
            ASSERT_OK(ann_evaluate(m, X, Y, W_ROWS, &f[k]));
        }
        w[i] = w0[i];
        num[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
        checked++;
    }
    ann_destroy(m);

    static const double L2S[2] = {0, 0.3};
    double worst = 0;
    for (int c = 0; c < 2; c++) {
        double l2 = L2S[c];
        double *w1 = wide_step(0, l2, w0, X, Y), scale = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(num[i]))
                scale = fmax(scale, fabs(num[i]));
        for (size_t i = 0; i < n; i++) {
            if (isnan(num[i]))
                continue;
            double want = num[i] + (wide_is_bias(i) ? 0 : l2 * w0[i]);
            double an = w0[i] - w1[i];
            double rel = fabs(an - want) / fmax(fmax(fabs(an), fabs(want)), 1e-4 * scale);
            if (rel > worst)
                worst = rel;
            if (rel >= 1e-6)
                fail_msg("l2 %g, parameter %zu: step %.17g, finite differences %.17g", l2, i,
                         an, want);
        }
        if (c == 1) { /* float32's fused step against float64's */
            double *v1 = wide_step(1, l2, w0, X, Y), big = 0, err = 0;
            for (size_t i = 0; i < n; i++)
                big = fmax(big, fabs(w0[i] - w1[i]));
            for (size_t i = 0; i < n; i++)
                err = fmax(err, fabs((w0[i] - v1[i]) - (w0[i] - w1[i])));
            printf("float32 step vs float64: max difference %.3g of max step %.3g\n", err, big);
            assert_true(big > 1e-3 && err <= 1e-4 * big);
            free(v1);
        }
        free(w1);
    }
    printf("BLAS-sized layers: %zu parameters checked, max relative error %.3g\n", checked,
           worst);
    free(num);
    free(w);
    free(w0);
}

static double sig(double z) { return 1 / (1 + exp(-z)); }

/* A 2-2-2 network computed by hand: forward values and both losses. */
static void test_known_values(void **state)
{
    (void)state;
    size_t u[] = {2, 2};
    ann_activation a[] = {ANN_ACT_SIGMOID, ANN_ACT_SOFTMAX};
    ann *m = make_net(2, 2, u, a);
    double W0[] = {0.15, 0.20, 0.25, 0.30}, b0[] = {0.35, 0.35};
    double W1[] = {0.40, 0.45, 0.50, 0.55}, b1[] = {0.60, 0.60};
    ASSERT_OK(ann_set_weights(m, 0, W0, b0));
    ASSERT_OK(ann_set_weights(m, 1, W1, b1));
    double x[] = {0.05, 0.10}, y[] = {0.01, 0.99}, out[2];
    ASSERT_OK(ann_predict(m, x, 1, out));
    double h0 = sig(0.15 * 0.05 + 0.20 * 0.10 + 0.35);
    double h1 = sig(0.25 * 0.05 + 0.30 * 0.10 + 0.35);
    double z0 = 0.40 * h0 + 0.45 * h1 + 0.60, z1 = 0.50 * h0 + 0.55 * h1 + 0.60;
    double p0 = exp(z0) / (exp(z0) + exp(z1)), p1 = exp(z1) / (exp(z0) + exp(z1));
    assert_true(fabs(out[0] - p0) < 1e-15 && fabs(out[1] - p1) < 1e-15);
    double loss;
    ASSERT_OK(ann_evaluate(m, x, y, 1, &loss));
    double se = 0.5 * ((y[0] - p0) * (y[0] - p0) + (y[1] - p1) * (y[1] - p1));
    assert_true(fabs(loss - se) < 1e-15);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_evaluate(m, x, y, 1, &loss));
    double ce = -(y[0] * log(p0) + y[1] * log(p1));
    assert_true(fabs(loss - ce) < 1e-14);

    /* every activation on one neuron: z = 2*x - 1 */
    static const struct { ann_activation a; double z; double want; } cases[] = {
        {ANN_ACT_IDENTITY, -0.7, -0.7}, {ANN_ACT_STEP, 0.3, 1}, {ANN_ACT_STEP, -0.3, 0},
        {ANN_ACT_STEP, 0.0, 0}, {ANN_ACT_TANH, 0.4, 0.37994896225522495},
        {ANN_ACT_RELU, -2, 0}, {ANN_ACT_RELU, 2, 2}, {ANN_ACT_LEAKY_RELU, -2, -0.02},
        {ANN_ACT_SIGMOID, 1, 0.7310585786300049},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t one[] = {1};
        ann_activation act[] = {cases[i].a};
        ann *n1 = make_net(1, 1, one, act);
        double w[] = {2}, b[] = {-1}, xi = (cases[i].z + 1) / 2, o;
        ASSERT_OK(ann_set_weights(n1, 0, w, b));
        ASSERT_OK(ann_predict(n1, &xi, 1, &o));
        if (fabs(o - cases[i].want) > 1e-15)
            fail_msg("activation %d at %g: %.17g, want %.17g", (int)cases[i].a, cases[i].z, o,
                     cases[i].want);
        ann_destroy(n1);
    }
    ann_destroy(m);
}

/* The softmax cross-entropy loss against log-sum-exp computed here in
 * double with libm, over rows whose largest pre-activation sits anywhere,
 * ties included, soft targets that do not sum to one, 2 to 700 outputs, in
 * float64 and float32 (whose pre-activations are float, hence the looser
 * bound); and once more with target scaling left on the model (its
 * outputs are then unscaled before the loss, which must not read them). */
static void test_cross_entropy_reference(void **state)
{
    (void)state;
    const size_t outs[] = {2, 3, 10, 257, 700};
    enum { NI = 4, NR = 37 };
    for (int prec = 0; prec < 2; prec++)
        for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
            for (int scaled = 0; scaled < 2; scaled++) {
                size_t no = outs[oi];
                size_t u[] = {no};
                ann_activation a[] = {ANN_ACT_SOFTMAX};
                ann *m = make_net(NI, 1, u, a);
                ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION,
                                        prec ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
                double *W = malloc(no * NI * sizeof *W), *b = malloc(no * sizeof *b);
                double *Y = malloc(NR * no * sizeof *Y), X[NR * NI];
                uint64_t st = 0x9E3779B97F4A7C15u + no;
                for (size_t i = 0; i < NR * NI; i++)
                    X[i] = 4 * t_unif(&st) - 2;
                for (size_t i = 0; i < no * NI; i++)
                    W[i] = 3 * t_unif(&st) - 1.5;
                for (size_t j = 0; j < no; j++)
                    b[j] = j % 3 ? 2 * t_unif(&st) - 1 : 0.5; /* ties at zero input */
                for (size_t r = 0; r < NR; r++)
                    for (size_t j = 0; j < no; j++)
                        Y[r * no + j] = r % 3 == 0 ? (j == r % no ? 1 : 0) /* one-hot */
                                                   : 0.3 * t_unif(&st); /* soft */
                for (size_t j = 0; j < NI; j++)
                    X[5 * NI + j] = 0; /* row 5: z = b, a tie among the 0.5s */
                if (scaled) {
                    /* target scaling is fitted under the squared error */
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_TARGET_SCALING, 1));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
                    ASSERT_OK(ann_fit(m, X, Y, NR));
                }
                ASSERT_OK(ann_set_weights(m, 0, W, b));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
                double loss, ref = 0;
                ASSERT_OK(ann_evaluate(m, X, Y, NR, &loss));
                double *z = malloc(no * sizeof *z);
                for (size_t r = 0; r < NR; r++) {
                    double mx = -INFINITY, s = 0;
                    for (size_t j = 0; j < no; j++) {
                        double t = b[j];
                        for (size_t k = 0; k < NI; k++)
                            t += W[j * NI + k] * X[r * NI + k];
                        z[j] = t;
                        mx = t > mx ? t : mx;
                    }
                    for (size_t j = 0; j < no; j++)
                        s += exp(z[j] - mx);
                    for (size_t j = 0; j < no; j++)
                        ref -= Y[r * no + j] * (z[j] - (mx + log(s)));
                }
                ref /= NR;
                double tol = prec ? 2e-6 : 1e-13;
                if (!(fabs(loss - ref) <= tol * fmax(1, fabs(ref))))
                    fail_msg("%s, %zu outputs%s: loss %.17g, reference %.17g",
                             prec ? "float32" : "float64", no, scaled ? ", target scaling" : "",
                             loss, ref);
                free(z);
                free(W);
                free(b);
                free(Y);
                ann_destroy(m);
            }
}

/* Sigmoid and softmax stay finite and exact at +-1e300. */
static void test_extreme_inputs(void **state)
{
    (void)state;
    size_t u[] = {3};
    ann_activation sm[] = {ANN_ACT_SOFTMAX};
    ann *m = make_net(1, 1, u, sm);
    double W[] = {1, -1, 0}, b[] = {0, 0, 0};
    ASSERT_OK(ann_set_weights(m, 0, W, b));
    double x = 1e300, out[3];
    ASSERT_OK(ann_predict(m, &x, 1, out));
    assert_true(out[0] == 1 && out[1] == 0 && out[2] == 0);
    x = -1e300;
    ASSERT_OK(ann_predict(m, &x, 1, out));
    assert_true(out[0] == 0 && out[1] == 1 && out[2] == 0);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    double y[] = {0, 1, 0}, loss;
    ASSERT_OK(ann_evaluate(m, &x, y, 1, &loss));
    assert_true(loss == 0);
    double y2[] = {1, 0, 0};
    ASSERT_OK(ann_evaluate(m, &x, y2, 1, &loss)); /* -log softmax = 2e300, finite */
    assert_true(isfinite(loss) && loss > 1e300);
    ann_destroy(m);

    size_t u1[] = {2};
    ann_activation sg[] = {ANN_ACT_SIGMOID};
    m = make_net(1, 1, u1, sg);
    double W2[] = {1, -1}, b2[] = {0, 0};
    ASSERT_OK(ann_set_weights(m, 0, W2, b2));
    x = 1e300;
    ASSERT_OK(ann_predict(m, &x, 1, out));
    assert_true(out[0] == 1 && out[1] == 0);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    double y3[] = {1, 0};
    ASSERT_OK(ann_evaluate(m, &x, y3, 1, &loss));
    assert_true(loss == 0);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    x = 1e300; /* finite, but not as a float: rejected, not turned into inf */
    assert_int_equal(ann_predict(m, &x, 1, out), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "float32"));
    x = 1e38;
    ASSERT_OK(ann_predict(m, &x, 1, out));
    assert_true(out[0] == 1 && out[1] == 0);
    ann_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_gradients_blas_layers),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_cross_entropy_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
