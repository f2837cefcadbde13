/* train.c - argument checks, the epoch loop, early stopping, divergence
 * rollback, one-batch steps. */
#include "ann_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Argument checks shared by the training calls.  Called with the handle
 * held, so messages may go to it.  Builds the views of X and Y.  With
 * defer_x, X's values are not scanned here (the caller checks every row
 * as its first epoch gathers it, see fit_common) unless another check
 * fails, so that a bad X is still reported first. */
static ann_status check_data(ann *m, const char *fn, const ann_matrix *Xm,
                             const ann_matrix *Ym, const int32_t *labels, int use_labels,
                             int defer_x, ann__view *X, ann__view *Y)
{
    size_t n_in = m->n_inputs, n_out = m->units[m->n_layers - 1];
    if (use_labels && !labels)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT, "%s: labels is NULL", fn);
    ann_status st = ann__view_from(m, 1, fn, "X", Xm, 0, n_in, 0, X);
    if (st != ANN_OK)
        return st;
    size_t n_rows = X->rows;
    if (n_rows > SIZE_MAX / (n_in > n_out ? n_in : n_out) / sizeof(double) ||
        n_rows > SIZE_MAX / sizeof(size_t) / 2)
        return ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: n_rows = %zu overflows", fn, n_rows);
    if (!use_labels) {
        st = ann__view_from(m, 1, fn, "Y", Ym, n_rows, n_out, 0, Y);
        if (st != ANN_OK)
            return st;
    }
    if (!defer_x && (st = ann__check_view(m, 1, "X", X)) != ANN_OK)
        return st;
    int ce = m->s.loss == ANN_LOSS_CROSS_ENTROPY;
    ann_activation oact = m->acts[m->n_layers - 1];
    if (ce && oact != ANN_ACT_SOFTMAX && oact != ANN_ACT_SIGMOID) {
        st = ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                       "%s: cross-entropy needs a softmax or sigmoid output layer", fn);
    } else if (!use_labels) {
        st = ann__check_view(m, 1, "Y", Y);
        if (st == ANN_OK && ce)
            st = ann__check_unit_range(m, 1, fn, "Y", Y);
    } else {
        st = ann__check_labels(m, fn, labels, n_rows);
    }
    if (st != ANN_OK && defer_x) {
        ann_status sx = ann__check_view(m, 1, "X", X);
        if (sx != ANN_OK)
            return sx;
    }
    return st;
}

ann_status ann__check_labels(ann *m, const char *fn, const int32_t *labels, size_t n_rows)
{
    size_t n_out = m->units[m->n_layers - 1];
    int32_t hi = n_out == 1 ? 1 : (int32_t)(n_out > INT32_MAX ? INT32_MAX : n_out - 1);
    for (size_t i = 0; i < n_rows; i++)
        if (labels[i] < 0 || labels[i] > hi)
            return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                             "%s: labels[%zu] = %d is outside [0, %d]", fn, i,
                             (int)labels[i], (int)hi);
    return ANN_OK;
}

void ann__snap_take(const ann *m, ann__snapshot *s)
{
    size_t b = m->n_params * ann__elem_size(m->s.precision);
    unsigned char *p = s->buf;
    memcpy(p, m->params, b);
    if (m->opt_m) memcpy(p + b, m->opt_m, b);
    if (m->opt_v) memcpy(p + 2 * b, m->opt_v, b);
    s->steps = m->steps;
    s->decay_epochs = m->decay_epochs;
}

void ann__snap_restore(ann *m, const ann__snapshot *s)
{
    size_t b = m->n_params * ann__elem_size(m->s.precision);
    const unsigned char *p = s->buf;
    memcpy(m->params, p, b);
    if (m->opt_m) memcpy(m->opt_m, p + b, b);
    if (m->opt_v) memcpy(m->opt_v, p + 2 * b, b);
    m->steps = s->steps;
    m->decay_epochs = s->decay_epochs;
}

double ann__current_lr(const ann *m)
{
    return m->s.learning_rate / (1.0 + m->s.lr_decay * (double)m->decay_epochs);
}

void ann__split_rows(const ann *m, size_t *idx, size_t n_rows, size_t n_val)
{
    for (size_t i = 0; i < n_rows; i++)
        idx[i] = i;
    /* The held-out set: the tail of a shuffle drawn from the seed alone
     * (or, with shuffle off, the literal last rows).  Not from the running
     * generator: every fit of the same data holds out the same rows, so a
     * warm start never trains on what it validated on before.  The
     * training rows are then kept in ascending order, so each epoch's
     * order depends only on the generator state (fit(E) twice == fit(2E)). */
    if (n_val > 0 && m->s.shuffle) {
        uint64_t split_rng[4];
        ann__rng_seed(split_rng, m->s.seed ^ 0x5bd1e9955bd1e995ull);
        ann__shuffle(split_rng, idx, n_rows);
        ann__sort_indices(idx, n_rows - n_val);
        ann__sort_indices(idx + n_rows - n_val, n_val);
    }
}

/* The divergence of an update in epoch e, batch b (1-based); the caller
 * has restored the weights of the epoch's start. */
static ann_status overflowed(ann *m, const char *fn, size_t e, size_t b)
{
    return ann__fail(m, 1, ANN_ERR_DIVERGED,
                     "%s: the update overflowed in epoch %zu, batch %zu; "
                     "weights restored to the start of epoch %zu",
                     fn, e, b, e);
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

/* Small shuffled batches (per-sample SGD above all) read their rows at
 * random places in the caller's data, and the forward pass waited on
 * those loads: up to half of a step on a 4-8-1 net.  The next batch's
 * rows are requested while this one is computed (ANN__PREFETCH_ROW). */
#define ANN__PREFETCH_ROWS 4

static ann_status fit_common(ann *m, const char *fn, const ann_matrix *Xm,
                             const ann_matrix *Ym, const int32_t *labels, int use_labels)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    ann__view Xv, Yv;
    int use_lm = m->s.optimizer == ANN_OPTIMIZER_LEVENBERG_MARQUARDT;
    /* X's values are checked as the first epoch gathers each row (on the
     * pass that copies it, or through layer 0's pre-activations, see
     * ann__gather) instead of in a pass of their own before it:
     * that pass had been 2% of a 2-epoch Fashion-MNIST fit and 6-10% of
     * a 1-epoch fit of a narrow net.  A bad row then stops the epoch and
     * everything the fit changed is put back (deferred_bad below), so the
     * caller sees what the up-front check gave.  Not when something reads
     * every row before the epochs (the input transform, the target
     * scaler), nor with held-out rows or Levenberg-Marquardt. */
    int defer_x = !use_lm && m->s.validation_fraction == 0 && !m->s.preprocess &&
                  !m->prep.mode && !m->s.target_scaling && !m->tgt;
    st = check_data(m, fn, Xm, Ym, labels, use_labels, defer_x, &Xv, &Yv);
    if (st != ANN_OK)
        goto out_unlocked;
    size_t n_rows = Xv.rows;
    if (use_lm && (st = ann__lm_check(m, fn)) != ANN_OK)
        goto out_unlocked;
    if (m->s.target_scaling && (use_labels || m->s.loss != ANN_LOSS_SQUARED_ERROR)) {
        st = ann__fail(m, 1, ANN_ERR_UNSUPPORTED, "%s: target scaling needs real-valued "
                       "targets (not labels) and the squared-error loss", fn);
        goto out_unlocked;
    }

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
    ann__snapshot snap = {NULL, 0, 0};
    void *best = NULL;
    size_t *base = NULL;
    ann__ws ws = {0};
    ann__lm lm;
    memset(&lm, 0, sizeof lm);
    int had_m = m->opt_m != NULL, had_v = m->opt_v != NULL;
    int wsr = ann__ws_init(&ws, m, B, 1);
    ws.t0_ok = 1; /* its backward follows its forward (ann__ws.t0) */
    if (use_lm && !wsr)
        wsr = ann__lm_init(m, &lm, n_train);
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

    ann__split_rows(m, idx, n_rows, n_val);
    if (n_val > 0 && s->shuffle) {
        if (!(base = malloc(n_train * sizeof *base))) {
            st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
            goto out;
        }
        memcpy(base, idx, n_train * sizeof *base);
    }
    /* The input transform, from the training rows only (never the held-out
     * ones); a refit replaces the previous transform. */
    {
        ann__prep np;
        st = ann__prep_fit(m, fn, &Xv, idx, n_train, &np);
        if (st != ANN_OK)
            goto out;
        double *nt = NULL;
        if (m->s.target_scaling && !(nt = ann__tgt_fit(m, &Yv, idx, n_train))) {
            ann__prep_free(&np);
            st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
            goto out;
        }
        ann__prep_free(&m->prep);
        m->prep = np;
        free(m->tgt);
        m->tgt = nt;
    }
    ann__batch_src src = {&Xv, use_labels ? NULL : &Yv, use_labels ? labels : NULL, idx, 1, 0, 0};
    /* Without shuffling the rows are consumed in order: skip the index
     * (and, for double models, the copy). */
    ann__batch_src tsrc = src;
    if (!s->shuffle && n_val == 0)
        tsrc.idx = NULL;
    /* until the first epoch has gathered (and so checked) every row;
     * without FP traps, rows that need no conversion are checked through
     * layer 0's pre-activations (ann__gather) */
    tsrc.check_x = defer_x;
    tsrc.defer_x = defer_x && !ann__fp_traps();
    uint64_t rng0[4];
    memcpy(rng0, m->rng, sizeof rng0);
    /* A helper thread for the element-wise work between OpenBLAS's calls
     * (lib/helper.c) when OpenBLAS has cores to spare and a step has a
     * gather or an optimizer pass large enough to split.  If none can be
     * started, the work stays on this thread. */
    if (!use_lm && ann__blas_threads() > 1 &&
        (B * m->n_inputs * ann__elem_size(s->precision) >= ANN__HELPER_GATHER_MIN ||
         (s->optimizer != ANN_OPTIMIZER_SGD && m->n_params >= ANN__HELPER_UPDATE_MIN)))
        ws.helper = ann__helper_start();

    double best_loss = INFINITY, train_loss = NAN, val_loss = NAN;
    size_t best_epoch = 0, since_best = 0, done = 0;
    size_t n_batches = (n_train + B - 1) / B;
    ann__blas_enter();
    for (size_t e = 1; e <= s->epochs; e++) {
        if (use_lm) {
            ann__snap_take(m, &snap);
            st = ann__lm_epoch(m, &lm, &tsrc, n_train, fn, &train_loss);
            if (st != ANN_OK) {
                ann__snap_restore(m, &snap);
                goto diverged;
            }
            goto epoch_done;
        }
        if (s->shuffle) {
            if (base)
                memcpy(idx, base, n_train * sizeof *idx);
            else
                for (size_t i = 0; i < n_train; i++)
                    idx[i] = i;
            ann__shuffle(m->rng, idx, n_train);
        }
        ann__snap_take(m, &snap);
        double lr = ann__current_lr(m), total = 0;
        for (size_t bi = 0; bi < n_batches; bi++) {
            size_t start = bi * B, cnt = n_train - start < B ? n_train - start : B;
            const void *x, *y;
            if (ann__gather(m, &ws, &tsrc, start, cnt, &x, &y))
                goto deferred_bad;
            if (cnt <= ANN__PREFETCH_ROWS && tsrc.idx)
                for (size_t r = start + cnt; r < start + 2 * cnt && r < n_train; r++) {
                    ANN__PREFETCH_ROW(tsrc.X, tsrc.idx[r]);
                    if (tsrc.Y)
                        ANN__PREFETCH_ROW(tsrc.Y, tsrc.idx[r]);
                }
            ann__forward(m, &ws, x, cnt);
            if (ws.x_deferred) {
                /* A pre-activation of layer 0 is not finite: a bad value
                 * in this batch's rows, or inputs large enough to overflow
                 * (then the step goes on, as after a check on the copy) */
                ws.x_deferred = 0;
                ann__view rows = {s->precision == ANN_PRECISION_F32 ? ANN_DTYPE_F32
                                                                    : ANN_DTYPE_F64,
                                  cnt, m->n_inputs, (ptrdiff_t)m->n_inputs, 1, x};
                if (ann__scan(&rows, 0))
                    goto deferred_bad;
            }
            /* The previous step's unchecked weights (ann__ws.w_pending):
             * this forward has looked at them. */
            int suspect = ws.w_pending == 2;
            ws.w_pending = 0;
            if (suspect && ann__params_bad(m)) {
                ann__snap_restore(m, &snap);
                st = overflowed(m, fn, e, bi);
                goto diverged;
            }
            double ls = ann__loss_sum(m, &ws, y, cnt);
            if (!isfinite(ls)) {
                /* Nothing of this step has been applied yet, but the
                 * previous one may have left momentum's velocity carried
                 * (mu V + l2 W, ann__ws.v_carried), which cannot be undone
                 * exactly: then back to the epoch's start. */
                char where[64] = "before that batch";
                if (ws.v_carried) {
                    ann__snap_restore(m, &snap);
                    snprintf(where, sizeof where, "the start of epoch %zu", e);
                }
                st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                               "%s: loss became %s in epoch %zu, batch %zu (learning "
                               "rate too high?); weights restored to %s",
                               fn, isnan(ls) ? "NaN" : "infinite", e, bi + 1, where);
                goto diverged;
            }
            /* Momentum may carry its velocity into the next step of this
             * epoch (ann__ws.carry_next) if that step has more than one
             * row; the epoch's last step leaves the velocity itself. */
            ws.carry_next = bi + 1 < n_batches && n_train - (start + cnt) > 1;
            if (ann__backward_update(m, &ws, x, y, cnt, lr)) {
                ann__snap_restore(m, &snap);
                st = overflowed(m, fn, e, bi + 1);
                goto diverged;
            }
            total += ls;
        }
        /* No forward follows the last step: check its weights here. */
        if (ws.w_pending) {
            ws.w_pending = 0;
            if (ann__params_bad(m)) {
                ann__snap_restore(m, &snap);
                st = overflowed(m, fn, e, n_batches);
                goto diverged;
            }
        }
        train_loss = total / (double)n_train;
        tsrc.check_x = 0; /* every row has been read once */
    epoch_done:
        m->decay_epochs++;
        done = e;
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

deferred_bad:
    /* A row of X failed the first epoch's check, or the fit diverged
     * before that epoch had read them all and one of the rest is bad:
     * report it as the up-front check did (naming the first bad element
     * in row order) and undo the epoch: weights, optimizer state and
     * counters (the epoch's snapshot, which is the fit's starting state)
     * and the generator the shuffle advanced.  Buffers the fit allocated
     * go at out; nothing else has changed yet. */
    st = ann__check_view(m, 1, "X", &Xv);
    if (st == ANN_OK) /* cannot happen: the gather saw a bad value */
        st = ann__fail(m, 1, ANN_ERR_NON_FINITE, "%s: X holds a value that is not finite",
                       fn);
undo_fit:
    ann__snap_restore(m, &snap);
    memcpy(m->rng, rng0, sizeof rng0);
    ann__blas_leave();
    goto out;

diverged:
    if (tsrc.check_x) {
        /* rows the first epoch has not read yet: a bad one outranks the
         * divergence (this scan's message is the one reported) */
        ann_status sx = ann__check_view(m, 1, "X", &Xv);
        if (sx != ANN_OK) {
            st = sx;
            goto undo_fit;
        }
    }
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
    ann__helper_stop(ws.helper);
    ann__ws_free(&ws);
    ann__lm_free(&lm);
out_unlocked:
    ann__unlock_mut(m);
    return st;
}

ann_status ann_fit(ann *model, const double *X, const double *Y, size_t n_rows)
{
    ann_status st = ann__ptr_args(model, "ann_fit", X, Y, "Y", n_rows);
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    ann_matrix ym = ann__dense_matrix(Y, n_rows, model->units[model->n_layers - 1]);
    return fit_common(model, "ann_fit", &xm, &ym, NULL, 0);
}

ann_status ann_fit_labels(ann *model, const double *X, const int32_t *labels,
                          size_t n_rows)
{
    ann_status st = ann__ptr_args(model, "ann_fit_labels", X, labels, "labels", n_rows);
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    return fit_common(model, "ann_fit_labels", &xm, NULL, labels, 1);
}

ann_status ann_fit_view(ann *model, const ann_matrix *X, const ann_matrix *Y)
{
    return fit_common(model, "ann_fit_view", X, Y, NULL, 0);
}

ann_status ann_fit_labels_view(ann *model, const ann_matrix *X, const int32_t *labels)
{
    return fit_common(model, "ann_fit_labels_view", X, NULL, labels, 1);
}

static ann_status train_batch_common(ann *m, const char *fn, const ann_matrix *Xm,
                                     const ann_matrix *Ym)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    ann__view Xv, Yv;
    st = check_data(m, fn, Xm, Ym, NULL, 0, 0, &Xv, &Yv);
    if (st != ANN_OK) {
        ann__unlock_mut(m);
        return st;
    }
    if (m->s.optimizer == ANN_OPTIMIZER_LEVENBERG_MARQUARDT) {
        ann__unlock_mut(m);
        return ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                         "%s: Levenberg-Marquardt trains whole data sets: use ann_fit", fn);
    }
    size_t n_rows = Xv.rows;
    size_t pbytes = m->n_params * ann__elem_size(m->s.precision);
    int had_m = m->opt_m != NULL, had_v = m->opt_v != NULL;
    ann__ws ws;
    int wsr = ann__ws_init(&ws, m, n_rows, 1);
    ws.t0_ok = 1; /* its backward follows its forward (ann__ws.t0) */
    ann__snapshot snap = {malloc(3 * pbytes), 0, 0};
    if (wsr || !snap.buf || ann__alloc_opt_state(m)) {
        st = wsr == -2 ? ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: n_rows too large", fn)
                       : ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
        if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
        goto out;
    }
    if (m->s.preprocess != ANN_PREPROCESS_NONE && !m->prep.mode) {
        /* Never refits; the first batch without a fitted transform fits it. */
        ann__prep np;
        st = ann__prep_fit(m, fn, &Xv, NULL, n_rows, &np);
        if (st != ANN_OK) {
            if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
            if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
            goto out;
        }
        m->prep = np;
    }
    if (m->s.target_scaling && (m->s.loss != ANN_LOSS_SQUARED_ERROR || !m->tgt)) {
        if (m->s.loss != ANN_LOSS_SQUARED_ERROR) {
            st = ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                           "%s: target scaling needs the squared-error loss", fn);
        } else if (!(m->tgt = ann__tgt_fit(m, &Yv, NULL, n_rows))) {
            st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        if (st != ANN_OK) {
            if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
            if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
            goto out;
        }
    }
    ann__batch_src src = {&Xv, &Yv, NULL, NULL, 1, 0, 0};
    const void *x, *y;
    ann__blas_enter();
    ann__gather(m, &ws, &src, 0, n_rows, &x, &y);
    ann__forward(m, &ws, x, n_rows);
    double ls = ann__loss_sum(m, &ws, y, n_rows);
    if (!isfinite(ls)) {
        st = ann__fail(m, 1, ANN_ERR_DIVERGED, "%s: loss is %s; weights unchanged", fn,
                       isnan(ls) ? "NaN" : "infinite");
    } else {
        ann__snap_take(m, &snap);
        if (ann__backward_update(m, &ws, x, y, n_rows, ann__current_lr(m)) ||
            (ws.w_pending && ann__params_bad(m))) {
            ann__snap_restore(m, &snap);
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

ann_status ann_train_batch(ann *model, const double *X, const double *Y, size_t n_rows)
{
    ann_status st = ann__ptr_args(model, "ann_train_batch", X, Y, "Y", n_rows);
    if (st != ANN_OK)
        return st;
    ann_matrix xm = ann__dense_matrix(X, n_rows, model->n_inputs);
    ann_matrix ym = ann__dense_matrix(Y, n_rows, model->units[model->n_layers - 1]);
    return train_batch_common(model, "ann_train_batch", &xm, &ym);
}

ann_status ann_train_batch_view(ann *model, const ann_matrix *X, const ann_matrix *Y)
{
    return train_batch_common(model, "ann_train_batch_view", X, Y);
}
