/* lm.c - Levenberg-Marquardt for small squared-error networks (MATLAB's
 * trainlm): each epoch is one iteration over the whole training set.
 *
 *   e = yhat - y (all rows and outputs),  J = d yhat / d params
 *   A = J^T J (dsyrk, accumulated over row chunks), g = J^T e (dgemv)
 *   solve (A + mu I) delta = -g (LAPACKE dposv); accept w + delta if the
 *   mean loss drops (mu /= factor), else mu *= factor and retry.
 *
 * Memory: two P x P matrices plus a chunk of the Jacobian, which is why P
 * is limited to ANN__LM_MAX_PARAMS. */
#include "ann_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LM_MAX_TRIES 12
#define LM_MU_MAX 1e10
#define LM_MU_MIN 1e-20
#define LM_CHUNK_ELEMS ((size_t)1 << 20) /* Jacobian chunk: 8 MB */

ann_status ann__lm_check(ann *m, const char *fn)
{
    if (m->s.loss != ANN_LOSS_SQUARED_ERROR)
        return ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                         "%s: Levenberg-Marquardt needs the squared-error loss "
                         "(cross-entropy is not a sum of squared residuals)", fn);
    if (m->s.precision != ANN_PRECISION_F64)
        return ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                         "%s: Levenberg-Marquardt runs on float64 models only", fn);
    if (m->n_params > ANN__LM_MAX_PARAMS)
        return ann__fail(m, 1, ANN_ERR_UNSUPPORTED,
                         "%s: Levenberg-Marquardt is limited to %u parameters "
                         "(J^T J is P x P); this network has %zu",
                         fn, ANN__LM_MAX_PARAMS, m->n_params);
    return ANN_OK;
}

void ann__lm_free(ann__lm *lm)
{
    free(lm->A);
    free(lm->M);
    free(lm->g);
    free(lm->rhs);
    free(lm->w0);
    free(lm->J);
    free(lm->e);
    ann__ws_free(&lm->ws);
    memset(lm, 0, sizeof *lm);
}

int ann__lm_init(ann *m, ann__lm *lm, size_t n)
{
    memset(lm, 0, sizeof *lm);
    size_t P = m->n_params, n_out = m->units[m->n_layers - 1];
    size_t chunk = LM_CHUNK_ELEMS / (n_out * P);
    if (chunk == 0)
        chunk = 1;
    if (chunk > n)
        chunk = n;
    lm->P = P;
    lm->chunk = chunk;
    lm->mu = m->s.lm_mu;
    int r = ann__ws_init(&lm->ws, m, chunk, 1);
    if (r)
        return r;
    lm->A = malloc(P * P * sizeof(double));
    lm->M = malloc(P * P * sizeof(double));
    lm->g = malloc(P * sizeof(double));
    lm->rhs = malloc(P * sizeof(double));
    lm->w0 = malloc(P * sizeof(double));
    lm->J = malloc(chunk * n_out * P * sizeof(double));
    lm->e = malloc(chunk * n_out * sizeof(double));
    if (!lm->A || !lm->M || !lm->g || !lm->rhs || !lm->w0 || !lm->J || !lm->e) {
        ann__lm_free(lm);
        return -1;
    }
    return 0;
}

/* Mean loss of rows [0, n) at the current weights. */
static double mean_loss(const ann *m, ann__lm *lm, const ann__batch_src *src, size_t n)
{
    double total = 0;
    for (size_t s = 0; s < n; s += lm->chunk) {
        size_t B = n - s < lm->chunk ? n - s : lm->chunk;
        const void *x, *y;
        ann__gather(m, &lm->ws, src, s, B, &x, &y);
        ann__forward(m, &lm->ws, x, B);
        total += ann__loss_sum(m, &lm->ws, y, B);
    }
    return total / (double)n;
}

ann_status ann__lm_epoch(ann *m, ann__lm *lm, const ann__batch_src *src, size_t n,
                         const char *fn, double *loss)
{
    size_t P = lm->P, n_out = m->units[m->n_layers - 1];
    double *w = m->params;
    memset(lm->A, 0, P * P * sizeof(double));
    memset(lm->g, 0, P * sizeof(double));
    double loss0 = 0;
    for (size_t s = 0; s < n; s += lm->chunk) {
        size_t B = n - s < lm->chunk ? n - s : lm->chunk;
        const void *x, *y;
        ann__gather(m, &lm->ws, src, s, B, &x, &y);
        const double *out = ann__forward(m, &lm->ws, x, B);
        loss0 += ann__loss_sum(m, &lm->ws, y, B);
        ann__jacobian(m, &lm->ws, x, B, lm->J);
        const double *yy = y;
        for (size_t i = 0; i < B * n_out; i++)
            lm->e[i] = out[i] - yy[i];
        ann__dsyrk_tn(P, B * n_out, lm->J, lm->A);
        ann__dgemv(1, B * n_out, P, 1.0, lm->J, P, lm->e, 1.0, lm->g);
    }
    loss0 /= (double)n;
    /* LAPACKE's NaN check misses Inf: every entry is checked here. */
    int finite = isfinite(loss0);
    for (size_t i = 0; i < P && finite; i++) {
        finite &= isfinite(lm->g[i]);
        for (size_t j = i; j < P; j++)
            finite &= isfinite(lm->A[i * P + j]);
    }
    if (!finite)
        return ann__fail(m, 1, ANN_ERR_DIVERGED,
                         "%s: Levenberg-Marquardt: the loss or Jacobian is not finite", fn);
    memcpy(lm->w0, w, P * sizeof(double));
    for (int t = 0; t < LM_MAX_TRIES && lm->mu <= LM_MU_MAX; t++) {
        memcpy(lm->M, lm->A, P * P * sizeof(double));
        for (size_t i = 0; i < P; i++) {
            lm->M[i * P + i] += lm->mu;
            lm->rhs[i] = -lm->g[i];
        }
        ann_status st = ann__posv(P, lm->M, lm->rhs);
        if (st == ANN_ERR_OUT_OF_MEMORY)
            return ann__fail(m, 1, st, "%s: out of memory in the LM solve (dposv)", fn);
        if (st == ANN_OK) {
            int ok = 1;
            for (size_t i = 0; i < P; i++) {
                w[i] = lm->w0[i] + lm->rhs[i];
                ok &= isfinite(w[i]);
            }
            double l1 = ok ? mean_loss(m, lm, src, n) : INFINITY;
            if (l1 < loss0) {
                lm->mu = lm->mu / m->s.lm_mu_factor;
                if (lm->mu < LM_MU_MIN)
                    lm->mu = LM_MU_MIN;
                m->steps++;
                *loss = l1;
                return ANN_OK;
            }
            memcpy(w, lm->w0, P * sizeof(double));
        } else if (st != ANN_ERR_NUMERIC) {
            return ann__fail(m, 1, st, "%s: the LM solve (dposv) failed", fn);
        }
        /* not positive definite, or no decrease: a shorter, more
         * gradient-like step */
        lm->mu *= m->s.lm_mu_factor;
    }
    /* No step lowered the loss (a minimum, to working precision): the
     * weights stay; mu is capped so later epochs can still move. */
    if (lm->mu > LM_MU_MAX)
        lm->mu = LM_MU_MAX;
    *loss = loss0;
    return ANN_OK;
}
