/* mpi.c - data-parallel training over MPI (libann_mpi.so, see ann_mpi.h).
 * Mirrors fit_common in train.c over a global row order; every optimizer
 * step is one MPI_Allreduce of [gradient block | batch loss sum]. */
#include "ann_internal.h"
#include "ann_mpi.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F32(m) ((m)->s.precision == ANN_PRECISION_F32)

/* ---- collective agreement --------------------------------------------- */

/* Every rank passes its local status; all get the largest (ANN_OK is 0).
 * A rank that was fine records why it fails anyway. */
static ann_status agree(ann *m, int have_handle, MPI_Comm comm, const char *fn,
                        ann_status st)
{
    int mine = (int)st, all = 0;
    if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        all = ANN_ERR_INVALID_ARGUMENT;
    if (all != ANN_OK && st == ANN_OK)
        ann__fail(have_handle ? m : NULL, have_handle, (ann_status)all,
                  "%s: another rank failed (%s)", fn, ann_status_str((ann_status)all));
    return (ann_status)all;
}

/* Local checks of one rank's shard (the handle is held). */
static ann_status check_shard(ann *m, const char *fn, const double *X, const double *Y,
                              const int32_t *labels, int use_labels, size_t rows)
{
    size_t n_in = m->n_inputs, n_out = m->units[m->n_layers - 1];
    if (rows > 0 && (!X || (use_labels ? !labels : !Y)))
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                         !X ? "X" : use_labels ? "labels" : "Y");
    if (rows > SIZE_MAX / (n_in > n_out ? n_in : n_out) / sizeof(double) ||
        rows > (size_t)PTRDIFF_MAX / 16)
        return ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: local_rows = %zu overflows", fn, rows);
    if (m->n_params >= (size_t)INT_MAX)
        return ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: %zu parameters exceed one MPI "
                         "message (int count)", fn, m->n_params);
    int ce = m->s.loss == ANN_LOSS_CROSS_ENTROPY;
    ann_activation oact = m->acts[m->n_layers - 1];
    if (ce && oact != ANN_ACT_SOFTMAX && oact != ANN_ACT_SIGMOID)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "%s: cross-entropy needs a softmax or sigmoid output layer", fn);
    /* Input preprocessing and target scaling would need statistics over
     * every rank's shard, and Levenberg-Marquardt a distributed Jacobian:
     * not implemented, so refused (collectively) rather than done wrong. */
    if (m->s.preprocess != ANN_PREPROCESS_NONE || m->s.target_scaling ||
        m->s.optimizer == ANN_OPTIMIZER_LEVENBERG_MARQUARDT)
        return ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                         "%s: preprocessing, target scaling and Levenberg-Marquardt are "
                         "not supported in distributed training", fn);
    if (rows == 0)
        return ANN_OK;
    ann_status st = ann__check_matrix(m, 1, "X", X, rows, n_in);
    if (st != ANN_OK)
        return st;
    if (!use_labels) {
        st = ann__check_matrix(m, 1, "Y", Y, rows, n_out);
        if (st == ANN_OK && ce) {
            ann__view yv = ann__dense(Y, rows, n_out);
            st = ann__check_unit_range(m, 1, fn, "Y", &yv);
        }
        return st;
    }
    return ann__check_labels(m, fn, labels, rows);
}

/* The local rows among global positions [start, start+cnt) of idx. */
static size_t local_rows_of(const size_t *idx, size_t start, size_t cnt, size_t off,
                            size_t rows, size_t *out)
{
    size_t b = 0;
    for (size_t p = start; p < start + cnt; p++)
        if (idx[p] >= off && idx[p] - off < rows)
            out[b++] = idx[p] - off;
    return b;
}

/* grad[W blocks] += l2 * W, once, after the sum (as ann__backward does). */
static void add_l2(const ann *m, void *grad)
{
    double l2 = m->s.l2;
    if (l2 == 0)
        return;
    for (size_t l = 0; l < m->n_layers; l++) {
        size_t n = m->units[l] * m->fan_in[l], o = m->w_off[l];
        if (F32(m)) {
            float *g = (float *)grad + o, f = (float)l2;
            const float *W = (const float *)m->params + o;
            for (size_t i = 0; i < n; i++)
                g[i] += f * W[i];
        } else {
            double *g = (double *)grad + o;
            const double *W = (const double *)m->params + o;
            for (size_t i = 0; i < n; i++)
                g[i] += l2 * W[i];
        }
    }
}

static ann_status fit_mpi(ann *m, MPI_Comm comm, const char *fn, const double *X,
                          const double *Y, const int32_t *labels, int use_labels,
                          size_t rows)
{
    int rank = 0, nranks = 1;
    if (comm == MPI_COMM_NULL)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", fn);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);

    /* ---- phase 1: local checks, then agreement ---- */
    ann_status st = ANN_OK;
    int locked = 0;
    if (!m)
        st = ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    else if ((st = ann__lock_mut(m)) == ANN_OK)
        locked = 1;
    if (st == ANN_OK)
        st = check_shard(m, fn, X, Y, labels, use_labels, rows);
    /* Shapes must agree: the max of v and of ~v over ranks (~v gives the min). */
    uint64_t shape[8] = {0}, shape_max[8];
    if (m) {
        uint64_t v[4] = {m->n_params, (uint64_t)m->s.precision, m->n_inputs,
                         m->units[m->n_layers - 1]};
        for (int i = 0; i < 4; i++) {
            shape[2 * i] = v[i];
            shape[2 * i + 1] = ~v[i];
        }
    }
    uint64_t my_rows = rows, *all_rows = malloc((size_t)nranks * sizeof *all_rows);
    int oom = all_rows == NULL;
    if (oom && st == ANN_OK)
        st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    st = agree(m, locked, comm, fn, st);
    if (st != ANN_OK)
        goto out_early;
    MPI_Allreduce(shape, shape_max, 8, MPI_UINT64_T, MPI_MAX, comm);
    for (int i = 0; i < 4; i++)
        if (shape_max[2 * i] != ~shape_max[2 * i + 1]) {
            st = ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                           "%s: the models differ across ranks (architecture or "
                           "precision)", fn);
            goto out_early;
        }
    MPI_Allgather(&my_rows, 1, MPI_UINT64_T, all_rows, 1, MPI_UINT64_T, comm);
    size_t off = 0, n_rows = 0;
    for (int r = 0; r < nranks; r++) {
        if (r == rank)
            off = n_rows;
        if (all_rows[r] > SIZE_MAX / sizeof(size_t) / 2 - n_rows) {
            st = ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: global row count overflows", fn);
            goto out_early;
        }
        n_rows += (size_t)all_rows[r];
    }
    if (n_rows == 0) {
        st = ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT, "%s: no rank holds any rows", fn);
        goto out_early;
    }

    /* ---- phase 2: rank 0's settings, weights and generator ---- */
    MPI_Bcast(&m->s, (int)sizeof m->s, MPI_BYTE, 0, comm);
    const ann__settings *s = &m->s;
    size_t es = ann__elem_size(s->precision);
    size_t pbytes = m->n_params * es;
    MPI_Datatype T = F32(m) ? MPI_FLOAT : MPI_DOUBLE;
    MPI_Bcast(m->params, (int)m->n_params, T, 0, comm);
    uint64_t gen[7] = {m->rng[0], m->rng[1], m->rng[2], m->rng[3], m->steps,
                       m->decay_epochs, (uint64_t)(m->opt_m != NULL) |
                                            (uint64_t)(m->opt_v != NULL) << 1};
    MPI_Bcast(gen, 7, MPI_UINT64_T, 0, comm);
    memcpy(m->rng, gen, sizeof m->rng);
    m->steps = gen[4];
    m->decay_epochs = gen[5];

    size_t n_val = 0;
    if (s->validation_fraction > 0) {
        n_val = (size_t)floor((double)n_rows * s->validation_fraction);
        if (n_val == 0 || n_val >= n_rows) {
            st = ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                           "%s: validation_fraction %g of %zu rows leaves an empty "
                           "training or validation set", fn, s->validation_fraction, n_rows);
            goto out_early;
        }
    }
    size_t n_train = n_rows - n_val;
    size_t B = (s->batch_size == 0 || s->batch_size >= n_train) ? n_train : s->batch_size;
    int early = n_val > 0 && s->patience > 0;

    /* Buffers; an allocation failure anywhere is agreed on. */
    size_t *idx = malloc(n_rows * sizeof *idx);
    size_t *lidx = malloc(B * sizeof *lidx);
    void *gbuf = malloc((m->n_params + 1) * es);
    ann__snapshot snap = {malloc(3 * pbytes), 0, 0};
    void *best = early ? malloc(pbytes) : NULL;
    size_t *base = NULL;
    ann__ws ws = {0};
    int had_m = m->opt_m != NULL, had_v = m->opt_v != NULL;
    int wsr = ann__ws_init(&ws, m, B, 1);
    if (n_val > 0 && s->shuffle)
        base = malloc(n_train * sizeof *base);
    if (wsr == -2)
        st = ann__fail(m, 1, ANN_ERR_TOO_LARGE, "%s: batch buffers too large", fn);
    else if (!idx || !lidx || !gbuf || wsr || !snap.buf || (early && !best) ||
             (n_val > 0 && s->shuffle && !base) || ann__alloc_opt_state(m))
        st = ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    st = agree(m, 1, comm, fn, st);
    if (st != ANN_OK)
        goto out;
    /* Rank 0's optimizer state (warm starts continue identically). */
    if (m->opt_m) {
        if (gen[6] & 1)
            MPI_Bcast(m->opt_m, (int)m->n_params, T, 0, comm);
        else
            memset(m->opt_m, 0, pbytes);
    }
    if (m->opt_v) {
        if (gen[6] & 2)
            MPI_Bcast(m->opt_v, (int)m->n_params, T, 0, comm);
        else
            memset(m->opt_v, 0, pbytes);
    }

    /* The global order, exactly as train.c builds it. */
    ann__split_rows(m, idx, n_rows, n_val);
    if (n_val > 0 && s->shuffle)
        memcpy(base, idx, n_train * sizeof *base);
    ann__view Xv = ann__dense(X, rows, m->n_inputs);
    ann__view Yv = ann__dense(Y, rows, m->units[m->n_layers - 1]);
    ann__batch_src src = {&Xv, use_labels ? NULL : &Yv, use_labels ? labels : NULL, lidx, 0, 0, 0};

    /* The step's reduction buffer is the gradient itself plus one slot. */
    ws.grad = gbuf;
    ws.grad_zero = 0;
    ws.skip_l2 = 1;

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
        ann__snap_take(m, &snap);
        double lr = ann__current_lr(m), total = 0;
        for (size_t bi = 0; bi < n_batches; bi++) {
            size_t start = bi * B, cnt = n_train - start < B ? n_train - start : B;
            size_t b = local_rows_of(idx, start, cnt, off, rows, lidx);
            double ls = 0;
            if (b > 0) {
                const void *x, *y;
                ann__gather(m, &ws, &src, 0, b, &x, &y);
                ann__forward(m, &ws, x, b);
                ls = ann__loss_sum(m, &ws, y, b);
                ws.grad_scale = 1.0 / (double)cnt;
                ann__backward(m, &ws, x, y, b);
            } else {
                memset(gbuf, 0, pbytes);
            }
            if (F32(m))
                ((float *)gbuf)[m->n_params] = (float)ls;
            else
                ((double *)gbuf)[m->n_params] = ls;
            MPI_Allreduce(MPI_IN_PLACE, gbuf, (int)(m->n_params + 1), T, MPI_SUM, comm);
            ls = F32(m) ? (double)((float *)gbuf)[m->n_params]
                        : ((double *)gbuf)[m->n_params];
            if (!isfinite(ls)) {
                st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                               "%s: loss became %s in epoch %zu, batch %zu (learning "
                               "rate too high?); weights restored to before that batch",
                               fn, isnan(ls) ? "NaN" : "infinite", e, bi + 1);
                goto finished;
            }
            add_l2(m, gbuf);
            if (ann__update(m, &ws, lr)) {
                ann__snap_restore(m, &snap);
                st = ann__fail(m, 1, ANN_ERR_DIVERGED,
                               "%s: the update overflowed in epoch %zu, batch %zu; "
                               "weights restored to the start of epoch %zu",
                               fn, e, bi + 1, e);
                goto finished;
            }
            total += ls;
        }
        m->decay_epochs++;
        done = e;
        train_loss = total / (double)n_train;
        if (n_val > 0) {
            double vs = 0;
            for (size_t p = 0; p < n_val; p += B) {
                size_t cnt = n_val - p < B ? n_val - p : B;
                size_t b = local_rows_of(idx, n_train + p, cnt, off, rows, lidx);
                if (b == 0)
                    continue;
                const void *x, *y;
                ann__gather(m, &ws, &src, 0, b, &x, &y);
                ann__forward(m, &ws, x, b);
                vs += ann__loss_sum(m, &ws, y, b);
            }
            MPI_Allreduce(MPI_IN_PLACE, &vs, 1, MPI_DOUBLE, MPI_SUM, comm);
            val_loss = vs / (double)n_val;
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
        /* A stop request on any rank stops every rank. */
        int stop = m->progress && m->progress(m->progress_user, e, train_loss, val_loss);
        MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, comm);
        if (stop) {
            st = ann__fail(m, 1, ANN_STOPPED, "%s: stopped by a progress callback "
                           "after epoch %zu", fn, e);
            break;
        }
        if (early && since_best >= s->patience)
            break;
    }
    if (early && best_epoch > 0 && st == ANN_OK)
        memcpy(m->params, best, pbytes);

finished:
    ann__blas_leave();
    m->epochs_run = done;
    m->train_loss = train_loss;
    m->val_loss = val_loss;
    m->best_epoch = best_epoch;
out:
    if (st != ANN_OK && st != ANN_ERR_DIVERGED && st != ANN_STOPPED) {
        if (!had_m) { free(m->opt_m); m->opt_m = NULL; }
        if (!had_v) { free(m->opt_v); m->opt_v = NULL; }
    }
    free(idx);
    free(lidx);
    free(gbuf);
    free(base);
    free(snap.buf);
    free(best);
    ann__ws_free(&ws);
out_early:
    free(all_rows);
    if (locked)
        ann__unlock_mut(m);
    return st;
}

ANN_MPI_API ann_status ann_mpi_fit(ann *model, MPI_Comm comm, const double *X,
                                   const double *Y, size_t local_rows)
{
    return fit_mpi(model, comm, "ann_mpi_fit", X, Y, NULL, 0, local_rows);
}

ANN_MPI_API ann_status ann_mpi_fit_labels(ann *model, MPI_Comm comm, const double *X,
                                          const int32_t *labels, size_t local_rows)
{
    return fit_mpi(model, comm, "ann_mpi_fit_labels", X, NULL, labels, 1, local_rows);
}

ANN_MPI_API const char *ann_mpi_errmsg(const ann *model)
{
    return ann_errmsg(model);
}
