/* test_hygiene.c - what a library loaded into someone else's process must
 * not do.
 *  - silence: with fds 1 and 2 redirected to pipes, a representative
 *    workload (successful calls and every kind of failure: bad arguments,
 *    NaN data, divergence, corrupt and missing files, unwritable paths)
 *    writes nothing to either;
 *  - FP traps: with feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)
 *    fit, train_batch, evaluate and predict on finite data in the
 *    documented range raise no SIGFPE (every activation and loss, both
 *    precisions, every optimizer, OpenBLAS included);
 *  - bad inputs to the predict family (NaN, +-Inf, and for float32 models
 *    values beyond float's range) at the first, a middle and the last
 *    element, in every input layout, for one row (the small-net path), one
 *    chunk (checked during the copy) and several chunks (checked first):
 *    ANN_ERR_NON_FINITE naming the row and column, the output untouched,
 *    and no SIGFPE with the traps above enabled (a bad value is never
 *    converted or computed on);
 *  - the same for ann_fit on bad rows, with the traps on (without them a
 *    fit checks rows through layer 0's pre-activations, computing on the
 *    bad value first). */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <float.h>
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

enum { N_IN = 4, ROWS = 50 };
static double X[ROWS * N_IN], Y[ROWS * 3];
static int32_t labels[ROWS];

static void make_data(void)
{
    uint64_t s = 11;
    for (size_t i = 0; i < ROWS * N_IN; i++)
        X[i] = t_normal(&s);
    for (size_t r = 0; r < ROWS; r++) {
        labels[r] = (int32_t)(r % 3);
        for (int k = 0; k < 3; k++)
            Y[r * 3 + k] = k == labels[r];
    }
}

/* Everything the library can be asked to do, failures included.  Returns
 * the number of calls that failed (so the test can check it ran them). */
static int workload(void)
{
    int failures = 0;
#define CALL(expr) do { if ((expr) != ANN_OK) failures++; } while (0)
    size_t u[] = {6, 3}, bad_u[] = {0, 3};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX},
                   bad_a[] = {ANN_ACT_SOFTMAX, ANN_ACT_SOFTMAX};
    ann *m = NULL, *c = NULL, *l = NULL;
    CALL(ann_create(NULL, N_IN, 2, u, a));
    CALL(ann_create(&m, N_IN, 2, bad_u, a));
    CALL(ann_create(&m, N_IN, 2, u, bad_a));
    CALL(ann_create(&m, (size_t)1 << 40, 2, u, a));
    CALL(ann_create(&m, N_IN, 2, u, a));
    CALL(ann_set_param(m, ANN_PARAM_LEARNING_RATE, -1));
    CALL(ann_set_param(m, ANN_PARAM_LEARNING_RATE, NAN));
    CALL(ann_set_param(m, (ann_param)12345, 1));
    CALL(ann_set_param(m, ANN_PARAM_EPOCHS_RUN, 1));
    CALL(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
    CALL(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    CALL(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.2));
    CALL(ann_fit(m, X, Y, ROWS));
    CALL(ann_fit(m, NULL, Y, ROWS));
    CALL(ann_fit(m, X, Y, 0));
    double Xn[ROWS * N_IN];
    memcpy(Xn, X, sizeof Xn);
    Xn[7] = NAN;
    CALL(ann_fit(m, Xn, Y, ROWS));
    double out[ROWS * 3];
    CALL(ann_predict(m, Xn, ROWS, out));
    CALL(ann_predict(m, X, ROWS, out));
    CALL(ann_predict(NULL, X, ROWS, out));
    int32_t lab[ROWS];
    CALL(ann_predict_labels(m, X, ROWS, lab));
    CALL(ann_fit_labels(m, X, labels, ROWS));
    int32_t bad_labels[ROWS];
    memcpy(bad_labels, labels, sizeof bad_labels);
    bad_labels[3] = 9;
    CALL(ann_fit_labels(m, X, bad_labels, ROWS));
    double loss;
    CALL(ann_evaluate(m, X, Y, ROWS, &loss));
    CALL(ann_train_batch(m, X, Y, 10));
    ann_matrix bad_view = {ANN_DTYPE_F64, ROWS, N_IN, 0, 1, X};
    ann_matrix yv = {ANN_DTYPE_F64, ROWS, 3, 3, 1, Y};
    CALL(ann_fit_view(m, &bad_view, &yv));
    CALL(ann_get_weights(m, 9, out, NULL));
    CALL(ann_clone(m, &c));
    /* divergence: a huge learning rate on a linear output */
    size_t ur[] = {1};
    ann_activation ar[] = {ANN_ACT_IDENTITY};
    ann *d = NULL;
    CALL(ann_create(&d, N_IN, 1, ur, ar));
    CALL(ann_set_param(d, ANN_PARAM_LEARNING_RATE, 1e6));
    CALL(ann_set_param(d, ANN_PARAM_EPOCHS, 50));
    double big[ROWS];
    for (size_t r = 0; r < ROWS; r++)
        big[r] = 1e150 * (double)(r + 1);
    CALL(ann_fit(d, X, big, ROWS));
    ann_destroy(d);
    /* persistence failures */
    unsigned char buf[1 << 14];
    size_t n = 0;
    CALL(ann_save_buffer(m, NULL, 0, &n));
    CALL(ann_save_buffer(m, buf, 8, &n));
    CALL(ann_save_buffer(m, buf, sizeof buf, &n));
    CALL(ann_load_buffer(&l, buf, n));
    ann_destroy(l);
    l = NULL;
    buf[n / 2] ^= 0x40;
    CALL(ann_load_buffer(&l, buf, n));
    CALL(ann_load_buffer(&l, buf, n - 3));
    CALL(ann_load_buffer(&l, "garbage", 7));
    CALL(ann_load(&l, "/nonexistent-dir/model.ann"));
    CALL(ann_load(&l, "/"));
    CALL(ann_save(m, "/nonexistent-dir/model.ann"));
    CALL(ann_save(m, ""));
    (void)ann_errmsg(NULL);
    (void)ann_errmsg(m);
    (void)ann_status_str((ann_status)999);
    ann_destroy(c);
    ann_destroy(m);
#undef CALL
    return failures;
}

static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    return n;
}

static void test_silence(void **state)
{
    (void)state;
    int p1[2], p2[2];
    assert_int_equal(pipe2(p1, O_NONBLOCK), 0);
    assert_int_equal(pipe2(p2, O_NONBLOCK), 0);
    fflush(stdout);
    fflush(stderr);
    int save1 = dup(1), save2 = dup(2);
    dup2(p1[1], 1);
    dup2(p2[1], 2);
    int failures = workload();
    fflush(stdout);
    fflush(stderr);
    dup2(save1, 1);
    dup2(save2, 2);
    close(save1);
    close(save2);
    close(p1[1]);
    close(p2[1]);
    static char out[1 << 16], err[1 << 16];
    size_t n1 = drain(p1[0], out, sizeof out - 1), n2 = drain(p2[0], err, sizeof err - 1);
    close(p1[0]);
    close(p2[0]);
    out[n1] = err[n2] = 0;
    printf("# workload: %d failing calls, %zu bytes on stdout, %zu on stderr\n",
           failures, n1, n2);
    if (n1 || n2)
        fail_msg("the library wrote: stdout '%.200s' stderr '%.200s'", out, err);
    assert_true(failures >= 25);
}

/* ---- FP traps ------------------------------------------------------------ */
static sigjmp_buf trap_jmp;
static volatile const char *trap_where;
static char trap_cfg[128];
static void on_fpe(int sig)
{
    (void)sig;
    siglongjmp(trap_jmp, 1);
}

static void test_fp_traps(void **state)
{
    (void)state;
    static const ann_activation hidden[] = {ANN_ACT_IDENTITY, ANN_ACT_STEP, ANN_ACT_SIGMOID,
                                            ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_LEAKY_RELU};
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_fpe;
    sigaction(SIGFPE, &sa, &old);
    static int runs;
    if (sigsetjmp(trap_jmp, 1)) {
        fedisableexcept(FE_ALL_EXCEPT);
        sigaction(SIGFPE, &old, NULL);
        fail_msg("SIGFPE in %s (%s)", trap_where, trap_cfg);
    }
    for (size_t h = 0; h < sizeof hidden / sizeof *hidden; h++) {
        for (int out = 0; out < 3; out++) {      /* softmax+CE, sigmoid+CE, identity+SE */
            for (int prec = 0; prec <= 1; prec++) {
                int opt = (int)(h + (size_t)out + (size_t)prec) % 3;
                size_t u[] = {8, out == 0 ? 3 : out == 1 ? 1 : 2};
                ann_activation a[] = {hidden[h], out == 0 ? ANN_ACT_SOFTMAX
                                                 : out == 1 ? ANN_ACT_SIGMOID
                                                            : ANN_ACT_IDENTITY};
                ann *m = NULL;
                ASSERT_OK(ann_create(&m, N_IN, 2, u, a));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_OPTIMIZER, opt));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_INIT, (int)h % 3));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 20));
                /* a rate that converges for every configuration: divergence
                 * is detected by the loss overflowing, which traps */
                ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, out == 2 ? 0.01 : 0.1));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, h % 2 ? 1 : 16));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.2));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_PATIENCE, 3));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_L2, 1e-4));
                ASSERT_OK(ann_set_param(m, ANN_PARAM_LR_DECAY, 0.01));
                if (out < 2)
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
                double Yb[ROWS * 3], P[ROWS * 3], loss;
                for (size_t r = 0; r < ROWS; r++)
                    for (size_t k = 0; k < u[1]; k++)
                        Yb[r * u[1] + k] = out == 0 ? Y[r * 3 + k]
                                         : out == 1 ? (double)(labels[r] == 1)
                                                    : X[r * N_IN + k] * 2 - 1;
                snprintf(trap_cfg, sizeof trap_cfg, "hidden act %d, output %d, precision %d, "
                         "optimizer %d", (int)hidden[h], out, prec, opt);
                feclearexcept(FE_ALL_EXCEPT);
                feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
                trap_where = "ann_fit";
                ann_status st = ann_fit(m, X, Yb, ROWS);
                trap_where = "ann_train_batch";
                ann_status st2 = ann_train_batch(m, X, Yb, 7);
                trap_where = "ann_evaluate";
                ann_status st3 = ann_evaluate(m, X, Yb, ROWS, &loss);
                trap_where = "ann_predict";
                ann_status st4 = ann_predict(m, X, ROWS, P);
                trap_where = "ann_predict (one row)";
                ann_status st5 = ann_predict(m, X, 1, P);
                fedisableexcept(FE_ALL_EXCEPT);
                ASSERT_OK(st);
                ASSERT_OK(st2);
                ASSERT_OK(st3);
                ASSERT_OK(st4);
                ASSERT_OK(st5);
                ann_destroy(m);
                runs++;
            }
        }
    }
    sigaction(SIGFPE, &old, NULL);
    printf("# %d configurations trained and predicted with FP traps on\n", runs);
}

/* One bad-input prediction; returns after checking status, message and
 * that out[] kept its sentinel. */
static void check_bad(ann *m, int prec, size_t width, size_t rows, int layout, double bad,
                      size_t br, size_t bc, double *Xb, float *Xf, double *out, size_t n_out)
{
    /* does this value count as bad for this model? */
    int expect_bad = !isfinite(bad) || (prec == 1 && fabs(bad) > FLT_MAX);
    if (layout >= 2 && isfinite(bad) && fabs(bad) > FLT_MAX)
        return; /* a float array cannot hold it */
    size_t n = rows * N_IN;
    for (size_t i = 0; i < rows * N_IN * 2; i++) {
        Xb[i] = 0.25;
        Xf[i] = 0.25f;
    }
    for (size_t i = 0; i < rows * n_out; i++)
        out[i] = -12345.0;
    ann_matrix xv, yv = {ANN_DTYPE_F64, rows, n_out, (ptrdiff_t)n_out, 1, out};
    ann_status st;
    switch (layout) {
    case 0: /* the pointer API, dense double */
        Xb[br * N_IN + bc] = bad;
        st = ann_predict(m, Xb, rows, out);
        break;
    case 1: /* double view, rows 2*N_IN apart */
        Xb[br * 2 * N_IN + bc] = bad;
        xv = (ann_matrix){ANN_DTYPE_F64, rows, N_IN, 2 * N_IN, 1, Xb};
        st = ann_predict_view(m, &xv, &yv);
        break;
    case 2: /* dense float view (in place for a float32 model) */
        Xf[br * N_IN + bc] = (float)bad;
        xv = (ann_matrix){ANN_DTYPE_F32, rows, N_IN, N_IN, 1, Xf};
        st = ann_predict_view(m, &xv, &yv);
        break;
    default: /* column-major float */
        Xf[bc * rows + br] = (float)bad;
        xv = (ann_matrix){ANN_DTYPE_F32, rows, N_IN, 1, (ptrdiff_t)rows, Xf};
        st = ann_predict_view(m, &xv, &yv);
        break;
    }
    (void)n;
    if (!expect_bad) {
        if (st != ANN_OK)
            fail_msg("value %g refused: %s", bad, ann_errmsg(m));
        return;
    }
    char want[64];
    snprintf(want, sizeof want, "X[%zu][%zu]", br, bc);
    if (st != ANN_ERR_NON_FINITE || !strstr(ann_errmsg(m), want))
        fail_msg("prec %d width %zu rows %zu layout %d value %g at [%zu][%zu]: %s (%s)", prec,
                 width, rows, layout, bad, br, bc, ann_status_str(st), ann_errmsg(m));
    for (size_t i = 0; i < rows * n_out; i++)
        if (out[i] != -12345.0)
            fail_msg("output written on failure (layout %d, rows %zu)", layout, rows);
}

static void test_bad_input(void **state)
{
    (void)state;
    const double bads[] = {NAN, INFINITY, -INFINITY, 1e300, -3.5e38, 3.4e38};
    const size_t widths[] = {8, 300}, row_counts[] = {1, 5, 1500};
    size_t maxr = 1500;
    double *Xb = malloc(maxr * N_IN * 2 * sizeof *Xb), *out = malloc(maxr * 3 * sizeof *out);
    float *Xf = malloc(maxr * N_IN * 2 * sizeof *Xf);
    assert_non_null(Xb);
    assert_non_null(Xf);
    assert_non_null(out);
    size_t calls = 0;
    feclearexcept(FE_ALL_EXCEPT);
    for (int prec = 0; prec <= 1; prec++)
        for (size_t w = 0; w < 2; w++) {
            size_t u[] = {widths[w], 3};
            ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
            ann *m = NULL;
            ASSERT_OK(ann_create(&m, N_IN, 2, u, a));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
            for (size_t rc = 0; rc < 3; rc++)
                for (int layout = 0; layout < 4; layout++)
                    for (size_t b = 0; b < sizeof bads / sizeof *bads; b++)
                        for (int where = 0; where < 3; where++) {
                            size_t rows = row_counts[rc];
                            size_t br = where == 0 ? 0 : where == 1 ? rows / 2 : rows - 1;
                            size_t bc = where == 0 ? 0 : where == 1 ? 2 : N_IN - 1;
                            feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
                            check_bad(m, prec, widths[w], rows, layout, bads[b], br, bc, Xb,
                                      Xf, out, 3);
                            fedisableexcept(FE_ALL_EXCEPT);
                            calls++;
                        }
            ann_destroy(m);
        }
    printf("# %zu bad-input predictions refused cleanly\n", calls);
    free(Xb);
    free(Xf);
    free(out);
}

/* Bad inputs to ann_fit with the traps on: without traps a fit checks
 * rows it reads unconverted through layer 0's pre-activations, computing
 * on them first; with traps that would raise (Inf*0 is an invalid
 * operation, and layer 0's weights here are all 0), so each row must be
 * checked before it is used.  Both precisions, rows read in place or
 * copied (shuffled or not, dense or strided), ann_fit and ann_fit_view:
 * ANN_ERR_NON_FINITE naming the element, the model unchanged, no SIGFPE. */
static void test_fit_bad_input_traps(void **state)
{
    (void)state;
    enum { NR = 40, W = 300 };
    static double Xd[NR * N_IN * 2], Yd[NR * 3];
    static float Xf[NR * N_IN * 2];
    static unsigned char before[1 << 16];
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_fpe;
    sigaction(SIGFPE, &sa, &old);
    if (sigsetjmp(trap_jmp, 1)) {
        fedisableexcept(FE_ALL_EXCEPT);
        sigaction(SIGFPE, &old, NULL);
        fail_msg("SIGFPE in ann_fit on bad input (%s)", trap_cfg);
    }
    const double bads[] = {INFINITY, -INFINITY, NAN};
    int runs = 0;
    for (int prec = 0; prec <= 1; prec++)
        for (int layout = 0; layout < 4; layout++)
            for (int shuffle = 0; shuffle <= 1; shuffle++)
                for (size_t b = 0; b < 3; b++) {
                    size_t u[] = {W, 3};
                    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_SOFTMAX};
                    ann *m = NULL;
                    ASSERT_OK(ann_create(&m, N_IN, 2, u, a));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, prec));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, shuffle));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 8));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 2));
                    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
                    static double W0[W * N_IN], b0[W];
                    ASSERT_OK(ann_set_weights(m, 0, W0, b0)); /* all 0 */
                    size_t br = 29, bc = 2;
                    for (size_t r = 0; r < NR; r++) {
                        for (size_t c = 0; c < N_IN; c++) {
                            double v = X[(r % ROWS) * N_IN + c];
                            if (r == br && c == bc)
                                v = bads[b];
                            /* layouts 0-1 dense, 2-3 rows 2*N_IN apart */
                            size_t at = layout < 2 ? r * N_IN + c : r * 2 * N_IN + c;
                            Xd[at] = v;
                            Xf[at] = (float)v;
                        }
                        for (int k = 0; k < 3; k++)
                            Yd[r * 3 + k] = k == labels[r % ROWS];
                    }
                    /* layouts 0 and 2: double rows; 1 and 3: float rows */
                    ptrdiff_t rs = layout < 2 ? N_IN : 2 * N_IN;
                    ann_matrix xv = {layout % 2 ? ANN_DTYPE_F32 : ANN_DTYPE_F64, NR, N_IN, rs, 1,
                                     layout % 2 ? (void *)Xf : (void *)Xd};
                    ann_matrix yv = {ANN_DTYPE_F64, NR, 3, 3, 1, Yd};
                    size_t nb = 0;
                    ASSERT_OK(ann_save_buffer(m, before, sizeof before, &nb));
                    snprintf(trap_cfg, sizeof trap_cfg, "precision %d, layout %d, shuffle %d, "
                             "value %g", prec, layout, shuffle, bads[b]);
                    feclearexcept(FE_ALL_EXCEPT);
                    feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
                    ann_status st = layout == 0 ? ann_fit(m, Xd, Yd, NR) : ann_fit_view(m, &xv, &yv);
                    fedisableexcept(FE_ALL_EXCEPT);
                    char want[32];
                    snprintf(want, sizeof want, "X[%zu][%zu]", br, bc);
                    if (st != ANN_ERR_NON_FINITE || !strstr(ann_errmsg(m), want))
                        fail_msg("%s: %s (%s)", trap_cfg, ann_status_str(st), ann_errmsg(m));
                    t_assert_saves_as(m, before, nb);
                    ann_destroy(m);
                    runs++;
                }
    sigaction(SIGFPE, &old, NULL);
    printf("# %d bad-input fits refused with FP traps on\n", runs);
}

int main(void)
{
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silence),
        cmocka_unit_test(test_fp_traps),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fit_bad_input_traps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
