/* predict.c - forward-only calls on a const handle: predict, labels,
 * evaluate.  Each call owns its work buffers, so any number of threads may
 * run them on one handle; results do not depend on concurrency. */
#include "ann_internal.h"

#include <math.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/* Rows per forward pass: large enough for GEMM to run at full speed, small
 * enough that the buffers stay bounded whatever n_rows is. */
#define CHUNK 1024

/* Work buffers up to this size live on the stack: a one-row prediction on
 * a small net then costs no malloc/free (which was most of its time). */
#define STACK_WS 4096

typedef enum { OUT_VALUES, OUT_LABELS, OUT_LOSS } out_kind;

static ann_status run(const ann *m, const char *fn, const ann_matrix *Xm,
                      const ann_matrix *Ym, out_kind kind, int32_t *labels, double *loss)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    size_t n_in = m->n_inputs, n_out = m->units[m->n_layers - 1];
    if ((kind == OUT_LABELS && !labels) || (kind == OUT_LOSS && !loss))
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         kind == OUT_LABELS ? "labels" : "loss");
    ann__view X, Y;
    ann_status st = ann__view_from(m, 0, fn, "X", Xm, 0, n_in, 0, &X);
    if (st == ANN_OK && kind != OUT_LABELS)
        st = ann__view_from(m, 0, fn, "Y", Ym, X.rows, n_out, kind == OUT_VALUES, &Y);
    /* Up to one chunk, X is checked as gather reads it (one pass over the
     * caller's data instead of two; nothing is written before the check):
     * on the copy, or for rows of the model's type with unit column stride
     * through layer 0's pre-activations (ann__gather).  Larger inputs are
     * checked first, so that a bad row late in X leaves Y untouched too. */
    int fused = X.rows <= CHUNK;
    if (st == ANN_OK && !fused)
        st = ann__check_view(m, 0, "X", &X);
    if (st == ANN_OK && kind == OUT_LOSS) {
        st = ann__check_view(m, 0, "Y", &Y);
        if (st == ANN_OK && m->s.loss == ANN_LOSS_CROSS_ENTROPY)
            st = ann__check_unit_range(m, 0, fn, "Y", &Y);
    }
    if (st != ANN_OK)
        return st;
    st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    size_t n_rows = X.rows;
    size_t cap = n_rows < CHUNK ? n_rows : CHUNK;
    ann__ws ws;
    double *tmp = NULL;
    alignas(64) unsigned char stack_ws[STACK_WS];
    if (ann__ws_init_buf(&ws, m, cap, 0, stack_ws, sizeof stack_ws) &&
        ann__ws_init(&ws, m, cap, 0)) {
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    if (kind == OUT_LABELS && !(tmp = malloc(cap * n_out * sizeof *tmp))) {
        ann__ws_free(&ws);
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    ann__view T = ann__dense(tmp, cap, n_out);
    ann__batch_src src = {&X, kind == OUT_LOSS ? &Y : NULL, NULL, NULL, 0, fused,
                          fused && !ann__fp_traps()};
    double total = 0;
    ann__blas_enter();
    for (size_t s = 0; s < n_rows; s += cap) {
        size_t B = n_rows - s < cap ? n_rows - s : cap;
        const void *x, *y;
        if (ann__gather(m, &ws, &src, s, B, &x, &y)) {
            /* locate the culprit for the message */
            st = ann__check_view(m, 0, "X", &X);
            if (st != ANN_OK)
                break;
        }
        const void *out = ann__forward(m, &ws, x, B);
        if (ws.x_deferred) {
            /* a non-finite pre-activation: a bad row, or finite inputs
             * large enough to overflow (then carry on as before) */
            st = ann__check_view(m, 0, "X", &X);
            if (st != ANN_OK)
                break;
        }
        ann__unscale_out(m, &ws, B); /* targets back in their units */
        if (kind == OUT_VALUES) {
            ann__store_output(m, out, B, &Y, s);
        } else if (kind == OUT_LOSS) {
            total += ann__loss_sum(m, &ws, y, B);
        } else {
            ann__store_output(m, out, B, &T, 0);
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
    if (st != ANN_OK)
        return st;
    if (kind == OUT_LOSS)
        *loss = total / (double)n_rows;
    return ANN_OK;
}

ann_status ann_predict(const ann *model, const double *X, size_t n_rows, double *Y)
{
    /* One row through a small net: the latency path (no work buffers, no
     * BLAS gate, no views); same bits as the general path.  A row that is
     * not finite, or a busy handle, goes the general way for its error. */
    if (model && X && Y && n_rows == 1 && ann__small_net(model) &&
        ann__lock_const(model) == ANN_OK) {
        int bad = ann__predict1(model, X, Y);
        ann__unlock_const(model);
        if (!bad)
            return ANN_OK;
    }
    ann_status st = ann__ptr_args(model, "ann_predict", X, Y, "Y", n_rows);
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    ann_matrix ym = ann__dense_matrix(Y, n_rows, model->units[model->n_layers - 1]);
    return run(model, "ann_predict", &xm, &ym, OUT_VALUES, NULL, NULL);
}

ann_status ann_predict_labels(const ann *model, const double *X, size_t n_rows,
                              int32_t *labels)
{
    ann_status st = ann__ptr_args(model, "ann_predict_labels", X, labels, "labels", n_rows);
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    return run(model, "ann_predict_labels", &xm, NULL, OUT_LABELS, labels, NULL);
}

ann_status ann_evaluate(const ann *model, const double *X, const double *Y,
                        size_t n_rows, double *loss)
{
    ann_status st = ann__ptr_args(model, "ann_evaluate", X, Y, "Y", n_rows);
    if (st == ANN_OK && !loss)
        st = ann__fail(model, 0, ANN_ERR_INVALID_ARGUMENT, "ann_evaluate: loss is NULL");
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    ann_matrix ym = ann__dense_matrix(Y, n_rows, model->units[model->n_layers - 1]);
    return run(model, "ann_evaluate", &xm, &ym, OUT_LOSS, NULL, loss);
}

ann_status ann_predict_view(const ann *model, const ann_matrix *X, ann_matrix *Y)
{
    return run(model, "ann_predict_view", X, Y, OUT_VALUES, NULL, NULL);
}

ann_status ann_predict_labels_view(const ann *model, const ann_matrix *X, int32_t *labels)
{
    return run(model, "ann_predict_labels_view", X, NULL, OUT_LABELS, labels, NULL);
}

ann_status ann_evaluate_view(const ann *model, const ann_matrix *X, const ann_matrix *Y,
                             double *loss)
{
    return run(model, "ann_evaluate_view", X, Y, OUT_LOSS, NULL, loss);
}
