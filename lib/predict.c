/* predict.c - forward-only calls on a const handle: predict, labels,
 * evaluate.  Each call owns its work buffers, so any number of threads may
 * run them on one handle; results do not depend on concurrency. */
#include "ann_internal.h"

#include <float.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>

/* Rows per forward pass: large enough for GEMM to run at full speed, small
 * enough that the buffers stay in cache-friendly territory. */
#define CHUNK 1024

/* Work buffers up to this size live on the stack: a one-row prediction on
 * a small net then costs no malloc/free (which was most of its time). */
#define STACK_WS 4096

/* All finite (and, for float models, within float range)?  The common
 * case in one pass with eight independent accumulators, so it vectorises;
 * ann__check_matrix then locates a problem and words the message. */
static int quick_ok(const double *A, size_t n, int f32)
{
    double acc[8] = {0}, mx[8] = {0};
    size_t n8 = n & ~(size_t)7, i = 0;
    for (; i < n8; i += 8)
        for (size_t k = 0; k < 8; k++) {
            double a = A[i + k], f = fabs(a);
            acc[k] += a * 0.0;
            mx[k] = f > mx[k] ? f : mx[k];
        }
    for (; i < n; i++) {
        acc[0] += A[i] * 0.0;
        mx[0] = fabs(A[i]) > mx[0] ? fabs(A[i]) : mx[0];
    }
    double s = 0, m = 0;
    for (size_t k = 0; k < 8; k++) {
        s += acc[k];
        m = mx[k] > m ? mx[k] : m;
    }
    return s == 0.0 && (!f32 || m <= FLT_MAX);
}

typedef enum { OUT_VALUES, OUT_LABELS, OUT_LOSS } out_kind;

static ann_status run(const ann *m, const char *fn, const double *X,
                      const double *Y, size_t n_rows, out_kind kind,
                      double *outY, int32_t *labels, double *loss)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    size_t n_in = m->n_inputs, n_out = m->units[m->n_layers - 1];
    if (!X || (kind == OUT_VALUES && !outY) || (kind == OUT_LABELS && !labels) ||
        (kind == OUT_LOSS && (!Y || !loss)))
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !X ? "X" : kind == OUT_VALUES ? "Y" : kind == OUT_LABELS ? "labels"
                                  : !Y ? "Y" : "loss");
    if (n_rows == 0)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: n_rows is 0", fn);
    if (n_rows > SIZE_MAX / n_in || n_rows > SIZE_MAX / n_out)
        return ann__fail(m, 0, ANN_ERR_TOO_LARGE, "%s: n_rows = %zu overflows", fn, n_rows);
    int f32 = m->s.precision == ANN_PRECISION_F32;
    ann_status st = quick_ok(X, n_rows * n_in, f32) ? ANN_OK
                        : ann__check_matrix(m, 0, "X", X, n_rows, n_in);
    if (st == ANN_OK && kind == OUT_LOSS) {
        st = ann__check_matrix(m, 0, "Y", Y, n_rows, n_out);
        if (st == ANN_OK && m->s.loss == ANN_LOSS_CROSS_ENTROPY)
            for (size_t i = 0; i < n_rows * n_out; i++)
                if (Y[i] < 0.0 || Y[i] > 1.0)
                    return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT,
                                     "%s: Y[%zu][%zu] = %g is outside [0, 1]", fn,
                                     i / n_out, i % n_out, Y[i]);
    }
    if (st != ANN_OK)
        return st;
    st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    size_t cap = n_rows < CHUNK ? n_rows : CHUNK;
    ann__ws ws;
    alignas(64) unsigned char stack_ws[STACK_WS];
    if (ann__ws_init_buf(&ws, m, cap, 0, stack_ws, sizeof stack_ws) &&
        ann__ws_init(&ws, m, cap, 0)) {
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    /* Double rows are read in place; a local output buffer is needed only
     * for labels and float models. */
    ann__batch_src src = {X, Y, NULL, NULL};
    double total = 0;
    double *tmp = NULL;
    if (kind == OUT_LABELS && !(tmp = malloc(cap * n_out * sizeof *tmp))) {
        ann__ws_free(&ws);
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    ann__blas_enter();
    for (size_t s = 0; s < n_rows; s += cap) {
        size_t B = n_rows - s < cap ? n_rows - s : cap;
        const void *x, *y;
        ann__gather(m, &ws, &src, s, B, &x, &y);
        const void *out = ann__forward(m, &ws, x, B);
        if (kind == OUT_VALUES) {
            ann__store_output(m, out, B, outY + s * n_out);
        } else if (kind == OUT_LOSS) {
            total += ann__loss_sum(m, &ws, y, B);
        } else {
            ann__store_output(m, out, B, tmp);
            for (size_t r = 0; r < B; r++) {
                const double *o = tmp + r * n_out;
                int32_t best = 0;
                if (n_out == 1) {
                    best = o[0] >= 0.5;
                } else {
                    for (size_t k = 1; k < n_out; k++)
                        if (o[k] > o[best])
                            best = (int32_t)k;
                }
                labels[s + r] = best;
            }
        }
    }
    ann__blas_leave();
    free(tmp);
    ann__ws_free(&ws);
    ann__unlock_const(m);
    if (kind == OUT_LOSS)
        *loss = total / (double)n_rows;
    return ANN_OK;
}

ann_status ann_predict(const ann *model, const double *X, size_t n_rows, double *Y)
{
    return run(model, "ann_predict", X, NULL, n_rows, OUT_VALUES, Y, NULL, NULL);
}

ann_status ann_predict_labels(const ann *model, const double *X, size_t n_rows,
                              int32_t *labels)
{
    return run(model, "ann_predict_labels", X, NULL, n_rows, OUT_LABELS, NULL, labels, NULL);
}

ann_status ann_evaluate(const ann *model, const double *X, const double *Y,
                        size_t n_rows, double *loss)
{
    return run(model, "ann_evaluate", X, Y, n_rows, OUT_LOSS, NULL, NULL, loss);
}
