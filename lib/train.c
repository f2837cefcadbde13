/* train.c - argument checks, the epoch loop, early stopping, divergence
 * rollback, one-batch steps. */
#include "ann_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

ann_status ann__check_matrix(const ann *m, int mutating, const char *name,
                             const double *A, size_t rows, size_t cols)
{
    size_t n = rows * cols;
    /* The common case (all finite) in one vectorisable pass; locate only
     * when something is wrong. */
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += A[i] * 0.0;
    if (acc != 0.0) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(A[i]))
                return ann__fail(m, mutating, ANN_ERR_NON_FINITE,
                                 "%s[%zu][%zu] is %s", name, i / cols, i % cols,
                                 isnan(A[i]) ? "NaN" : "infinite");
    }
    if (m && m->s.precision == ANN_PRECISION_F32) {
        /* Converting a double beyond FLT_MAX to float is undefined in C
         * and inf in practice: refuse it rather than train on inf. */
        double mx = 0;
        for (size_t i = 0; i < n; i++)
            mx = fabs(A[i]) > mx ? fabs(A[i]) : mx;
        if (mx > FLT_MAX)
            for (size_t i = 0; i < n; i++)
                if (fabs(A[i]) > FLT_MAX)
                    return ann__fail(m, mutating, ANN_ERR_NON_FINITE,
                                     "%s[%zu][%zu] = %g overflows float32", name,
                                     i / cols, i % cols, A[i]);
    }
    return ANN_OK;
}

/* Shared argument checks for the data of a training call.  Called with the
 * handle locked, so messages may go to the handle. */
static ann_status check_data(ann *m, const char *fn, const double *X,
                             const double *Y, const int32_t *labels, size_t n_rows)
{
    size_t n_in = m->n_inputs, n_out = m->units[m->n_layers - 1];
    if (!X || (!Y && !labels))
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !X ? "X" : labels ? "labels" : "Y");
    if (n_rows == 0)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT, "%s: n_rows is 0", fn);
    if (n_rows > SIZE_MAX / n_in || n_rows > SIZE_MAX / n_out / 2 ||
        n_rows > SIZE_MAX / sizeof(size_t))
        return ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: n_rows = %zu overflows", fn, n_rows);
    ann_status st = ann__check_matrix(m, 1, "X", X, n_rows, n_in);
    if (st != ANN_OK)
        return st;
    int ce = m->s.loss == ANN_LOSS_CROSS_ENTROPY;
    ann_activation oact = m->acts[m->n_layers - 1];
    if (ce && oact != ANN_ACT_SOFTMAX && oact != ANN_ACT_SIGMOID)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "%s: cross-entropy needs a softmax or sigmoid output layer", fn);
    if (Y) {
        st = ann__check_matrix(m, 1, "Y", Y, n_rows, n_out);
        if (st != ANN_OK)
            return st;
        if (ce)
            for (size_t i = 0; i < n_rows * n_out; i++)
                if (Y[i] < 0.0 || Y[i] > 1.0)
                    return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                                     "%s: Y[%zu][%zu] = %g is outside [0, 1] "
                                     "(cross-entropy targets)",
                                     fn, i / n_out, i % n_out, Y[i]);
    } else {
        int32_t hi = n_out == 1 ? 1 : (int32_t)(n_out > INT32_MAX ? INT32_MAX : n_out - 1);
        for (size_t i = 0; i < n_rows; i++)
            if (labels[i] < 0 || labels[i] > hi)
                return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                                 "%s: labels[%zu] = %d is outside [0, %d]", fn, i,
                                 (int)labels[i], (int)hi);
    }
    return ANN_OK;
}

/* The state a rollback restores: weights, optimizer state, step count. */
typedef struct {
    void *buf;
    size_t bytes;
    uint64_t steps, decay_epochs;
} snapshot;

static void snap_take(const ann *m, snapshot *s)
{
    size_t b = m->n_params * ann__elem_size(m->s.precision);
    unsigned char *p = s->buf;
    memcpy(p, m->params, b);
    if (m->opt_m) memcpy(p + b, m->opt_m, b);
    if (m->opt_v) memcpy(p + 2 * b, m->opt_v, b);
    s->steps = m->steps;
    s->decay_epochs = m->decay_epochs;
}

static void snap_restore(ann *m, const snapshot *s)
{
    size_t b = m->n_params * ann__elem_size(m->s.precision);
    const unsigned char *p = s->buf;
    memcpy(m->params, p, b);
    if (m->opt_m) memcpy(m->opt_m, p + b, b);
    if (m->opt_v) memcpy(m->opt_v, p + 2 * b, b);
    m->steps = s->steps;
    m->decay_epochs = s->decay_epochs;
}

static double current_lr(const ann *m)
{
    return m->s.learning_rate / (1.0 + m->s.lr_decay * (double)m->decay_epochs);
}

/* Mean loss over rows idx[0..n) (or consecutive rows when idx is NULL). */
static double eval_rows(const ann *m, ann__ws *ws, const ann__batch_src *src,
                        size_t first, size_t n)
{
    double total = 0;
    for (size_t s = 0; s < n; s += ws->cap) {
        size_t B = n - s < ws->cap ? n - s : ws->cap;
        const void *x, *y;
        ann__gather(m, ws, src, first + s, B, &x, &y);
        ann__forward(m, ws, x, B);
        total += ann__loss_sum(m, ws, y, B);
    }
    return total / (double)n;
}

static ann_status fit_common(ann *m, const char *fn, const double *X,
                             const double *Y, const int32_t *labels, size_t n_rows)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    st = check_data(m, fn, X, Y, labels, n_rows);
    if (st != ANN_OK)
        goto out_unlocked;

    const ann__settings *s = &m->s;
    size_t n_val = 0;
    if (s->validation_fraction > 0) {
        n_val = (size_t)floor((double)n_rows * s->validation_fraction);
        if (n_val == 0 || n_val >= n_rows) {
            st = ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                           "%s: validation_fraction %g of %zu rows leaves an empty "
                           "training or validation set", fn, s->validation_fraction, n_rows);
            goto out_unlocked;
        }
    }
    size_t n_train = n_rows - n_val;
    size_t B = (s->batch_size == 0 || s->batch_size >= n_train) ? n_train : s->batch_size;
    int early = n_val > 0 && s->patience > 0;
    size_t pbytes = m->n_params * ann__elem_size(s->precision);

    /* Every buffer of the fit, allocated before anything changes. */
    size_t *idx = malloc(n_rows * sizeof *idx);
    snapshot snap = {NULL, 0, 0, 0};
    void *best = NULL;
    size_t *base = NULL;
    ann__ws ws = {0};
    int had_m = m->opt_m != NULL, had_v = m->opt_v != NULL;
    int wsr = ann__ws_init(&ws, m, B, 1);
    snap.buf = malloc(3 * pbytes);
    if (early)
        best = malloc(pbytes);
    if (wsr == -2) {
        st = ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: batch buffers too large", fn);
        goto out;
    }
    if (!idx || wsr || !snap.buf || (early && !best) || ann__alloc_opt_state(m)) {
        st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        goto out;
    }

    for (size_t i = 0; i < n_rows; i++)
        idx[i] = i;
    /* The held-out set: the tail of a shuffle drawn from the seed alone
     * (or, with shuffle off, the literal last rows).  Not from the running
     * generator: every fit of the same data holds out the same rows, so a
     * warm start never trains on what it validated on before.  The
     * training rows are then kept in ascending order, so each epoch's
     * order depends only on the generator state (fit(E) twice == fit(2E)). */
    if (n_val > 0 && s->shuffle) {
        uint64_t split_rng[4];
        ann__rng_seed(split_rng, s->seed ^ 0x5bd1e9955bd1e995ull);
        ann__shuffle(split_rng, idx, n_rows);
        ann__sort_indices(idx, n_train);
        ann__sort_indices(idx + n_train, n_val);
        if (!(base = malloc(n_train * sizeof *base))) {
            st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
            goto out;
        }
        memcpy(base, idx, n_train * sizeof *base);
    }
    ann__batch_src src = {X, Y, labels, idx};
    /* Without shuffling the rows are consumed in order: skip the index
     * (and, for double models, the copy). */
    ann__batch_src tsrc = src;
    if (!s->shuffle && n_val == 0)
        tsrc.idx = NULL;

    double best_loss = INFINITY, train_loss = NAN, val_loss = NAN;
    size_t best_epoch = 0, since_best = 0, done = 0;
    size_t n_batches = (n_train + B - 1) / B;
    ann__blas_enter();
    for (size_t e = 1; e <= s->epochs; e++) {
        if (s->shuffle) {
            if (base)
                memcpy(idx, base, n_train * sizeof *idx);
            else
                for (size_t i = 0; i < n_train; i++)
                    idx[i] = i;
            ann__shuffle(m->rng, idx, n_train);
        }
        snap_take(m, &snap);
        double lr = current_lr(m), total = 0;
        for (size_t bi = 0; bi < n_batches; bi++) {
            size_t start = bi * B, cnt = n_train - start < B ? n_train - start : B;
            const void *x, *y;
            ann__gather(m, &ws, &tsrc, start, cnt, &x, &y);
            ann__forward(m, &ws, x, cnt);
            double ls = ann__loss_sum(m, &ws, y, cnt);
            if (!isfinite(ls)) {
                /* Nothing of this step has been applied yet. */
                st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                               "%s: loss became %s in epoch %zu, batch %zu (learning "
                               "rate too high?); weights restored to before that batch",
                               fn, isnan(ls) ? "NaN" : "infinite", e, bi + 1);
                goto diverged;
            }
            ann__backward(m, &ws, x, y, cnt);
            if (ann__update(m, &ws, lr)) {
                snap_restore(m, &snap);
                st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                               "%s: the update overflowed in epoch %zu, batch %zu; "
                               "weights restored to the start of epoch %zu",
                               fn, e, bi + 1, e);
                goto diverged;
            }
            total += ls;
        }
        m->decay_epochs++;
        done = e;
        train_loss = total / (double)n_train;
        if (n_val > 0) {
            val_loss = eval_rows(m, &ws, &src, n_train, n_val);
            if (val_loss < best_loss) {
                best_loss = val_loss;
                best_epoch = e;
                since_best = 0;
                if (early)
                    memcpy(best, m->params, pbytes);
            } else {
                since_best++;
            }
        }
        m->epochs_run = done;
        m->train_loss = train_loss;
        m->val_loss = val_loss;
        m->best_epoch = best_epoch;
        if (m->progress && m->progress(m->progress_user, e, train_loss, val_loss)) {
            st = ann__fail(m, 1, ANN_STOPPED, "%s: stopped by the progress callback "
                           "after epoch %zu", fn, e);
            break;
        }
        if (early && since_best >= s->patience)
            break;
    }
    if (early && best_epoch > 0 && st == ANN_OK)
        memcpy(m->params, best, pbytes);
    goto finished;

diverged:
finished:
    ann__blas_leave();
    m->epochs_run = done;
    m->train_loss = train_loss;
    m->val_loss = val_loss;
    m->best_epoch = best_epoch;
out:
    if (st != ANN_OK && st != ANN_ERR_DIVERGED && st != ANN_STOPPED) {
        /* Failed before training: drop state buffers this call created. */
        if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
        if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
    }
    free(idx);
    free(base);
    free(snap.buf);
    free(best);
    ann__ws_free(&ws);
out_unlocked:
    ann__unlock_mut(m);
    return st;
}

ann_status ann_fit(ann *model, const double *X, const double *Y, size_t n_rows)
{
    return fit_common(model, "ann_fit", X, Y, NULL, n_rows);
}

ann_status ann_fit_labels(ann *model, const double *X, const int32_t *labels,
                          size_t n_rows)
{
    if (model && !labels)
        return ann__fail(model, 0, ANN_ERR_INVALID_ARGUMENT, "ann_fit_labels: labels is NULL");
    return fit_common(model, "ann_fit_labels", X, NULL, labels, n_rows);
}

ann_status ann_train_batch(ann *m, const double *X, const double *Y, size_t n_rows)
{
    const char *fn = "ann_train_batch";
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    st = check_data(m, fn, X, Y, NULL, n_rows);
    if (st != ANN_OK) {
        ann__unlock_mut(m);
        return st;
    }
    size_t pbytes = m->n_params * ann__elem_size(m->s.precision);
    int had_m = m->opt_m != NULL, had_v = m->opt_v != NULL;
    ann__ws ws;
    int wsr = ann__ws_init(&ws, m, n_rows, 1);
    snapshot snap = {malloc(3 * pbytes), 0, 0, 0};
    if (wsr || !snap.buf || ann__alloc_opt_state(m)) {
        st = wsr == -2 ? ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: n_rows too large", fn)
                       : ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
        if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
        goto out;
    }
    ann__batch_src src = {X, Y, NULL, NULL};
    const void *x, *y;
    ann__blas_enter();
    ann__gather(m, &ws, &src, 0, n_rows, &x, &y);
    ann__forward(m, &ws, x, n_rows);
    double ls = ann__loss_sum(m, &ws, y, n_rows);
    if (!isfinite(ls)) {
        st = ann__fail(m, 1, ANN_ERR_DIVERGED, "%s: loss is %s; weights unchanged", fn,
                       isnan(ls) ? "NaN" : "infinite");
    } else {
        snap_take(m, &snap);
        ann__backward(m, &ws, x, y, n_rows);
        if (ann__update(m, &ws, current_lr(m))) {
            snap_restore(m, &snap);
            st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                           "%s: the update overflowed; weights unchanged", fn);
        } else {
            m->train_loss = ls / (double)n_rows;
        }
    }
    ann__blas_leave();
out:
    free(snap.buf);
    ann__ws_free(&ws);
    ann__unlock_mut(m);
    return st;
}
