/* test_t0.c - layer 0 in feature-major order (engine_tmpl.h: t0_use),
 * white-box.
 *
 * The training calls may compute a float32 model's layer 0 as Z0^T =
 * W0 X^T and keep its activations and deltas u0 x B (faster with
 * OpenBLAS's SkylakeX kernels on one thread).  Checked here: forward
 * takes that path exactly when asked to (ann__t0_mode, ws.t0_ok) and
 * when the rule says so; its layer 0 is the transpose of the row-major
 * one and its output the same bits; the check of stepped weights
 * (ws.w_pending) still sees a non-finite weight in any neuron; and whole
 * fits and ann_train_batch calls give the same bytes with the path
 * forced on and off, for every optimizer, with and without L2, with two
 * and three layers, on converted and native rows, on shapes that leave
 * partial blocks in the fused delta-and-bias pass (units not a multiple
 * of 8, batches of 5, 12 and 21), including the refusal of a bad row and
 * of an overflowing step.  Where OpenBLAS's kernels are
 * not the ones the rule trusts, the fits are compared to rounding
 * instead (each product's sums need not then be the same bits). */
#include <cblas.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/ann_internal.h"
#include "common.h"

/* Products of more than 100^3 multiply-adds at batch 32 (the path's
 * condition); the tail batch of 12 rows takes the row-major path. */
#define ROWS 300 /* batch 32: 9 full batches and a tail of 12 */
#define IN 160
#define H0 256
#define H1 128 /* the second layer, also the output of the two-layer net */
#define OUT 5

typedef struct {
    double *X, *Y;
    float *Xf;
    int32_t *lab;
    int threads0;
} t0_data;

static void data_init(t0_data *d)
{
    d->X = malloc(ROWS * IN * sizeof *d->X);
    d->Xf = malloc(ROWS * IN * sizeof *d->Xf);
    d->Y = malloc(ROWS * H1 * sizeof *d->Y);
    d->lab = malloc(ROWS * sizeof *d->lab);
    assert_true(d->X && d->Xf && d->Y && d->lab);
    uint64_t s = 11;
    for (size_t r = 0; r < ROWS; r++) {
        int32_t c = (int32_t)(t_next(&s) % OUT);
        d->lab[r] = c;
        for (size_t k = 0; k < H1; k++)
            d->Y[r * H1 + k] = 0.5 * sin((double)(r + 3 * k)) + (k == (size_t)c);
        for (size_t j = 0; j < IN; j++) {
            double v = t_unif(&s) < 0.6 ? 0.0 : t_unif(&s) + 0.05 * (double)(j % (size_t)(c + 3));
            d->X[r * IN + j] = v;
            d->Xf[r * IN + j] = (float)v;
        }
    }
    d->threads0 = openblas_get_num_threads();
    openblas_set_num_threads(1);
}

/* Also puts the switch back. */
static void data_free(t0_data *d)
{
    ann__t0_mode = 0;
    openblas_set_num_threads(d->threads0);
    free(d->X);
    free(d->Xf);
    free(d->Y);
    free(d->lab);
}

typedef struct {
    int opt, nesterov, layers, native;
    double l2;
    ann_activation act0;
} t0_case;

static ann *make_model(const t0_case *c)
{
    ann *m = NULL;
    size_t units3[] = {H0, H1, OUT}, units2[] = {H0, H1};
    ann_activation acts3[] = {c->act0, ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann_activation acts2[] = {c->act0, ANN_ACT_IDENTITY};
    if (c->layers == 3)
        ASSERT_OK(ann_create(&m, IN, 3, units3, acts3));
    else
        ASSERT_OK(ann_create(&m, IN, 2, units2, acts2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, c->layers == 3 ? ANN_LOSS_CROSS_ENTROPY
                                                               : ANN_LOSS_SQUARED_ERROR));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, c->opt));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_NESTEROV, c->nesterov));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, c->l2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE,
                            c->opt == ANN_OPTIMIZER_ADAM ? 1e-3 : 0.02));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 32));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 2));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 5));
    ASSERT_OK(ann_reinit(m));
    return m;
}

static ann_status fit(ann *m, const t0_case *c, const t0_data *d)
{
    if (c->layers == 2)
        return ann_fit(m, d->X, d->Y, ROWS);
    if (!c->native)
        return ann_fit_labels(m, d->X, d->lab, ROWS);
    ann_matrix xv = {ANN_DTYPE_F32, ROWS, IN, IN, 1, d->Xf};
    return ann_fit_labels_view(m, &xv, d->lab);
}

/* ws.t0 after a forward pass (defined with the engine tests below) */
static int took(ann *m, size_t B, int ok, int mode);

/* Every weight of a and b within 1e-4 of the layer's largest (Adam
 * scales each step to about lr whatever the gradient's size, so a
 * difference in the last bits of a gradient moves a weight by up to lr
 * times its relative size). */
static void assert_close(const ann *a, const ann *b, size_t layers, const char *what)
{
    for (size_t l = 0; l < layers; l++) {
        size_t n = a->units[l] * a->fan_in[l];
        double *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
        assert_true(wa && wb);
        ASSERT_OK(ann_get_weights(a, l, wa, NULL));
        ASSERT_OK(ann_get_weights(b, l, wb, NULL));
        double big = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            big = fmax(big, fabs(wa[i]));
            diff = fmax(diff, fabs(wa[i] - wb[i]));
        }
        if (diff > 1e-4 * big)
            fail_msg("%s: layer %zu differs by %g (largest weight %g)", what, l, diff, big);
        free(wa);
        free(wb);
    }
}

/* The two models (path off, on) saved: the same bytes (parameters,
 * optimizer state, steps), or, on kernels the rule does not trust, the
 * same weights to rounding.  Destroys both. */
static void assert_same_models(ann *m[2], size_t layers, const char *what)
{
    unsigned char *bufs[2];
    size_t sizes[2];
    for (int on = 0; on < 2; on++)
        bufs[on] = t_save_mem(m[on], &sizes[on]);
    if (ann__blas_t0_kernels()) {
        assert_int_equal(sizes[0], sizes[1]);
        if (memcmp(bufs[0], bufs[1], sizes[0]) != 0)
            fail_msg("%s: feature-major layer 0 changed the model", what);
    } else {
        assert_close(m[0], m[1], layers, what);
    }
    for (int on = 0; on < 2; on++) {
        free(bufs[on]);
        ann_destroy(m[on]);
    }
}

/* Fit the case with the path never taken and with it forced
 * (assert_same_models). */
static void compare_fits(const t0_case *c, const t0_data *d, const char *what)
{
    ann *m[2];
    for (int on = 0; on < 2; on++) {
        ann__t0_mode = on ? 2 : 1;
        m[on] = make_model(c);
        ASSERT_OK(fit(m[on], c, d));
    }
    ann__t0_mode = 0;
    assert_same_models(m, (size_t)c->layers, what);
}

static void test_fits_same_bytes(void **state)
{
    (void)state;
    t0_data d;
    data_init(&d);
    const int opts[][2] = {{ANN_OPTIMIZER_SGD, 0}, {ANN_OPTIMIZER_MOMENTUM, 0},
                           {ANN_OPTIMIZER_MOMENTUM, 1}, {ANN_OPTIMIZER_ADAM, 0}};
    const ann_activation acts[] = {ANN_ACT_RELU, ANN_ACT_LEAKY_RELU, ANN_ACT_SIGMOID};
    int reduced = getenv("ANN_TEST_REDUCED") != NULL; /* valgrind */
    for (size_t o = 0; o < 4; o++)
        for (int l2 = 0; l2 < 2; l2++)
            for (int layers = 2; layers <= 3; layers++)
                for (int native = 0; native < (layers == 3 ? 2 : 1); native++) {
                    if (reduced && (l2 || native))
                        continue;
                    t0_case c = {opts[o][0], opts[o][1], layers, native, l2 ? 1e-3 : 0,
                                 acts[(o + (size_t)l2) % 3]};
                    char what[96];
                    snprintf(what, sizeof what, "opt %d nesterov %d l2 %d layers %d native %d",
                             c.opt, c.nesterov, l2, layers, native);
                    compare_fits(&c, &d, what);
                }
    data_free(&d);
}

/* ann_train_batch (one step on the rows given, here 32 and 12 of them):
 * the same bytes with the path on and off. */
static void test_train_batch_same_bytes(void **state)
{
    (void)state;
    t0_data d;
    data_init(&d);
    t0_case c = {ANN_OPTIMIZER_MOMENTUM, 0, 2, 0, 1e-4, ANN_ACT_RELU};
    ann *m[2];
    for (int on = 0; on < 2; on++) {
        ann__t0_mode = on ? 2 : 1;
        m[on] = make_model(&c);
        for (size_t s = 0; s + 32 <= ROWS; s += 44) {
            ASSERT_OK(ann_train_batch(m[on], d.X + s * IN, d.Y + s * H1, 32));
            ASSERT_OK(ann_train_batch(m[on], d.X + s * IN, d.Y + s * H1, 12));
        }
    }
    ann__t0_mode = 0;
    assert_same_models(m, 2, "ann_train_batch");
    data_free(&d);
}

/* Shapes the fused delta-and-bias pass (engine_tmpl.h mul_deriv_rows)
 * takes apart: 100 units in layer 0 (12 blocks of 8 rows and 4 rows
 * over), batches of 5 (fewer columns than one 8 x 8 block), 12 and 21
 * (a block and 4 or 5 columns over), with a leaky ReLU; wide enough that
 * the path is taken at 5 rows (5 x 100 x 2100 multiply-adds).  The same
 * bytes with the path on and off. */
#define ODD_IN 2100
#define ODD_U0 100
#define ODD_U1 2050
#define ODD_ROWS 48
static void test_odd_shapes_same_bytes(void **state)
{
    (void)state;
    int threads0 = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double *X = malloc(ODD_ROWS * ODD_IN * sizeof *X), *Y = calloc(ODD_ROWS * 3, sizeof *Y);
    assert_true(X && Y);
    uint64_t sd = 17;
    for (size_t r = 0; r < ODD_ROWS; r++) {
        Y[r * 3 + r % 3] = 1;
        for (size_t j = 0; j < ODD_IN; j++)
            X[r * ODD_IN + j] = t_unif(&sd) < 0.5 ? 0.0 : t_unif(&sd) - 0.2 + 0.1 * (double)(r % 3);
    }
    size_t units[] = {ODD_U0, ODD_U1, 3};
    ann_activation acts[] = {ANN_ACT_LEAKY_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    const size_t Bs[] = {5, 12, 21};
    ann *m[2];
    for (int on = 0; on < 2; on++) {
        ASSERT_OK(ann_create(&m[on], ODD_IN, 3, units, acts));
        ASSERT_OK(ann_set_param(m[on], ANN_PARAM_PRECISION, ANN_PRECISION_F32));
        ASSERT_OK(ann_set_param(m[on], ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
        ASSERT_OK(ann_set_param(m[on], ANN_PARAM_LEAKY_SLOPE, 0.1));
        ASSERT_OK(ann_set_param(m[on], ANN_PARAM_LEARNING_RATE, 0.05));
        ASSERT_OK(ann_set_param(m[on], ANN_PARAM_SEED, 9));
        ASSERT_OK(ann_reinit(m[on]));
        for (size_t b = 0; b < 3; b++) /* the path is taken at every batch size */
            assert_int_equal(took(m[on], Bs[b], 1, on ? 2 : 1), on);
        ann__t0_mode = on ? 2 : 1;
        for (size_t s = 0, b = 0; s + 21 <= ODD_ROWS; s += 9, b = (b + 1) % 3)
            ASSERT_OK(ann_train_batch(m[on], X + s * ODD_IN, Y + s * 3, Bs[b]));
        ann__t0_mode = 0;
    }
    assert_same_models(m, 3, "odd shapes");
    free(X);
    free(Y);
    openblas_set_num_threads(threads0);
}

/* A NaN in a late row, and a learning rate that overflows the weights:
 * the same refusal, message and untouched model either way. */
static void test_refusals_same(void **state)
{
    (void)state;
    t0_data d;
    data_init(&d);
    d.Xf[(ROWS - 5) * IN + 40] = NAN;
    t0_case c = {ANN_OPTIMIZER_SGD, 0, 3, 1, 0, ANN_ACT_RELU};
    char msg[2][512];
    for (int on = 0; on < 2; on++) {
        ann__t0_mode = on ? 2 : 1;
        ann *m = make_model(&c);
        size_t s0;
        unsigned char *b0 = t_save_mem(m, &s0);
        assert_int_equal(fit(m, &c, &d), ANN_ERR_NON_FINITE);
        snprintf(msg[on], sizeof msg[on], "%s", ann_errmsg(m));
        assert_non_null(strstr(msg[on], "[295][40]"));
        t_assert_saves_as(m, b0, s0);
        free(b0);
        ann_destroy(m);
    }
    assert_string_equal(msg[0], msg[1]);
    d.Xf[(ROWS - 5) * IN + 40] = 0.5f;
    ann_status st[2];
    unsigned char *bufs[2];
    size_t sizes[2];
    c.layers = 2; /* squared error, identity output: diverges */
    for (int on = 0; on < 2; on++) {
        ann__t0_mode = on ? 2 : 1;
        ann *m = make_model(&c);
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e6));
        st[on] = fit(m, &c, &d);
        snprintf(msg[on], sizeof msg[on], "%s", ann_errmsg(m));
        bufs[on] = t_save_mem(m, &sizes[on]);
        ann_destroy(m);
    }
    ann__t0_mode = 0;
    assert_int_not_equal(st[0], ANN_OK);
    assert_int_equal(st[0], st[1]);
    if (ann__blas_t0_kernels()) { /* elsewhere the step that overflows may differ */
        assert_string_equal(msg[0], msg[1]);
        assert_int_equal(sizes[0], sizes[1]);
        assert_memory_equal(bufs[0], bufs[1], sizes[0]);
    }
    free(bufs[0]);
    free(bufs[1]);
    data_free(&d);
}

/* ---- the engine directly ------------------------------------------------ */

static ann *net(size_t in, size_t u0, size_t u1, ann_precision prec)
{
    ann *m = NULL;
    size_t units[] = {u0, u1, OUT};
    ann_activation acts[] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ASSERT_OK(ann_create(&m, in, 3, units, acts));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
    ASSERT_OK(ann_reinit(m));
    return m;
}

/* ws.t0 after a forward pass of B rows with the given switches. */
static int took(ann *m, size_t B, int ok, int mode)
{
    ann__ws ws;
    assert_int_equal(ann__ws_init(&ws, m, B, 1), 0);
    ws.t0_ok = ok;
    size_t es = m->s.precision == ANN_PRECISION_F32 ? 4 : 8;
    unsigned char *x = calloc(B * m->n_inputs, es);
    assert_non_null(x);
    ann__t0_mode = mode;
    ann__forward(m, &ws, x, B);
    ann__t0_mode = 0;
    int t = ws.t0;
    free(x);
    ann__ws_free(&ws);
    return t;
}

/* When the path is taken: asked for (t0_ok: the training calls), not
 * switched off, float32, both first layers BLAS-sized; by the rule, at
 * most 128 rows, 256 units or at most 32 rows, OpenBLAS on one thread,
 * trusted kernels.  Forced or not, both first layers' products beyond
 * OpenBLAS's small-matrix kernels. */
static void test_when_taken(void **state)
{
    (void)state;
    int threads0 = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int k = ann__blas_t0_kernels();
    ann *fm = net(784, 256, 128, ANN_PRECISION_F32);
    ann *dm = net(784, 256, 128, ANN_PRECISION_F64);
    ann *narrow = net(784, 64, 512, ANN_PRECISION_F32);
    ann *tiny = net(8, 4, 4, ANN_PRECISION_F32); /* direct loops, no BLAS */
    assert_int_equal(took(fm, 128, 0, 2), 0);
    assert_int_equal(took(fm, 128, 1, 1), 0);
    assert_int_equal(took(fm, 128, 1, 2), 1);
    assert_int_equal(took(fm, 1, 1, 2), 0);
    assert_int_equal(took(dm, 128, 1, 2), 0);
    assert_int_equal(took(tiny, 16, 1, 2), 0);
    assert_int_equal(took(narrow, 8, 1, 2), 0); /* 8 x 512 x 64 < 100^3 */
    assert_int_equal(took(fm, 128, 1, 0), k);
    assert_int_equal(took(fm, 32, 1, 0), k);
    assert_int_equal(took(fm, 256, 1, 0), 0);
    assert_int_equal(took(dm, 128, 1, 0), 0);
    assert_int_equal(took(narrow, 128, 1, 0), 0);
    assert_int_equal(took(narrow, 32, 1, 0), k);
    openblas_set_num_threads(2);
    assert_int_equal(took(fm, 128, 1, 0), 0);
    assert_int_equal(took(fm, 128, 1, 2), 1);
    openblas_set_num_threads(threads0);
    ann_destroy(fm);
    ann_destroy(dm);
    ann_destroy(narrow);
    ann_destroy(tiny);
}

/* Forward both ways on the same rows: layer 0 is the transpose, bit for
 * bit, and so are the outputs; a NaN weight in any one neuron of layer 0
 * is seen by the stepped-weights check (w_pending) either way. */
static void test_forward_layout(void **state)
{
    (void)state;
    const size_t B = 48, in = 300, u0 = 128, u1 = 200;
    ann *m = net(in, u0, u1, ANN_PRECISION_F32);
    float *x = malloc(B * in * sizeof *x);
    assert_non_null(x);
    uint64_t s = 3;
    for (size_t i = 0; i < B * in; i++)
        x[i] = (float)(t_unif(&s) - 0.3);
    ann__ws ws[2];
    for (int on = 0; on < 2; on++) {
        assert_int_equal(ann__ws_init(&ws[on], m, B, 1), 0);
        ws[on].t0_ok = 1;
        ann__t0_mode = on ? 2 : 1;
        ann__forward(m, &ws[on], x, B);
        assert_int_equal(ws[on].t0, on);
    }
    ann__t0_mode = 0;
    /* the same bits on the kernels the rule trusts; to rounding elsewhere */
    int exact = ann__blas_t0_kernels();
    const float *a = ws[0].a[0], *at = ws[1].a[0];
    for (size_t r = 0; r < B; r++)
        for (size_t j = 0; j < u0; j++)
            if (exact ? memcmp(&a[r * u0 + j], &at[j * B + r], sizeof *a) != 0
                      : fabsf(a[r * u0 + j] - at[j * B + r]) > 1e-5f * (1 + fabsf(a[r * u0 + j])))
                fail_msg("a0[%zu][%zu]: %a against %a", r, j, (double)a[r * u0 + j],
                         (double)at[j * B + r]);
    const float *o = ws[0].a[2], *ot = ws[1].a[2];
    if (exact)
        assert_memory_equal(o, ot, B * OUT * sizeof(float));
    else
        for (size_t i = 0; i < B * OUT; i++)
            assert_true(fabsf(o[i] - ot[i]) <= 1e-5f);
    /* a NaN weight in neuron j of layer 0, for the first, a middle and
     * the last neuron; finite weights leave the check at 1 */
    float *W0 = (float *)m->params + m->w_off[0];
    const size_t js[] = {0, u0 / 2 + 1, u0 - 1};
    for (int on = 0; on < 2; on++) {
        ann__t0_mode = on ? 2 : 1;
        ws[on].w_pending = 1;
        ann__forward(m, &ws[on], x, B);
        assert_int_equal(ws[on].w_pending, 1);
        for (size_t q = 0; q < 3; q++) {
            float keep = W0[js[q] * in + 7];
            W0[js[q] * in + 7] = NAN;
            ws[on].w_pending = 1;
            ann__forward(m, &ws[on], x, B);
            if (ws[on].w_pending != 2)
                fail_msg("t0 %d: a NaN weight in neuron %zu not seen", on, js[q]);
            W0[js[q] * in + 7] = keep;
        }
        ann__ws_free(&ws[on]);
    }
    ann__t0_mode = 0;
    free(x);
    ann_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_when_taken),
        cmocka_unit_test(test_forward_layout),
        cmocka_unit_test(test_fits_same_bytes),
        cmocka_unit_test(test_train_batch_same_bytes),
        cmocka_unit_test(test_odd_shapes_same_bytes),
        cmocka_unit_test(test_refusals_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
