/* test_isa.c - the engine's instruction-set builds compute the same bits.
 *
 * engine.c is compiled twice on x86-64: for the baseline and with -mavx2
 * (lib/isa.c picks the widest the CPU runs).  The contract is that the
 * choice never changes a result: no FMA contraction, no reassociation.
 * Here every activation, loss, output layer, optimizer, precision, batch
 * size (GEMV, GEMM and the direct small-layer loops), input transform and
 * data layout is trained and evaluated under each table, and the complete
 * saved state (weights, optimizer moments, counters) and the predictions
 * must be equal byte for byte.  The inputs include values that saturate
 * the activations and push exp to its clamps.
 *
 * White-box: pins the table with ann__isa_select (links the internal
 * static library).  Skipped where the build or the CPU has no AVX2. */
#include "common.h"

#include "ann_internal.h"

#include <float.h>
#include <stdio.h>

typedef struct {
    ann_precision prec;
    ann_activation hidden, out;
    ann_loss loss;
    ann_optimizer opt;
    int nesterov;
    size_t batch;
    size_t width; /* 6: direct loops; 300: BLAS */
    ann_preprocess prep;
    int tscale;
    int f32_strided; /* train from a float32 view with a column stride */
} isa_case;

enum { N_IN = 20, N_ROWS = 96 };

static void make_data(double *X, double *Y, int32_t *lab, size_t n_out, int regression)
{
    uint64_t s = 12345;
    for (size_t i = 0; i < N_ROWS; i++) {
        for (size_t j = 0; j < N_IN; j++) {
            double v = t_normal(&s);
            /* a few large values: saturated sigmoid/tanh, clamped exp */
            if (t_next(&s) % 16 == 0)
                v *= 40;
            X[i * N_IN + j] = v;
        }
        lab[i] = (int32_t)(t_next(&s) % n_out);
        if (n_out == 1)
            lab[i] &= 1;
        for (size_t k = 0; k < n_out; k++)
            Y[i * n_out + k] = n_out == 1 ? lab[i] : (lab[i] == (int32_t)k);
        if (regression)
            Y[i * n_out] = 3 * sin(X[i * N_IN]) + 7;
    }
}

/* Train one case under the current table; returns the saved bytes and
 * fills pred (N_ROWS x n_out). */
static unsigned char *run_case(const isa_case *c, size_t *len, double *pred)
{
    size_t n_out = c->out == ANN_ACT_SOFTMAX ? 4 : (c->loss == ANN_LOSS_CROSS_ENTROPY ? 1 : 2);
    int regression = c->out == ANN_ACT_IDENTITY;
    size_t units[3] = {c->width, 5, n_out};
    ann_activation acts[3] = {c->hidden, c->hidden == ANN_ACT_STEP ? ANN_ACT_TANH : c->hidden,
                              c->out};
    double *X = malloc(N_ROWS * N_IN * sizeof *X);
    double *Y = malloc(N_ROWS * n_out * sizeof *Y);
    int32_t *lab = malloc(N_ROWS * sizeof *lab);
    float *Xf = malloc(2 * N_ROWS * N_IN * sizeof *Xf);
    assert_non_null(X);
    assert_non_null(Y);
    assert_non_null(lab);
    assert_non_null(Xf);
    make_data(X, Y, lab, n_out, regression);
    ann *m;
    ASSERT_OK(ann_create(&m, N_IN, 3, units, acts));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, c->prec));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, c->loss));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, c->opt));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_NESTEROV, c->nesterov));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, (double)c->batch));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 7));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, 1e-3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, c->opt == ANN_OPTIMIZER_ADAM ? 1e-2 : 0.01));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PREPROCESS, c->prep));
    if (regression)
        ASSERT_OK(ann_set_param(m, ANN_PARAM_TARGET_SCALING, c->tscale));
    ASSERT_OK(ann_reinit(m));
    if (c->hidden == ANN_ACT_IDENTITY || c->hidden == ANN_ACT_RELU || c->hidden == ANN_ACT_LEAKY_RELU)
        for (size_t i = 0; i < N_ROWS * N_IN; i++) /* unbounded units: tame inputs */
            X[i] = tanh(X[i] / 8) * 3;
    if (c->f32_strided) {
        /* every other float of a 2*N_IN-wide buffer */
        for (size_t i = 0; i < N_ROWS * N_IN; i++)
            Xf[2 * i] = (float)X[i];
        ann_matrix xv = {ANN_DTYPE_F32, N_ROWS, N_IN, 2 * N_IN, 2, Xf};
        ann_matrix yv = {ANN_DTYPE_F64, N_ROWS, n_out, (ptrdiff_t)n_out, 1, Y};
        ASSERT_OK(ann_fit_view(m, &xv, &yv));
        for (size_t i = 0; i < N_ROWS * N_IN; i++)
            X[i] = (double)Xf[2 * i];
    } else if (c->out == ANN_ACT_SOFTMAX && c->loss == ANN_LOSS_CROSS_ENTROPY) {
        ASSERT_OK(ann_fit_labels(m, X, lab, N_ROWS));
    } else {
        ASSERT_OK(ann_fit(m, X, Y, N_ROWS));
    }
    /* one-row (GEMV) and whole-set predictions */
    ASSERT_OK(ann_predict(m, X, 1, pred));
    ASSERT_OK(ann_predict(m, X + N_IN, N_ROWS - 1, pred + n_out));
    unsigned char *buf = t_save_mem(m, len);
    ann_destroy(m);
    free(X);
    free(Y);
    free(lab);
    free(Xf);
    return buf;
}

static void compare_case(const isa_case *c)
{
    double p1[N_ROWS * 4] = {0}, p2[N_ROWS * 4] = {0};
    size_t l1, l2;
    assert_int_equal(ann__isa_select(ANN__ISA_GENERIC), 0);
    assert_int_equal(ann__isa_current(), ANN__ISA_GENERIC);
    unsigned char *b1 = run_case(c, &l1, p1);
    assert_int_equal(ann__isa_select(ANN__ISA_AVX2), 0);
    assert_int_equal(ann__isa_current(), ANN__ISA_AVX2);
    unsigned char *b2 = run_case(c, &l2, p2);
    ann__isa_select(ANN__ISA_AUTO);
    assert_int_equal(l1, l2);
    if (memcmp(b1, b2, l1) != 0 || memcmp(p1, p2, sizeof p1) != 0)
        fail_msg("generic and AVX2 differ: prec %d hidden %d out %d loss %d opt %d nest %d "
                 "batch %zu width %zu prep %d f32view %d",
                 c->prec, c->hidden, c->out, c->loss, c->opt, c->nesterov, c->batch,
                 c->width, c->prep, c->f32_strided);
    free(b1);
    free(b2);
}

#define SKIP_WITHOUT_AVX2()                                                      \
    do {                                                                         \
        if (ann__isa_select(ANN__ISA_AVX2) != 0) {                               \
            print_message("no AVX2 engine in this build or CPU: skipped\n");     \
            skip();                                                              \
        }                                                                        \
        ann__isa_select(ANN__ISA_AUTO);                                          \
    } while (0)

/* Every hidden activation x output/loss pairing x precision, for the
 * direct-loop width and the BLAS width, at batch 1 and a mini-batch. */
static void test_activations(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    const ann_activation hid[] = {ANN_ACT_SIGMOID, ANN_ACT_TANH, ANN_ACT_RELU,
                                  ANN_ACT_LEAKY_RELU, ANN_ACT_IDENTITY, ANN_ACT_STEP};
    const struct { ann_activation out; ann_loss loss; } heads[] = {
        {ANN_ACT_IDENTITY, ANN_LOSS_SQUARED_ERROR},
        {ANN_ACT_SIGMOID, ANN_LOSS_CROSS_ENTROPY},
        {ANN_ACT_SOFTMAX, ANN_LOSS_CROSS_ENTROPY},
        {ANN_ACT_SOFTMAX, ANN_LOSS_SQUARED_ERROR},
        {ANN_ACT_TANH, ANN_LOSS_SQUARED_ERROR},
    };
    const size_t widths[] = {6, 300}, batches[] = {1, 32};
    size_t n = 0;
    for (int p = 0; p < 2; p++)
        for (size_t h = 0; h < sizeof hid / sizeof *hid; h++)
            for (size_t o = 0; o < sizeof heads / sizeof *heads; o++)
                for (size_t w = 0; w < 2; w++)
                    for (size_t b = 0; b < 2; b++) {
                        if (batches[b] == 1 && widths[w] == 300 && o > 1)
                            continue; /* keep the run short: GEMV covered by o <= 1 */
                        isa_case c = {p ? ANN_PRECISION_F32 : ANN_PRECISION_F64, hid[h],
                                      heads[o].out, heads[o].loss, ANN_OPTIMIZER_SGD, 0,
                                      batches[b], widths[w], ANN_PREPROCESS_NONE, 0, 0};
                        compare_case(&c);
                        n++;
                    }
    print_message("%zu configurations equal\n", n);
}

/* Every optimizer (the vectorised update and its finiteness check) in both
 * precisions and both layer paths. */
static void test_optimizers(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    const struct { ann_optimizer o; int nest; } opts[] = {
        {ANN_OPTIMIZER_SGD, 0}, {ANN_OPTIMIZER_MOMENTUM, 0},
        {ANN_OPTIMIZER_MOMENTUM, 1}, {ANN_OPTIMIZER_ADAM, 0}};
    for (int p = 0; p < 2; p++)
        for (size_t k = 0; k < 4; k++)
            for (size_t w = 0; w < 2; w++) {
                isa_case c = {p ? ANN_PRECISION_F32 : ANN_PRECISION_F64, ANN_ACT_TANH,
                              ANN_ACT_SOFTMAX, ANN_LOSS_CROSS_ENTROPY, opts[k].o,
                              opts[k].nest, 16, w ? 300 : 6, ANN_PREPROCESS_NONE, 0, 0};
                compare_case(&c);
            }
}

/* Input transforms, target scaling and the gather from a strided float32
 * view (conversion loops). */
static void test_inputs(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    const ann_preprocess preps[] = {ANN_PREPROCESS_NONE, ANN_PREPROCESS_STANDARDIZE,
                                    ANN_PREPROCESS_PCA, ANN_PREPROCESS_ZCA};
    for (int p = 0; p < 2; p++)
        for (size_t k = 0; k < 4; k++)
            for (int view = 0; view < 2; view++) {
                isa_case c = {p ? ANN_PRECISION_F32 : ANN_PRECISION_F64, ANN_ACT_RELU,
                              ANN_ACT_IDENTITY, ANN_LOSS_SQUARED_ERROR, ANN_OPTIMIZER_ADAM,
                              0, 8, 300, preps[k], 1, view};
                compare_case(&c);
            }
}

/* The input scan (the fast pass of every finiteness check) against a
 * plain reference, under each table: every position of a planted special
 * value in rows of 1..19 columns, dense and strided double, float, and a
 * column-strided view. */
static int ref_bad(double x, int f32_limit)
{
    return !isfinite(x) || (f32_limit && fabs(x) > FLT_MAX);
}

/* The values every check is tried on; the scan and the gather share them. */
static const double special[] = {NAN, -NAN, INFINITY, -INFINITY, 2.0 * FLT_MAX, -3.5e38,
                                 DBL_MAX, -DBL_MAX, (double)FLT_MAX, -(double)FLT_MAX,
                                 0x1.fffffe0000001p127, 4.9e-324, -0.0, 1.0};
enum { N_SPECIAL = sizeof special / sizeof *special };

/* run() under the generic table, then under AVX2 where the CPU has it. */
static void on_each_table(void (*run)(void))
{
    assert_int_equal(ann__isa_select(ANN__ISA_GENERIC), 0);
    run();
    if (ann__isa_select(ANN__ISA_AVX2) == 0)
        run();
    ann__isa_select(ANN__ISA_AUTO);
}

static void scan_all(void)
{
    double buf[2 * 3 * 19];
    float fb[3 * 19];
    for (size_t cols = 1; cols < 20; cols++)
        for (size_t pos = 0; pos < 3 * cols; pos++)
            for (size_t k = 0; k < N_SPECIAL; k++)
                for (int lim = 0; lim < 2; lim++) {
                    for (size_t i = 0; i < 2 * 3 * 19; i++)
                        buf[i] = (double)i * 0.25 - 7;
                    double x = special[k];
                    int want = ref_bad(x, lim);
                    /* dense 3 x cols */
                    buf[pos] = x;
                    ann__view d = {ANN_DTYPE_F64, 3, cols, (ptrdiff_t)cols, 1, buf};
                    assert_int_equal(ann__scan(&d, lim), want);
                    buf[pos] = 0;
                    /* rows 2*cols apart; the gaps hold NaN and are not read */
                    for (size_t i = 0; i < 2 * 3 * 19; i++)
                        buf[i] = NAN;
                    for (size_t r = 0; r < 3; r++)
                        for (size_t j = 0; j < cols; j++)
                            buf[r * 2 * cols + j] = 1.5;
                    buf[(pos / cols) * 2 * cols + pos % cols] = x;
                    ann__view st = {ANN_DTYPE_F64, 3, cols, (ptrdiff_t)(2 * cols), 1, buf};
                    assert_int_equal(ann__scan(&st, lim), want);
                    /* column stride 2 */
                    ann__view cs = {ANN_DTYPE_F64, 3, cols / 2 ? cols / 2 : 1,
                                    (ptrdiff_t)(2 * cols), 2, buf};
                    size_t j = pos % cols;
                    int hit = j % 2 == 0 && j / 2 < (cols / 2 ? cols / 2 : 1);
                    assert_int_equal(ann__scan(&cs, lim), hit ? want : 0);
                    /* float32 data (only values a float holds) */
                    if (fabs(x) <= FLT_MAX || !isfinite(x)) {
                        for (size_t i = 0; i < 3 * cols; i++)
                            fb[i] = 0.5f;
                        fb[pos] = (float)x;
                        ann__view f = {ANN_DTYPE_F32, 3, cols, (ptrdiff_t)cols, 1, fb};
                        assert_int_equal(ann__scan(&f, lim), !isfinite(x));
                    }
                }
}

static void test_scan(void **state)
{
    (void)state;
    on_each_table(scan_all);
}

/* The gather's own checks (the copy-and-check pass for rows already in
 * the model's type, the check-then-convert pass for the others): a model
 * of each precision, double and float data, rows of 1..19 columns through
 * a row index (so every row is copied), a special value planted at each
 * position.  The gather must refuse exactly the rows the reference
 * refuses, and copy the others bit for bit (or as C converts them). */
static void gather_specials(void)
{
    const uint64_t nan_bits[] = {0x7FF0000000000001u, 0xFFFFFFFFFFFFFFFFu, 0x7FFFFFFFFFFFFFFFu};
    const uint32_t nan_bits32[] = {0x7F800001u, 0xFFFFFFFFu, 0x7FFFFFFFu};
    enum { ROWS = 3, NSP = N_SPECIAL + 3 };
    for (int prec = 0; prec < 2; prec++)
        for (size_t cols = 1; cols < 20; cols++) {
            size_t units[1] = {2};
            ann_activation acts[1] = {ANN_ACT_IDENTITY};
            ann *m;
            ASSERT_OK(ann_create(&m, cols, 1, units, acts));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION,
                                    prec ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
            ann__ws ws;
            assert_int_equal(ann__ws_init(&ws, m, ROWS, 1), 0);
            for (size_t pos = 0; pos < ROWS * cols; pos++)
                for (size_t k = 0; k < NSP; k++)
                    for (int fdata = 0; fdata < 2; fdata++) {
                        double buf[ROWS * 19];
                        float fb[ROWS * 19];
                        for (size_t i = 0; i < ROWS * cols; i++) {
                            buf[i] = (double)i * 0.25 - 7;
                            fb[i] = (float)buf[i];
                        }
                        double x;
                        if (k < NSP - 3) {
                            x = special[k];
                        } else {
                            uint64_t b = nan_bits[k - (NSP - 3)];
                            memcpy(&x, &b, sizeof x);
                        }
                        if (fdata && !(fabs(x) <= FLT_MAX || !isfinite(x)))
                            continue; /* not a float value */
                        buf[pos] = x;
                        if (fdata && k >= NSP - 3)
                            memcpy(&fb[pos], &nan_bits32[k - (NSP - 3)], sizeof fb[pos]);
                        else
                            fb[pos] = (float)x;
                        /* float data is in range by construction */
                        int want = fdata ? !isfinite(x) : ref_bad(x, prec);
                        ann__view xv = fdata ? (ann__view){ANN_DTYPE_F32, ROWS, cols,
                                                           (ptrdiff_t)cols, 1, fb}
                                             : (ann__view){ANN_DTYPE_F64, ROWS, cols,
                                                           (ptrdiff_t)cols, 1, buf};
                        const size_t idx[ROWS] = {2, 0, 1};
                        ann__batch_src src = {&xv, NULL, NULL, idx, 0, 1, 0};
                        const void *xp, *yp;
                        int got = ann__gather(m, &ws, &src, 0, ROWS, &xp, &yp);
                        assert_int_equal(got, want);
                        if (got)
                            continue;
                        for (size_t r = 0; r < ROWS; r++)
                            for (size_t j = 0; j < cols; j++) {
                                size_t i = idx[r] * cols + j;
                                if (prec) {
                                    float w = fdata ? fb[i] : (float)buf[i];
                                    assert_memory_equal((const float *)xp + r * cols + j, &w,
                                                        sizeof w);
                                } else {
                                    double w = fdata ? (double)fb[i] : buf[i];
                                    assert_memory_equal((const double *)xp + r * cols + j, &w,
                                                        sizeof w);
                                }
                            }
                    }
            ann__ws_free(&ws);
            ann_destroy(m);
        }
}

static void test_gather_checks(void **state)
{
    (void)state;
    on_each_table(gather_specials);
}

/* Adam against plain IEEE arithmetic, bit for bit, in both precisions and
 * on both tables.  float32 parameters go through adam_range
 * (engine_tmpl.h), which computes a block of 64 in double, rounded to
 * float after each operation, when a moment in it is below 2^-64; every
 * path must round as plain float operations do.  (float64 keeps the
 * plain loop, checked here all the same.)  The state mixes normal values
 * with subnormals (1..6 ulps, where Adam's decaying first moment gets
 * stuck, and random ones), the smallest normal and its neighbour below,
 * the 2^-64 threshold and its neighbour, zeros of both signs, gradients
 * whose square underflows, first moments that cancel their gradient's
 * term, and quotients at the subnormal boundary; each block draws them at
 * its own rates, so blocks take every path and the paths meet every kind
 * of value. */
typedef struct {
    int f64;
    int emin, mant; /* smallest normal exponent, significand bits */
    int lim_m; /* tiny first moments: below 2^lim_m */
    int lim_g; /* gradients of 2^lim_g x 1e-3 have underflowing squares */
} adam_prec;

static uint64_t adam_seed;
static const adam_prec *adam_p;

static double adam_tiny(uint64_t *s, const adam_prec *P)
{
    double sub1 = ldexp(1, P->emin - P->mant); /* the smallest subnormal */
    const double pool[] = {sub1, 2 * sub1, 3 * sub1, 4 * sub1, 5 * sub1, 6 * sub1,
                           ldexp(1, P->emin), ldexp(ldexp(1, P->mant) - 1, P->emin - P->mant),
                           ldexp(1, P->lim_m), ldexp(1, P->lim_m) * (1 - ldexp(1, -P->mant - 1)),
                           ldexp(1, P->emin + 26), 0.0};
    double x;
    uint64_t r = t_next(s) % 4;
    if (r == 0) /* any subnormal */
        x = ldexp((double)(t_next(s) >> (64 - P->mant)), P->emin - P->mant);
    else if (r == 1) /* between the threshold and the smallest normal */
        x = ldexp(1 + t_unif(s), P->lim_m - 1 - (int)(t_next(s) % (unsigned)(P->lim_m - P->emin)));
    else
        x = pool[t_next(s) % (sizeof pool / sizeof *pool)];
    if (!P->f64)
        x = (float)x;
    return t_next(s) % 2 ? -x : x;
}

/* Plain float and double Adam, each operation its own statement. */
#define ADAM_REF(T, SQ)                                                          \
    do {                                                                         \
        T b1 = (T)beta1, b2 = (T)beta2, eps = (T)m->s.epsilon;                   \
        T step = (T)(lr / (1.0 - pow(beta1, t)));                                \
        T isb2 = (T)(1.0 / sqrt(1.0 - pow(beta2, t)));                           \
        T c1 = (T)1 - b1, c2 = (T)1 - b2;                                        \
        const T *g = ws.grad, *mo = m->opt_m, *ve = m->opt_v, *w = m->params;    \
        for (size_t i = 0; i < n; i++) {                                         \
            T p1 = b1 * mo[i], p2 = c1 * g[i];                                   \
            T m1 = p1 + p2;                                                      \
            T q1 = b2 * ve[i], q2 = c2 * g[i];                                   \
            T q3 = q2 * g[i];                                                    \
            T v1 = q1 + q3;                                                      \
            T sq = SQ(v1);                                                       \
            T den = sq * isb2;                                                   \
            den = den + eps;                                                     \
            T num = step * m1;                                                   \
            T q = num / den;                                                     \
            ((T *)rm)[i] = m1;                                                   \
            ((T *)rv)[i] = v1;                                                   \
            ((T *)rw)[i] = w[i] - q;                                             \
        }                                                                        \
    } while (0)

static void adam_bits_run(void)
{
    const adam_prec *P = adam_p;
    enum { NI = 20, H = 30, NO = 3, ROUNDS = 150 };
    size_t units[2] = {H, NO};
    ann_activation acts[2] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m;
    ASSERT_OK(ann_create(&m, NI, 2, units, acts));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION,
                            P->f64 ? ANN_PRECISION_F64 : ANN_PRECISION_F32));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    ann__ws ws;
    assert_int_equal(ann__ws_init(&ws, m, 1, 1), 0);
    assert_int_equal(ann__alloc_opt_state(m), 0);
    size_t n = m->n_params, es = P->f64 ? sizeof(double) : sizeof(float);
    void *rw = malloc(n * es), *rm = malloc(n * es), *rv = malloc(n * es);
    double *vg = malloc(n * sizeof *vg), *vm = malloc(n * sizeof *vm);
    double *vv = malloc(n * sizeof *vv), *vw = malloc(n * sizeof *vw);
    assert_true(rw && rm && rv && vg && vm && vv && vw);
    uint64_t s = adam_seed;
    size_t tiny_m = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* settings and step count vary: lr up to 0.3, epsilon down to a
         * subnormal, step counts from 1 */
        double lr = 1e-3 * (1 + 300 * t_unif(&s) * (round % 3 == 0));
        double beta1 = round % 5 == 0 ? 0.5 : 0.9, beta2 = round % 7 == 0 ? 0.99 : 0.999;
        const double epss[] = {1e-8, 1e-8, 1e-30, 1.0, 1e-3, P->f64 ? 1e-310 : 1e-40};
        ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_BETA1, beta1));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_BETA2, beta2));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_ADAM_EPSILON, epss[round % 6]));
        m->steps = (uint64_t)(t_next(&s) % 3000);
        int quot = round % 4 == 1;
        if (quot) {
            lr = 0.1 + 0.2 * t_unif(&s);
            m->steps = t_next(&s) % 8;
        }
        for (size_t b0 = 0; b0 < n; b0 += 64) {
            /* this block's rates of tiny values, per array (in 1/8) */
            unsigned pg = (unsigned)(t_next(&s) % 8), pm = (unsigned)(t_next(&s) % 8);
            unsigned pv = (unsigned)(t_next(&s) % 8), pw = (unsigned)(t_next(&s) % 8);
            if (t_next(&s) % 2) /* half the blocks: tiny first moments only */
                pg = pv = pw = 0;
            if (t_next(&s) % 3 == 0) /* a third: no tiny value at all */
                pg = pm = pv = pw = 0;
            for (size_t i = b0; i < n && i < b0 + 64; i++) {
                /* gradients of 2^-lim_g x 1e-3: their squares underflow */
                double gs = t_next(&s) % 4 == 0 ? ldexp(1e-3, P->lim_g) : 1e-3;
                vg[i] = t_next(&s) % 8 < pg ? adam_tiny(&s, P)
                        : t_next(&s) % 3 == 0 ? 0.0 : gs * t_normal(&s);
                vm[i] = t_next(&s) % 8 < pm ? adam_tiny(&s, P) : 1e-4 * t_normal(&s);
                if (t_next(&s) % 16 == 0) /* b1 m + (1 - b1) g cancels */
                    vm[i] = -(1 - beta1) * vg[i] / beta1;
                vv[i] = t_next(&s) % 4 == 0 ? 0.0
                        : fabs(t_next(&s) % 8 < pv ? adam_tiny(&s, P) : 1e-8 * t_normal(&s));
                vw[i] = t_next(&s) % 8 < pw ? adam_tiny(&s, P) : 0.1 * t_normal(&s);
                if (quot) {
                    /* subnormal first moments, a large early step and a
                     * denominator near 1 put the quotient at the smallest
                     * normal's scale; zero or subnormal weights show the
                     * quotient's last bit */
                    vg[i] = t_next(&s) % 4 == 0 ? gs * t_normal(&s) : 0.0;
                    vm[i] = ldexp((double)(t_next(&s) >> (64 - P->mant)), P->emin - P->mant);
                    vv[i] = 1e-4 + 1e-2 * t_unif(&s);
                    vw[i] = t_next(&s) % 2 ? 0.0 : adam_tiny(&s, P);
                }
                tiny_m += fabs(vm[i]) < ldexp(1, P->lim_m) && vm[i] != 0;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (P->f64) {
                ((double *)ws.grad)[i] = vg[i], ((double *)m->opt_m)[i] = vm[i];
                ((double *)m->opt_v)[i] = vv[i], ((double *)m->params)[i] = vw[i];
            } else {
                ((float *)ws.grad)[i] = (float)vg[i], ((float *)m->opt_m)[i] = (float)vm[i];
                ((float *)m->opt_v)[i] = (float)vv[i], ((float *)m->params)[i] = (float)vw[i];
            }
        }
        double t = (double)(m->steps + 1); /* update_begin counts the step first */
        if (P->f64)
            ADAM_REF(double, sqrt);
        else
            ADAM_REF(float, sqrtf);
        assert_int_equal(ann__update(m, &ws, lr), 0);
        for (size_t i = 0; i < n; i++)
            if (memcmp((char *)m->params + i * es, (char *)rw + i * es, es) ||
                memcmp((char *)m->opt_m + i * es, (char *)rm + i * es, es) ||
                memcmp((char *)m->opt_v + i * es, (char *)rv + i * es, es))
                fail_msg("Adam bits differ: f64 %d round %d param %zu (isa %d): g %a m %a "
                         "v %a w %a",
                         P->f64, round, i, ann__isa_current(), vg[i], vm[i], vv[i], vw[i]);
    }
    assert_true(tiny_m > (size_t)ROUNDS * 10); /* the tiny-value paths ran */
    adam_seed = s;
    free(rw);
    free(rm);
    free(rv);
    free(vg);
    free(vm);
    free(vv);
    free(vw);
    ann__ws_free(&ws);
    ann_destroy(m);
}

static void test_adam_bits(void **state)
{
    (void)state;
    static const adam_prec f32 = {0, -126, 23, -64, -64}, f64 = {1, -1022, 52, -900, -500};
    adam_seed = 2026;
    adam_p = &f32;
    on_each_table(adam_bits_run);
    adam_p = &f64;
    on_each_table(adam_bits_run);
}

/* Mini-batch Adam steps as a fit makes them (the fused backward and
 * update on one workspace, which clears the gradient as it consumes it
 * for the next step's accumulating GEMM) against the two passes by hand,
 * bit for bit, with subnormal and tiny first moments planted after the first
 * step, so that float32's wide path runs in its gradient-clearing form
 * too: both precisions, a BLAS-sized layer, both tables. */
static void adam_batch_case(ann_precision prec)
{
    enum { NI = 7, NO = 3, B = 16, STEPS = 10 };
    size_t units[3] = {300, 4, NO};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *a, *b;
    ASSERT_OK(ann_create(&a, NI, 3, units, acts));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_PRECISION, prec));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_SEED, 5));
    ASSERT_OK(ann_reinit(a));
    ASSERT_OK(ann_clone(a, &b));
    int f32 = prec == ANN_PRECISION_F32;
    size_t es = f32 ? sizeof(float) : sizeof(double);
    uint64_t s = 7;
    ann__ws wa;
    assert_int_equal(ann__ws_init(&wa, a, B, 1), 0);
    assert_int_equal(ann__alloc_opt_state(a), 0);
    for (int t = 0; t < STEPS; t++) {
        double x[B * NI], y[B * NO];
        for (size_t j = 0; j < B * NI; j++) /* sparse rows: many zero gradients */
            x[j] = t_next(&s) % 3 ? 0.0 : 2 * t_normal(&s);
        for (size_t k = 0; k < B * NO; k++)
            y[k] = t_normal(&s);
        ann__view xv = ann__dense(x, B, NI), yv = ann__dense(y, B, NO);
        ann__batch_src src = {&xv, &yv, NULL, NULL, B, 0, 0};
        const void *xa, *ya;
        /* a: as a fit's steps, on one workspace whose gradient the fused
         * step leaves zeroed for the next */
        assert_int_equal(ann__gather(a, &wa, &src, 0, B, &xa, &ya), 0);
        ann__forward(a, &wa, xa, B);
        assert_int_equal(ann__backward_update(a, &wa, xa, ya, B, ann__current_lr(a)), 0);
        ann__ws ws;
        assert_int_equal(ann__ws_init(&ws, b, B, 1), 0);
        assert_int_equal(ann__alloc_opt_state(b), 0);
        const void *xp, *yp;
        assert_int_equal(ann__gather(b, &ws, &src, 0, B, &xp, &yp), 0);
        ann__forward(b, &ws, xp, B);
        ann__backward(b, &ws, xp, yp, B);
        assert_int_equal(ann__update(b, &ws, ann__current_lr(b)), 0);
        ann__ws_free(&ws);
        if (t == 0) /* the same tiny first moments in both */
            for (size_t i = 0; i < a->n_params; i += 3) {
                double v = ldexp((double)(i % 7 + 1), f32 ? -149 + (int)(i % 40) : -1074);
                if (f32) {
                    ((float *)a->opt_m)[i] = ((float *)b->opt_m)[i] = (float)(i % 2 ? -v : v);
                } else {
                    ((double *)a->opt_m)[i] = ((double *)b->opt_m)[i] = i % 2 ? -v : v;
                }
            }
    }
    ann__ws_free(&wa);
    size_t pb = a->n_params * es;
    if (memcmp(a->params, b->params, pb) || memcmp(a->opt_m, b->opt_m, pb) ||
        memcmp(a->opt_v, b->opt_v, pb))
        fail_msg("mini-batch Adam step differs from backward + update: prec %d isa %d", prec,
                 ann__isa_current());
    ann_destroy(a);
    ann_destroy(b);
}

static void adam_batch_run(void)
{
    adam_batch_case(ANN_PRECISION_F32);
    adam_batch_case(ANN_PRECISION_F64);
}

static void test_adam_batch_step(void **state)
{
    (void)state;
    on_each_table(adam_batch_run);
}

/* The selection itself: auto picks AVX2 when present, generic is always
 * there, unknown values are refused. */
/* The one-row training step forms each weight's gradient where the update
 * uses it (no gradient buffer).  It must give the bits of the two-pass
 * step (ann__backward into ws->grad, then ann__update): every optimizer,
 * both precisions, a direct-loop width and a BLAS-sized one, and on both
 * instruction-set tables.  A wrong gradient element, a weight updated
 * before the layer below read it, or a missed finiteness check shows up
 * as different bytes. */
static void row_step_case(ann_precision prec, ann_optimizer opt, int nest, ann_activation hid,
                          size_t width)
{
    enum { NI = 5, NO = 3, STEPS = 12 };
    size_t units[3] = {width, 4, NO};
    ann_activation acts[3] = {hid, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *a, *b;
    ASSERT_OK(ann_create(&a, NI, 3, units, acts));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_PRECISION, prec));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_OPTIMIZER, opt));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_NESTEROV, nest));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_LEARNING_RATE, 0.05));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_SEED, 3));
    ASSERT_OK(ann_reinit(a));
    ASSERT_OK(ann_clone(a, &b));
    uint64_t s = 99;
    for (int t = 0; t < STEPS; t++) {
        double x[NI], y[NO];
        for (size_t j = 0; j < NI; j++)
            x[j] = 2 * t_normal(&s);
        for (size_t k = 0; k < NO; k++)
            y[k] = t_normal(&s);
        /* a: the library's one-row step */
        ASSERT_OK(ann_train_batch(a, x, y, 1));
        /* b: the two passes, by hand */
        ann__view xv = ann__dense(x, 1, NI), yv = ann__dense(y, 1, NO);
        ann__batch_src src = {&xv, &yv, NULL, NULL, 1, 0, 0};
        ann__ws ws;
        assert_int_equal(ann__ws_init(&ws, b, 1, 1), 0);
        assert_int_equal(ann__alloc_opt_state(b), 0);
        const void *xp, *yp;
        assert_int_equal(ann__gather(b, &ws, &src, 0, 1, &xp, &yp), 0);
        ann__forward(b, &ws, xp, 1);
        ann__backward(b, &ws, xp, yp, 1);
        assert_int_equal(ann__update(b, &ws, ann__current_lr(b)), 0);
        ann__ws_free(&ws);
    }
    size_t pb = a->n_params * (prec == ANN_PRECISION_F32 ? sizeof(float) : sizeof(double));
    assert_int_equal(a->steps, b->steps);
    if (memcmp(a->params, b->params, pb) != 0 ||
        (a->opt_m && memcmp(a->opt_m, b->opt_m, pb) != 0) ||
        (a->opt_v && memcmp(a->opt_v, b->opt_v, pb) != 0))
        fail_msg("one-row step differs from backward + update: prec %d opt %d nest %d hidden %d "
                 "width %zu",
                 prec, opt, nest, hid, width);
    ann_destroy(a);
    ann_destroy(b);
}

static void test_row_step(void **state)
{
    (void)state;
    const struct { ann_optimizer o; int nest; } opts[] = {
        {ANN_OPTIMIZER_SGD, 0}, {ANN_OPTIMIZER_MOMENTUM, 0},
        {ANN_OPTIMIZER_MOMENTUM, 1}, {ANN_OPTIMIZER_ADAM, 0}};
    const ann_activation hid[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_SIGMOID};
    const size_t widths[] = {3, 6, 300};
    int isas[2] = {ANN__ISA_GENERIC, ANN__ISA_AVX2};
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        if (ann__isa_select(isas[i]) != 0)
            continue; /* no AVX2 here: the generic table only */
        for (int p = 0; p < 2; p++)
            for (size_t k = 0; k < 4; k++)
                for (size_t h = 0; h < 3; h++)
                    for (size_t w = 0; w < 3; w++) {
                        row_step_case(p ? ANN_PRECISION_F32 : ANN_PRECISION_F64, opts[k].o,
                                      opts[k].nest, hid[h], widths[w]);
                        n++;
                    }
    }
    ann__isa_select(ANN__ISA_AUTO);
    print_message("%zu one-row step configurations equal\n", n);
}

static void test_select(void **state)
{
    (void)state;
    assert_int_equal(ann__isa_select(ANN__ISA_GENERIC), 0);
    assert_int_equal(ann__isa_current(), ANN__ISA_GENERIC);
    assert_int_equal(ann__isa_select(99), -1);
    assert_int_equal(ann__isa_current(), ANN__ISA_GENERIC);
    assert_int_equal(ann__isa_select(ANN__ISA_AUTO), 0);
    int avx2 = ann__isa_select(ANN__ISA_AVX2) == 0;
    ann__isa_select(ANN__ISA_AUTO);
    assert_int_equal(ann__isa_current(), avx2 ? ANN__ISA_AVX2 : ANN__ISA_GENERIC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_inputs),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_gather_checks),
        cmocka_unit_test(test_row_step),
        cmocka_unit_test(test_adam_bits),
        cmocka_unit_test(test_adam_batch_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
