/* prep.c - fitting the input transform of ANN_PARAM_PREPROCESS: means and
 * standard deviations, or PCA/ZCA whitening from the covariance (dsyrk)
 * and its eigen-decomposition (LAPACKE dsyevd).  Applying it is the
 * engine's gather (engine_tmpl.h). */
#include "ann_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WHITEN_MAX_INPUTS 8192u
#define CHUNK 256u

size_t ann__prep_mat_len(int mode, size_t n)
{
    if (mode == ANN_PREPROCESS_STANDARDIZE)
        return n;
    if (mode == ANN_PREPROCESS_PCA || mode == ANN_PREPROCESS_ZCA)
        return n * n;
    return 0;
}

void ann__prep_free(ann__prep *p)
{
    free(p->mean);
    memset(p, 0, sizeof *p);
}

static int prep_alloc(ann__prep *p, int mode, size_t n)
{
    memset(p, 0, sizeof *p);
    size_t len = ann__prep_mat_len(mode, n);
    p->mean = malloc((n + len) * sizeof(double));
    if (!p->mean)
        return -1;
    p->mat = p->mean + n;
    p->mode = mode;
    return 0;
}

int ann__prep_copy(ann__prep *dst, const ann__prep *src, size_t n)
{
    memset(dst, 0, sizeof *dst);
    if (!src->mode)
        return 0;
    if (prep_alloc(dst, src->mode, n))
        return -1;
    memcpy(dst->mean, src->mean, (n + ann__prep_mat_len(src->mode, n)) * sizeof(double));
    return 0;
}

static size_t row_of(const size_t *idx, size_t i) { return idx ? idx[i] : i; }

ann_status ann__prep_fit(const ann *m, const char *fn, const ann__view *X,
                         const size_t *idx, size_t n_rows, ann__prep *out)
{
    memset(out, 0, sizeof *out);
    int mode = m->s.preprocess;
    size_t n = m->n_inputs;
    if (mode == ANN_PREPROCESS_NONE)
        return ANN_OK;
    int whiten = mode != ANN_PREPROCESS_STANDARDIZE;
    if (whiten && n > WHITEN_MAX_INPUTS)
        return ann__fail(m, 1, ANN_ERR_TOO_LARGE,
                         "%s: PCA/ZCA whitening supports at most %u inputs, the model has %zu",
                         fn, WHITEN_MAX_INPUTS, n);
    if (prep_alloc(out, mode, n))
        return ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory (preprocessing)", fn);
    double *mean = out->mean, *mat = out->mat;
    double inv_n = 1.0 / (double)n_rows;
    /* Means by a compensated two-pass: first the plain mean, then the mean
     * of the residuals corrects its rounding. */
    for (size_t j = 0; j < n; j++)
        mean[j] = 0;
    for (size_t i = 0; i < n_rows; i++)
        for (size_t j = 0; j < n; j++)
            mean[j] += ann__view_get(X, row_of(idx, i), j);
    for (size_t j = 0; j < n; j++)
        mean[j] *= inv_n;
    if (!whiten) {
        for (size_t j = 0; j < n; j++)
            mat[j] = 0;
        double *corr = calloc(n, sizeof *corr);
        if (!corr) {
            ann__prep_free(out);
            return ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        }
        for (size_t i = 0; i < n_rows; i++)
            for (size_t j = 0; j < n; j++) {
                double d = ann__view_get(X, row_of(idx, i), j) - mean[j];
                corr[j] += d;
                mat[j] += d * d;
            }
        for (size_t j = 0; j < n; j++) {
            double c = corr[j] * inv_n;
            mean[j] += c;
            double var = mat[j] * inv_n - c * c;
            double sd = var > 0 ? sqrt(var) : 0;
            /* Constant (or numerically constant) features: centred only. */
            mat[j] = (sd > 1e-12 * fmax(1.0, fabs(mean[j])) && isfinite(sd)) ? 1.0 / sd : 1.0;
        }
        free(corr);
        return ANN_OK;
    }
    /* Covariance: C = Xc^T Xc / n_rows, accumulated by dsyrk over chunks
     * of centred rows (never a copy of the data set). */
    double *C = calloc(n * n, sizeof *C), *buf = malloc(CHUNK * n * sizeof *buf);
    double *w = malloc(n * sizeof *w);
    if (!C || !buf || !w) {
        free(C); free(buf); free(w);
        ann__prep_free(out);
        return ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory (covariance)", fn);
    }
    ann__blas_enter();
    for (size_t s = 0; s < n_rows; s += CHUNK) {
        size_t B = n_rows - s < CHUNK ? n_rows - s : CHUNK;
        for (size_t r = 0; r < B; r++)
            for (size_t j = 0; j < n; j++)
                buf[r * n + j] = ann__view_get(X, row_of(idx, s + r), j) - mean[j];
        ann__dsyrk_tn(n, B, buf, C);
    }
    ann__blas_leave();
    free(buf);
    int finite = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            C[i * n + j] *= inv_n;
            finite &= isfinite(C[i * n + j]);
        }
    ann_status st = finite ? ann__sym_eig(n, C, w) : ANN_ERR_NUMERIC;
    if (st != ANN_OK) {
        free(C); free(w);
        ann__prep_free(out);
        return ann__fail(m, 1, st, "%s: whitening: %s", fn,
                         !finite ? "the covariance overflows (inputs too large)"
                         : st == ANN_ERR_NUMERIC ? "the eigen-solver (dsyevd) did not converge"
                                                 : ann_status_str(st));
    }
    double lmax = w[n - 1] > 0 ? w[n - 1] : 0;
    double eps = m->s.whiten_epsilon * lmax;
    /* Component k = eigenvector of the k-th largest eigenvalue, its sign
     * fixed (largest-magnitude entry positive) so a fit is reproducible. */
    for (size_t k = 0; k < n; k++) {
        size_t c = n - 1 - k;
        double l = (w[c] > 0 ? w[c] : 0) + eps;
        double sc = l > 0 ? 1.0 / sqrt(l) : 1.0;
        size_t arg = 0;
        for (size_t i = 1; i < n; i++)
            if (fabs(C[i * n + c]) > fabs(C[arg * n + c]))
                arg = i;
        double sg = C[arg * n + c] < 0 ? -1.0 : 1.0;
        for (size_t i = 0; i < n; i++) {
            /* PCA row k: sc * v_k^T */
            if (mode == ANN_PREPROCESS_PCA)
                mat[k * n + i] = sg * sc * C[i * n + c];
        }
        w[c] = sc; /* reuse: scale of column c */
    }
    if (mode == ANN_PREPROCESS_ZCA) {
        /* W = (V diag(sc)) V^T: one GEMM. */
        double *Vs = malloc(n * n * sizeof *Vs);
        if (!Vs) {
            free(C); free(w);
            ann__prep_free(out);
            return ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY, "%s: out of memory (whitening)", fn);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < n; c++)
                Vs[i * n + c] = C[i * n + c] * w[c];
        ann__blas_enter();
        ann__dgemm(0, 1, n, n, n, 1.0, Vs, n, C, n, 0.0, mat, n);
        ann__blas_leave();
        free(Vs);
    }
    free(C);
    free(w);
    return ANN_OK;
}

double *ann__tgt_fit(const ann *m, const ann__view *Y, const size_t *idx, size_t n_rows)
{
    size_t k_out = m->units[m->n_layers - 1];
    double *t = calloc(2 * k_out, sizeof *t);
    if (!t)
        return NULL;
    double *mu = t, *sd = t + k_out;
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; k < k_out; k++)
            mu[k] += ann__view_get(Y, row_of(idx, i), k);
    for (size_t k = 0; k < k_out; k++)
        mu[k] /= (double)n_rows;
    for (size_t i = 0; i < n_rows; i++)
        for (size_t k = 0; k < k_out; k++) {
            double d = ann__view_get(Y, row_of(idx, i), k) - mu[k];
            sd[k] += d * d;
        }
    for (size_t k = 0; k < k_out; k++) {
        double s = sqrt(sd[k] / (double)n_rows);
        /* a constant (or overflowing) target is only centred */
        sd[k] = (s > 1e-12 * fmax(1.0, fabs(mu[k])) && isfinite(s)) ? s : 1.0;
    }
    return t;
}
