/* test_views.c - the _view API: every dtype x layout (row-major, column-
 * major, transposed, every-other-row slice, negative strides) gives the
 * same results as the contiguous double API, bitwise; strides validated. */
#include "common.h"

#include <stdio.h>

enum { N = 40, NI = 5, NO = 3 };

/* Lay out A (rows x cols, row-major doubles, float-representable) in one of
 * the layouts; returns the view and the buffer to free. */
static ann_matrix layout(const double *A, size_t rows, size_t cols, int dtype, int kind,
                         void **buf)
{
    size_t item = dtype == ANN_DTYPE_F32 ? sizeof(float) : sizeof(double);
    size_t cap = rows * cols * 2 + 8;
    unsigned char *b = calloc(cap, item);
    *buf = b;
    ann_matrix v = {(ann_dtype)dtype, rows, cols, 0, 0, NULL};
    ptrdiff_t base = 0;
    switch (kind) {
    case 0: v.row_stride = (ptrdiff_t)cols; v.col_stride = 1; break;        /* C order */
    case 1: v.row_stride = 1; v.col_stride = (ptrdiff_t)rows; break;        /* F order */
    case 2: v.row_stride = 2 * (ptrdiff_t)cols; v.col_stride = 1; break;    /* a[::2] */
    case 3: /* rows reversed: a[::-1] */
        v.row_stride = -(ptrdiff_t)cols; v.col_stride = 1;
        base = (ptrdiff_t)((rows - 1) * cols); break;
    case 4: /* F order with reversed columns */
        v.row_stride = 1; v.col_stride = -(ptrdiff_t)rows;
        base = (ptrdiff_t)((cols - 1) * rows); break;
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            ptrdiff_t off = base + (ptrdiff_t)i * v.row_stride + (ptrdiff_t)j * v.col_stride;
            if (dtype == ANN_DTYPE_F32) ((float *)b)[off] = (float)A[i * cols + j];
            else ((double *)b)[off] = A[i * cols + j];
        }
    v.data = b + (size_t)base * item;
    return v;
}

static double view_at(const ann_matrix *v, size_t i, size_t j)
{
    ptrdiff_t off = (ptrdiff_t)i * v->row_stride + (ptrdiff_t)j * v->col_stride;
    return v->dtype == ANN_DTYPE_F32 ? ((float *)v->data)[off] : ((double *)v->data)[off];
}

static ann *net(int precision)
{
    size_t u[] = {12, NO};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SOFTMAX};
    ann *m = make_net(NI, 2, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 8));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION, precision));
    return m;
}

static void test_every_layout(void **state)
{
    (void)state;
    double X[N * NI], Y[N * NO];
    int32_t lab[N];
    uint64_t s = 21;
    for (int i = 0; i < N * NI; i++)
        X[i] = (double)(float)t_normal(&s); /* exact in float too */
    for (int i = 0; i < N; i++) {
        lab[i] = i % NO;
        for (int k = 0; k < NO; k++) Y[i * NO + k] = k == lab[i];
    }
    int combos = 0;
    for (int prec = 0; prec < 2; prec++) {
        ann *ref = net(prec), *refl = net(prec);
        ASSERT_OK(ann_fit(ref, X, Y, N));
        ASSERT_OK(ann_fit_labels(refl, X, lab, N));
        double P[N * NO], loss_ref;
        int32_t L[N];
        ASSERT_OK(ann_predict(ref, X, N, P));
        ASSERT_OK(ann_predict_labels(ref, X, N, L));
        ASSERT_OK(ann_evaluate(ref, X, Y, N, &loss_ref));
        ann *tb_ref = net(prec);
        ASSERT_OK(ann_train_batch(tb_ref, X, Y, N));
        for (int dt = 0; dt < 2; dt++)
            for (int kind = 0; kind < 5; kind++) {
                void *bx, *by, *bo;
                ann_matrix xv = layout(X, N, NI, dt, kind, &bx);
                ann_matrix yv = layout(Y, N, NO, dt, kind, &by);
                ann_matrix ov = layout(Y, N, NO, dt, kind, &bo);
                ann *m = net(prec), *ml = net(prec), *tb = net(prec);
                ASSERT_OK(ann_fit_view(m, &xv, &yv));
                assert_true(weights_same(m, ref));
                ASSERT_OK(ann_fit_labels_view(ml, &xv, lab));
                assert_true(weights_same(ml, refl));
                ASSERT_OK(ann_train_batch_view(tb, &xv, &yv));
                assert_true(weights_same(tb, tb_ref));
                ASSERT_OK(ann_predict_view(ref, &xv, &ov));
                for (int i = 0; i < N; i++)
                    for (int k = 0; k < NO; k++) {
                        double want = dt == ANN_DTYPE_F32 ? (double)(float)P[i * NO + k] : P[i * NO + k];
                        assert_true(view_at(&ov, (size_t)i, (size_t)k) == want);
                    }
                int32_t L2[N];
                ASSERT_OK(ann_predict_labels_view(ref, &xv, L2));
                assert_memory_equal(L, L2, sizeof L);
                double loss;
                ASSERT_OK(ann_evaluate_view(ref, &xv, &yv, &loss));
                assert_true(loss == loss_ref);
                ann_destroy(m);
                ann_destroy(ml);
                ann_destroy(tb);
                free(bx);
                free(by);
                free(bo);
                combos++;
            }
        ann_destroy(ref);
        ann_destroy(refl);
        ann_destroy(tb_ref);
    }
    assert_int_equal(combos, 20);
}

static void test_view_validation(void **state)
{
    (void)state;
    ann *m = net(ANN_PRECISION_F64);
    size_t nparam;
    double *before = weights_dump(m, &nparam);
    double X[N * NI] = {0}, Y[N * NO] = {0}, O[N * NO];
    ann_matrix xv = {ANN_DTYPE_F64, N, NI, NI, 1, X};
    ann_matrix yv = {ANN_DTYPE_F64, N, NO, NO, 1, Y};
    ann_matrix bad = xv;
    bad.row_stride = 0;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "row_stride"));
    bad = xv; bad.col_stride = 0;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_INVALID_ARGUMENT);
    bad = xv; bad.cols = NI + 1;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "columns"));
    bad = yv; bad.rows = N - 1;
    assert_int_equal(ann_fit_view(m, &xv, &bad), ANN_ERR_INVALID_ARGUMENT);
    bad = xv; bad.dtype = (ann_dtype)7;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_INVALID_ARGUMENT);
    bad = xv; bad.data = NULL;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_fit_view(m, NULL, &yv), ANN_ERR_INVALID_ARGUMENT);
    bad = xv; bad.row_stride = PTRDIFF_MAX / 2;
    assert_int_equal(ann_fit_view(m, &bad, &yv), ANN_ERR_TOO_LARGE);
    /* overlapping output: rows share elements */
    ann_matrix ov = {ANN_DTYPE_F64, N, NO, 1, 1, O};
    assert_int_equal(ann_predict_view(m, &xv, &ov), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "overlap"));
    /* NaN found through a strided view names row and column */
    X[7 * NI + 2] = NAN;
    assert_int_equal(ann_fit_view(m, &xv, &yv), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "X[7][2]"));
    ann_matrix fv = {ANN_DTYPE_F64, N, NI, 1, N, X}; /* as if F-ordered */
    assert_int_equal(ann_predict_view(m, &fv, &yv), ANN_ERR_NON_FINITE);
    assert_true(weights_equal_buf(m, before));
    free(before);
    ann_destroy(m);
}

/* Rows a float32 model (or a double model) reads in place or copies
 * unconverted are checked through layer 0's pre-activations, not on their
 * way in.  Every non-finite
 * input must still be caught - also with zero weights (Inf*0 and NaN*0 are
 * NaN) and wherever it sits - and leave Y untouched, through the narrow
 * direct loops (fan 3) and the GEMM path (fan 40), at one chunk and beyond
 * it.  Finite inputs that overflow the pre-activations are no error: the
 * outputs equal those of the copying path (a strided view), bit for bit. */
static void test_in_place_input_check(void **state)
{
    (void)state;
    const size_t fans[] = {3, 40}, rows[] = {1, 9, 1024, 1100};
    const double bads[] = {NAN, INFINITY, -INFINITY};
    for (int prec = 0; prec < 2; prec++)
        for (size_t fi = 0; fi < 2; fi++) {
            size_t fan = fans[fi];
            size_t u[] = {6, 2};
            ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_SOFTMAX};
            ann *m = make_net(fan, 2, u, a);
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION,
                                    prec ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
            double *W = calloc(6 * fan, sizeof *W), b[6] = {0};
            ASSERT_OK(ann_set_weights(m, 0, W, b)); /* every weight 0 */
            int dt = prec ? ANN_DTYPE_F32 : ANN_DTYPE_F64;
            size_t item = prec ? sizeof(float) : sizeof(double);
            for (size_t ri = 0; ri < 4; ri++) {
                size_t n = rows[ri];
                unsigned char *X = calloc(2 * n * fan, item), *Y = malloc(n * 2 * item),
                              *Y0 = malloc(n * 2 * item);
                ann_matrix yv = {(ann_dtype)dt, n, 2, 2, 1, Y};
                const size_t where[][2] = {{0, 0}, {n - 1, fan - 1}, {n / 2, fan / 2}};
                /* rows in place (dense), and rows copied (2 * fan apart:
                 * unconverted, so checked the same way) */
                for (size_t rs = fan; rs <= 2 * fan; rs += fan) {
                    for (int k = 0; k < 3; k++)
                        for (int w = 0; w < 3; w++) {
                            ann_matrix xv = {(ann_dtype)dt, n, fan, (ptrdiff_t)rs, 1, X};
                            size_t off = where[w][0] * rs + where[w][1];
                            if (prec) ((float *)X)[off] = (float)bads[k];
                            else ((double *)X)[off] = bads[k];
                            memset(Y, 0x5a, n * 2 * item);
                            memcpy(Y0, Y, n * 2 * item);
                            assert_int_equal(ann_predict_view(m, &xv, &yv), ANN_ERR_NON_FINITE);
                            char want[64];
                            snprintf(want, sizeof want, "X[%zu][%zu]", where[w][0], where[w][1]);
                            assert_non_null(strstr(ann_errmsg(m), want));
                            assert_memory_equal(Y, Y0, n * 2 * item);
                            if (prec) ((float *)X)[off] = 0;
                            else ((double *)X)[off] = 0;
                        }
                }
                free(X);
                free(Y);
                free(Y0);
            }
            /* overflow: a huge finite input times a large weight */
            for (size_t i = 0; i < 6 * fan; i++)
                W[i] = i % 3 ? 1e30 : -1e30;
            ASSERT_OK(ann_set_weights(m, 0, W, NULL));
            size_t n = 9;
            double big = prec ? 3e38 : 1e300;
            unsigned char *X = calloc(n * fan, item), *Xs = calloc(2 * n * fan, item);
            unsigned char *Y = calloc(n * 2, item), *Ys = calloc(n * 2, item);
            for (size_t i = 0; i < n * fan; i++) {
                double v = i % 2 ? big : 0.25 * (double)(i % 7);
                size_t r = i / fan, c = i % fan;
                if (prec) ((float *)X)[i] = (float)v, ((float *)Xs)[2 * r * fan + c] = (float)v;
                else ((double *)X)[i] = v, ((double *)Xs)[2 * r * fan + c] = v;
            }
            ann_matrix xv = {(ann_dtype)dt, n, fan, (ptrdiff_t)fan, 1, X};
            ann_matrix xs = {(ann_dtype)dt, n, fan, 2 * (ptrdiff_t)fan, 1, Xs};
            ann_matrix yv = {(ann_dtype)dt, n, 2, 2, 1, Y}, ys = {(ann_dtype)dt, n, 2, 2, 1, Ys};
            ASSERT_OK(ann_predict_view(m, &xv, &yv));
            ASSERT_OK(ann_predict_view(m, &xs, &ys));
            assert_memory_equal(Y, Ys, n * 2 * item);
            free(X);
            free(Xs);
            free(Y);
            free(Ys);
            free(W);
            ann_destroy(m);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_layout),
        cmocka_unit_test(test_view_validation),
        cmocka_unit_test(test_in_place_input_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
