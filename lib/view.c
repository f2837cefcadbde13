/* view.c - caller matrices as strided, typed views: validation and the
 * data checks every entry point runs before touching BLAS. */
#include "ann_internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

static size_t absd(ptrdiff_t x) { return x < 0 ? (size_t)0 - (size_t)x : (size_t)x; }

ann_status ann__view_from(const ann *m, int mutating, const char *fn, const char *name,
                          const ann_matrix *M, size_t want_rows, size_t want_cols,
                          int output, ann__view *out)
{
    if (!M || !M->data)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT, "%s: %s%s is NULL", fn,
                         name, M ? "->data" : "");
    if (M->dtype != ANN_DTYPE_F64 && M->dtype != ANN_DTYPE_F32)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT, "%s: %s->dtype = %d is unknown",
                         fn, name, (int)M->dtype);
    if (M->rows == 0 || M->cols == 0)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT, "%s: %s has %zu rows and %zu "
                         "columns", fn, name, M->rows, M->cols);
    if (M->cols != want_cols)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT,
                         "%s: %s has %zu columns, the model needs %zu", fn, name, M->cols,
                         want_cols);
    if (want_rows && M->rows != want_rows)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT,
                         "%s: %s has %zu rows, X has %zu", fn, name, M->rows, want_rows);
    if (M->row_stride == 0 || M->col_stride == 0)
        return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT, "%s: %s->%s is 0", fn, name,
                         M->row_stride == 0 ? "row_stride" : "col_stride");
    /* The farthest element must be addressable: (rows-1)|rs| + (cols-1)|cs|
     * elements of the item size, within PTRDIFF_MAX bytes. */
    size_t rs = absd(M->row_stride), cs = absd(M->col_stride);
    size_t item = M->dtype == ANN_DTYPE_F32 ? sizeof(float) : sizeof(double);
    size_t lim = (size_t)PTRDIFF_MAX / item;
    if ((M->rows - 1) > lim / rs || (M->cols - 1) > lim / cs ||
        (M->rows - 1) * rs > lim - (M->cols - 1) * cs)
        return ann__fail(m, mutating, ANN_ERR_TOO_LARGE,
                         "%s: %s's strides overflow the address space", fn, name);
    if (output) {
        /* Distinct elements at distinct addresses: rows laid out beyond
         * each other's columns, or columns beyond each other's rows. */
        int ok = (M->cols == 1 || rs >= M->cols * cs || M->rows == 1 || cs >= M->rows * rs);
        if (M->rows > 1 && M->cols > 1)
            ok = rs >= M->cols * cs || cs >= M->rows * rs;
        else if (M->rows > 1)
            ok = rs >= 1;
        if (!ok)
            return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT,
                             "%s: output %s's strides (%td, %td) make elements overlap", fn,
                             name, M->row_stride, M->col_stride);
    }
    out->dtype = (int)M->dtype;
    out->rows = M->rows;
    out->cols = M->cols;
    out->rs = M->row_stride;
    out->cs = M->col_stride;
    out->data = M->data;
    return ANN_OK;
}

ann_status ann__check_view(const ann *m, int mutating, const char *name, const ann__view *v)
{
    int f32_model = m && m->s.precision == ANN_PRECISION_F32;
    /* One vectorised pass for the common, all-finite case; locate the
     * culprit only on failure. */
    if (!ann__scan(v, f32_model))
        return ANN_OK;
    for (size_t i = 0; i < v->rows; i++)
        for (size_t j = 0; j < v->cols; j++) {
            double x = ann__view_get(v, i, j);
            if (!isfinite(x))
                return ann__fail(m, mutating, ANN_ERR_NON_FINITE, "%s[%zu][%zu] is %s", name, i,
                                 j, isnan(x) ? "NaN" : "infinite");
        }
    /* Converting a double beyond FLT_MAX to float is undefined in C and
     * inf in practice: refuse it rather than train on inf. */
    for (size_t i = 0; i < v->rows; i++)
        for (size_t j = 0; j < v->cols; j++) {
            double x = ann__view_get(v, i, j);
            if (fabs(x) > FLT_MAX)
                return ann__fail(m, mutating, ANN_ERR_NON_FINITE,
                                 "%s[%zu][%zu] = %g overflows float32", name, i, j, x);
        }
    return ANN_OK;
}

ann_status ann__check_unit_range(const ann *m, int mutating, const char *fn,
                                 const char *name, const ann__view *v)
{
    for (size_t i = 0; i < v->rows; i++)
        for (size_t j = 0; j < v->cols; j++) {
            double y = ann__view_get(v, i, j);
            if (y < 0.0 || y > 1.0)
                return ann__fail(m, mutating, ANN_ERR_INVALID_ARGUMENT,
                                 "%s: %s[%zu][%zu] = %g is outside [0, 1] (cross-entropy "
                                 "targets)", fn, name, i, j, y);
        }
    return ANN_OK;
}

ann_status ann__check_matrix(const ann *m, int mutating, const char *name,
                             const double *A, size_t rows, size_t cols)
{
    ann__view v = ann__dense(A, rows, cols);
    return ann__check_view(m, mutating, name, &v);
}

ann_matrix ann__dense_matrix(const double *A, size_t rows, size_t cols)
{
    ann_matrix v = {ANN_DTYPE_F64, rows, cols, (ptrdiff_t)cols, 1, (void *)(uintptr_t)A};
    return v;
}

ann_status ann__ptr_args(const ann *m, const char *fn, const double *X, const void *Y,
                         const char *yname, size_t n_rows)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if (!X || !Y)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !X ? "X" : yname);
    if (n_rows == 0)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: n_rows is 0", fn);
    size_t n_out = m->units[m->n_layers - 1];
    if (n_rows > SIZE_MAX / m->n_inputs / sizeof(double) ||
        n_rows > SIZE_MAX / n_out / sizeof(double) || n_rows > (size_t)PTRDIFF_MAX / 16)
        return ann__fail(m, 0, ANN_ERR_TOO_LARGE, "%s: n_rows = %zu overflows", fn, n_rows);
    return ANN_OK;
}
