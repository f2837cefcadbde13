/* bench_floor.h - the GEMM floor of the Fashion-MNIST net (784-256-128-10):
 * OpenBLAS timed alone at exactly the products libann makes, in the
 * calling process and at its thread count.  Shared by bench_roofline (the
 * per-shape table) and bench_ann (the same floor measured right next to
 * each epoch and each inference run, so that a ratio to the floor compares
 * two measurements seconds apart instead of minutes apart: on these shared
 * machines the speed of the same binary drifts by up to 2x over minutes).
 *
 * Per layer l (u units, fan inputs) one training step on B rows needs
 *   forward   Z  = X W^T      GEMM(NoTrans, Trans)   B x u x fan
 *   weights   dW = D^T A      GEMM(Trans, NoTrans)   u x fan x B
 *   input     P  = D W        GEMM(NoTrans, NoTrans) B x fan x u
 * and layer 0's input product is never needed (libann skips it; so do
 * PyTorch and scikit-learn).  The epoch is rows/B full batches plus the
 * remainder batch, each shape timed separately (median block). */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <cblas.h>

#include "bench_common.h"

#define FLOOR_L 3
static const size_t floor_fan[FLOOR_L] = {784, 256, 128}, floor_units[FLOOR_L] = {256, 128, 10};

/* p[i] = scale * (i % mod), in the precision's type. */
static inline void floor_fill(int f32, void *p, size_t n, double scale, size_t mod)
{
    for (size_t i = 0; i < n; i++)
        f32 ? (((float *)p)[i] = (float)scale * (float)(i % mod))
            : (((double *)p)[i] = scale * (double)(i % mod));
}

/* C (M x N, row-major) = alpha op(A) op(B) + beta C, op = transpose if
 * ta / tb, every matrix dense. */
static inline void floor_gemm_ab(int f32, int ta, int tb, size_t M, size_t N, size_t K,
                                 double alpha, const void *A, const void *B, double beta,
                                 void *C)
{
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    blasint lda = ta ? (blasint)M : (blasint)K, ldb = tb ? (blasint)K : (blasint)N;
    if (f32)
        cblas_sgemm(CblasRowMajor, TA, TB, (blasint)M, (blasint)N, (blasint)K, (float)alpha, A,
                    lda, B, ldb, (float)beta, C, (blasint)N);
    else
        cblas_dgemm(CblasRowMajor, TA, TB, (blasint)M, (blasint)N, (blasint)K, alpha, A, lda,
                    B, ldb, beta, C, (blasint)N);
}

/* C = op(A) op(B) */
static inline void floor_gemm(int f32, int ta, int tb, size_t M, size_t N, size_t K,
                              const void *A, const void *B, void *C)
{
    floor_gemm_ab(f32, ta, tb, M, N, K, 1, A, B, 0, C);
}

/* Seconds per call of one GEMM shape: calibrated to blocks of >= block_s,
 * the median of nblk blocks (nblk <= 15). */
static inline double floor_time_gemm(int f32, int ta, int tb, size_t M, size_t N, size_t K,
                              double block_s, int nblk)
{
    size_t es = f32 ? 4 : 8;
    size_t na = M * K, nb = K * N, nc = M * N;
    void *A = bench_xmalloc(na * es), *B = bench_xmalloc(nb * es), *C = bench_xmalloc(nc * es);
    floor_fill(f32, A, na, 0.001, 97);
    floor_fill(f32, B, nb, 0.002, 89);
    memset(C, 0, nc * es);
    /* calibrate */
    size_t reps = 1;
    for (;;) {
        double t0 = bench_now();
        for (size_t r = 0; r < reps; r++)
            floor_gemm(f32, ta, tb, M, N, K, A, B, C);
        if (bench_now() - t0 > block_s)
            break;
        reps *= 2;
    }
    double t[15];
    if (nblk > 15)
        nblk = 15;
    for (int b = 0; b < nblk; b++) {
        double t0 = bench_now();
        for (size_t r = 0; r < reps; r++)
            floor_gemm(f32, ta, tb, M, N, K, A, B, C);
        t[b] = (bench_now() - t0) / (double)reps;
    }
    free(A);
    free(B);
    free(C);
    return bench_median(t, (size_t)nblk);
}

/* The GEMM floor of one training epoch on `rows` rows at batch Bt, without
 * layer 0's input gradient (what bench_roofline calls epoch_s). */
static inline double floor_epoch(int f32, size_t rows, size_t Bt, double block_s, int nblk)
{
    size_t nfull = rows / Bt, rem = rows % Bt;
    double epoch = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t B = pass ? rem : Bt, count = pass ? (rem ? 1 : 0) : nfull;
        if (!count)
            continue;
        for (size_t l = 0; l < FLOOR_L; l++) {
            size_t u = floor_units[l], k = floor_fan[l];
            epoch += (double)count * floor_time_gemm(f32, 0, 1, B, u, k, block_s, nblk);
            epoch += (double)count * floor_time_gemm(f32, 1, 0, u, k, B, block_s, nblk);
            if (l > 0)
                epoch += (double)count * floor_time_gemm(f32, 0, 0, B, k, u, block_s, nblk);
        }
    }
    return epoch;
}

/* The GEMM floor of 1000 predictions at batch 1024. */
static inline double floor_infer_1000(int f32, double block_s, int nblk)
{
    double t = 0;
    for (size_t l = 0; l < FLOOR_L; l++)
        t += floor_time_gemm(f32, 0, 1, 1024, floor_units[l], floor_fan[l], block_s, nblk) *
             1000.0 / 1024.0;
    return t;
}

/* The same three forward products run over the caller's own rows: 1024-row
 * slices of X (n rows of 784, the model's precision), each pass over all
 * slices in order, as a prediction over a test set reads them.  Layer 0
 * then packs rows it has not seen since the previous pass, as ann_predict
 * must, where floor_infer_1000 packs one slice that stays in cache.  The
 * difference is the cost of reading the inputs, which no implementation
 * avoids (bench/RESULTS.md gives the ratio of the two floors).  Seconds
 * per 1000 predictions: the median of nblk passes (nblk <= 15) after one
 * pass of warm-up. */
static inline double floor_infer_stream_1000(int f32, const void *X, size_t n, int nblk)
{
    size_t es = f32 ? 4 : 8, nb = n / 1024;
    void *W[FLOOR_L], *Z[FLOOR_L];
    for (size_t l = 0; l < FLOOR_L; l++) {
        size_t nw = floor_units[l] * floor_fan[l];
        W[l] = bench_xmalloc(nw * es);
        Z[l] = bench_xmalloc(1024 * floor_units[l] * es);
        floor_fill(f32, W[l], nw, 0.002, 89);
    }
    double t[16];
    if (nblk > 15)
        nblk = 15;
    for (int b = -1; b < nblk; b++) {
        double t0 = bench_now();
        for (size_t s = 0; s < nb; s++)
            for (size_t l = 0; l < FLOOR_L; l++) {
                const void *in = l ? Z[l - 1] : (const char *)X + s * 1024 * floor_fan[0] * es;
                floor_gemm(f32, 0, 1, 1024, floor_units[l], floor_fan[l], in, W[l], Z[l]);
            }
        if (b >= 0)
            t[b] = (bench_now() - t0) * 1000.0 / (double)(nb * 1024);
    }
    for (size_t l = 0; l < FLOOR_L; l++) {
        free(W[l]);
        free(Z[l]);
    }
    return bench_median(t, (size_t)nblk);
}

/* ---- the step sequence ---------------------------------------------------
 * The per-shape floor times each product alone, hot in cache, back to back.
 * A training step cannot run that way: its batch's rows must first be
 * copied out of the shuffled data (GEMM takes no row index), and each
 * product meets its operands where the step before it left them.  This is
 * an epoch of such steps with nothing else in it: the gather (a memcpy per
 * row, with libann's prefetch of the row 8 ahead) and the step's products
 * in libann's order with libann's betas (forward with beta 0; per layer
 * from the last, the input gradient from the old weights, then the weight
 * step as the weight-gradient GEMM onto W, beta 1), on a rows x 784 array
 * of the precision (X, or made up if X is NULL), in a fresh random order
 * each epoch.  No bias,
 * activation, softmax, loss, derivative or check: an implementation
 * built on these products can be no faster, so epoch_s / seq_epoch_s is
 * the highest ratio to the floor that any such one can reach.  (At 2
 * threads the products run on OpenBLAS's threads and the gather on the
 * calling one, as most implementations do; libann splits it with its
 * helper thread, so there the ceiling is an estimate, not a bound.)
 * Seconds per epoch, the median of nep (<= 15) after one warm-up epoch;
 * *gather_s is the gather's share in the same epochs.  (bench_roofline
 * reports it against the floor; bench_ann next to each SGD fit.) */
static inline double floor_seq_epoch(int f32, const void *Xc, size_t rows, size_t Bt, int nep,
                                     double *gather_s)
{
    size_t es = f32 ? 4 : 8, L = FLOOR_L, d = floor_fan[0];
    char *Xown = Xc ? NULL : bench_xmalloc(rows * d * es), *Xb = bench_xmalloc(Bt * d * es);
    const char *X = Xc ? (const char *)Xc : Xown;
    void *W[FLOOR_L], *Z[FLOOR_L], *D[2];
    for (size_t l = 0; l < L; l++) {
        W[l] = bench_xmalloc(floor_units[l] * floor_fan[l] * es);
        Z[l] = bench_xmalloc(Bt * floor_units[l] * es);
        floor_fill(f32, W[l], floor_units[l] * floor_fan[l], 0.002, 89);
    }
    D[0] = bench_xmalloc(Bt * d * es);
    D[1] = bench_xmalloc(Bt * d * es);
    if (Xown)
        floor_fill(f32, Xown, rows * d, 0.001, 97);
    size_t *idx = bench_xmalloc(rows * sizeof *idx);
    for (size_t i = 0; i < rows; i++)
        idx[i] = i;
    uint64_t rng = 0x9E3779B97F4A7C15u;
    /* the weight step's size: small enough that W stays as filled */
    double a = -1e-20;
    double t[15], g[15];
    if (nep > 15)
        nep = 15;
    for (int e = -1; e < nep; e++) {
        for (size_t i = rows - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t j = (size_t)(rng % (i + 1)), k = idx[i];
            idx[i] = idx[j], idx[j] = k;
        }
        double tg = 0, t0 = bench_now();
        for (size_t s = 0; s < rows; s += Bt) {
            size_t B = rows - s < Bt ? rows - s : Bt;
            double g0 = bench_now();
            for (size_t r = 0; r < B; r++) {
                if (r + 8 < B)
                    for (size_t o = 0; o < 256; o += 64)
                        __builtin_prefetch(X + idx[s + r + 8] * d * es + o);
                memcpy(Xb + r * d * es, X + idx[s + r] * d * es, d * es);
            }
            tg += bench_now() - g0;
            for (size_t l = 0; l < L; l++)
                floor_gemm(f32, 0, 1, B, floor_units[l], floor_fan[l], l ? Z[l - 1] : Xb, W[l],
                           Z[l]);
            const void *Dl = Z[L - 1]; /* the output delta's stand-in */
            for (size_t l = L; l-- > 0;) {
                size_t u = floor_units[l], k = floor_fan[l];
                void *Dn = D[l & 1];
                if (l > 0) /* Dn (B x k) = Dl (B x u) W (u x k) */
                    floor_gemm(f32, 0, 0, B, k, u, Dl, W[l], Dn);
                /* the weight step: W += a Dl^T A */
                floor_gemm_ab(f32, 1, 0, u, k, B, a, Dl, l ? Z[l - 1] : Xb, 1, W[l]);
                Dl = Dn;
            }
        }
        if (e >= 0)
            t[e] = bench_now() - t0, g[e] = tg;
    }
    for (size_t l = 0; l < L; l++) {
        free(W[l]);
        free(Z[l]);
    }
    free(D[0]);
    free(D[1]);
    free(Xown);
    free(Xb);
    free(idx);
    *gather_s = bench_median(g, (size_t)nep);
    return bench_median(t, (size_t)nep);
}

#endif
