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

/* ---- the least element-wise work of this net (with ew set, in
 * floor_infer_stream_ew_1000 and floor_seq_epoch_way): ReLU; the output
 * delta without softmax, (z - y) / B; the ReLU mask on a hidden layer's
 * delta; a layer's bias gradient (column sums) and bias step */
#define FLOOR_EW(T, SFX)                                                       \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_relu_##SFX(size_t n, T *z)                                           \
    {                                                                          \
        for (size_t i = 0; i < n; i++)                                         \
            z[i] = z[i] > 0 ? z[i] : 0;                                        \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_delta_##SFX(size_t n, T *restrict z, const T *restrict y, T invB)   \
    {                                                                          \
        for (size_t i = 0; i < n; i++)                                         \
            z[i] = (z[i] - y[i]) * invB;                                       \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_mask_##SFX(size_t n, T *restrict d, const T *restrict a)            \
    {                                                                          \
        for (size_t i = 0; i < n; i++)                                         \
            d[i] = a[i] > 0 ? d[i] : 0;                                        \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_bias_##SFX(size_t B, size_t u, const T *restrict D, T *restrict db, \
                     T *restrict b, T lr)                                      \
    {                                                                          \
        for (size_t j = 0; j < u; j++)                                         \
            db[j] = 0;                                                         \
        for (size_t r = 0; r < B; r++)                                         \
            for (size_t j = 0; j < u; j++)                                     \
                db[j] += D[r * u + j];                                         \
        for (size_t j = 0; j < u; j++)                                         \
            b[j] -= lr * db[j];                                                \
    }                                                                          \
    /* the same over the transposed delta (u x B: layer 0 feature-major) */    \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_bias_t_##SFX(size_t B, size_t u, const T *restrict D, T *restrict db, \
                       T *restrict b, T lr)                                    \
    {                                                                          \
        for (size_t j = 0; j < u; j++) {                                       \
            T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                 \
            size_t r = 0;                                                      \
            for (; r + 8 <= B; r += 8)                                         \
                for (size_t q = 0; q < 8; q++)                                 \
                    s[q] += D[j * B + r + q];                                  \
            T t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])); \
            for (; r < B; r++)                                                 \
                t += D[j * B + r];                                             \
            db[j] = t;                                                         \
            b[j] -= lr * t;                                                    \
        }                                                                      \
    }
FLOOR_EW(float, f)
FLOOR_EW(double, d)

/* One forward product Z (B x u) = in (B x fan) W^T: with bias NULL,
 * beta 0; else Z starts as the bias rows (beta 1, in place of OpenBLAS's
 * zeroing pass) and, with relu, gets one ReLU pass after.  Returns the
 * ReLU pass's seconds. */
static inline double floor_layer(int f32, size_t B, size_t u, size_t fan, const void *in,
                                 const void *W, void *Z, const void *bias, int relu)
{
    size_t es = f32 ? 4 : 8;
    if (!bias) {
        floor_gemm(f32, 0, 1, B, u, fan, in, W, Z);
        return 0;
    }
    for (size_t r = 0; r < B; r++)
        memcpy((char *)Z + r * u * es, bias, u * es);
    floor_gemm_ab(f32, 0, 1, B, u, fan, 1, in, W, 1, Z);
    if (!relu)
        return 0;
    double t0 = bench_now();
    f32 ? floor_relu_f(B * u, Z) : floor_relu_d(B * u, Z);
    return bench_now() - t0;
}

/* The same three forward products run over the caller's own rows: 1024-row
 * slices of X (n rows of 784, the model's precision), each pass over all
 * slices in order, as a prediction over a test set reads them.  Layer 0
 * then packs rows it has not seen since the previous pass, as ann_predict
 * must, where floor_infer_1000 packs one slice that stays in cache.  The
 * difference is the cost of reading the inputs, which no implementation
 * avoids (bench/RESULTS.md gives the ratio of the two floors).  Seconds
 * per 1000 predictions: the median of nblk passes (nblk <= 15) after one
 * pass of warm-up (floor_infer_stream_1000, below).
 *
 * With ew set: the least element-wise work of a
 * prediction added, on the calling thread.  Each product starts from its
 * layer's bias rows with beta 1 (libann's way: it replaces the zeroing
 * pass OpenBLAS makes for beta 0, so the products cost the same), and the
 * hidden layers' outputs get one ReLU pass.  No softmax, no check of the
 * inputs, no conversion: less than ann_predict must do, so the in-cache
 * floor ÷ this is a ceiling for any implementation that does its
 * element-wise work on the calling thread.  *relu_1000: the ReLU passes'
 * share of the result. */
static inline double floor_infer_stream_ew_1000(int f32, const void *X, size_t n, int nblk,
                                                int ew, double *relu_1000)
{
    size_t es = f32 ? 4 : 8, nb = n / 1024;
    void *W[FLOOR_L], *Z[FLOOR_L];
    for (size_t l = 0; l < FLOOR_L; l++) {
        size_t nw = floor_units[l] * floor_fan[l];
        W[l] = bench_xmalloc(nw * es);
        Z[l] = bench_xmalloc(1024 * floor_units[l] * es);
        floor_fill(f32, W[l], nw, 0.002, 89);
    }
    char *bias = bench_xmalloc(floor_units[0] * es);
    floor_fill(f32, bias, floor_units[0], -0.01, 7);
    double t[16], tr[16];
    if (nblk > 15)
        nblk = 15;
    for (int b = -1; b < nblk; b++) {
        double trelu = 0, t0 = bench_now();
        for (size_t s = 0; s < nb; s++)
            for (size_t l = 0; l < FLOOR_L; l++) {
                const void *in = l ? Z[l - 1] : (const char *)X + s * 1024 * floor_fan[0] * es;
                trelu += floor_layer(f32, 1024, floor_units[l], floor_fan[l], in, W[l], Z[l],
                                     ew ? bias : NULL, l + 1 < FLOOR_L);
            }
        if (b >= 0) {
            t[b] = (bench_now() - t0) * 1000.0 / (double)(nb * 1024);
            tr[b] = trelu * 1000.0 / (double)(nb * 1024);
        }
    }
    for (size_t l = 0; l < FLOOR_L; l++) {
        free(W[l]);
        free(Z[l]);
    }
    free(bias);
    if (relu_1000)
        *relu_1000 = bench_median(tr, (size_t)nblk);
    return bench_median(t, (size_t)nblk);
}

static inline double floor_infer_stream_1000(int f32, const void *X, size_t n, int nblk)
{
    return floor_infer_stream_ew_1000(f32, X, n, nblk, 0, NULL);
}

/* The inference ceiling, paired: rounds (<= 15) of one in-cache floor
 * measurement (floor_infer_1000, one block of >= 10 ms per shape) next to
 * one pass of floor_infer_stream_ew_1000 over X's slices; the median over
 * rounds of in-cache ÷ the pass, the highest ratio to the in-cache floor
 * an implementation that does this element-wise work on the calling
 * thread can reach, with each pair seconds apart instead of the whole
 * inference timing apart.  *split: the same with the ReLU passes counted
 * half (split perfectly over two threads).  *ew_1000, *relu_1000: the
 * passes' seconds per 1000 predictions and their ReLU share (medians). */
static inline double floor_infer_ceiling(int f32, const void *X, size_t n, int rounds,
                                         double *split, double *ew_1000, double *relu_1000)
{
    double r[15], r2[15], e[15], rl[15];
    if (rounds > 15)
        rounds = 15;
    for (int i = 0; i < rounds; i++) {
        double inc = floor_infer_1000(f32, 0.01, 1);
        e[i] = floor_infer_stream_ew_1000(f32, X, n, 1, 1, &rl[i]);
        r[i] = inc / e[i];
        r2[i] = inc / (e[i] - 0.5 * rl[i]);
    }
    *split = bench_median(r2, (size_t)rounds);
    *ew_1000 = bench_median(e, (size_t)rounds);
    *relu_1000 = bench_median(rl, (size_t)rounds);
    return bench_median(r, (size_t)rounds);
}

/* ---- momentum's exact step on OpenBLAS ----------------------------------
 * Heavy-ball momentum, v <- mu v + g, w <- w - lr v, rounded as written,
 * changes both v and w at every step, and a GEMM writes only one of them,
 * so an exact step built on OpenBLAS needs the weight-gradient GEMM onto
 * v and at least one pass over w.  Three ways, each timed in the momentum
 * sequence below (FLOOR_MOM_*):
 *   CARRIED  GEMM onto v with beta 1, then one pass w -= lr v, v = mu v
 *            (the next step's GEMM accumulates onto mu v): 4 streams.
 *   BETA     GEMM with beta mu (OpenBLAS scales v in a pass of its own
 *            before the product, on its threads), then w -= lr v: 3 + 2.
 *   AXPY     as BETA, with the step as cblas ?axpy (on OpenBLAS's threads).
 * Reformulations that scale v or fold lr into the GEMM's alpha round
 * differently, so they are not this step. */
enum { FLOOR_SGD = 0, FLOOR_MOM_CARRIED, FLOOR_MOM_BETA, FLOOR_MOM_AXPY };

#define FLOOR_MOM_PASSES(T, SFX)                                               \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_momc_##SFX(size_t n, T *restrict w, T *restrict v, T lr, T mu)      \
    {                                                                          \
        for (size_t i = 0; i < n; i++) {                                       \
            w[i] -= lr * v[i];                                                 \
            v[i] = mu * v[i];                                                  \
        }                                                                      \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void            \
    floor_momw_##SFX(size_t n, T *restrict w, const T *restrict v, T lr)      \
    {                                                                          \
        for (size_t i = 0; i < n; i++)                                         \
            w[i] -= lr * v[i];                                                 \
    }
FLOOR_MOM_PASSES(float, f)
FLOOR_MOM_PASSES(double, d)

/* one layer's momentum step, the way given (W, V: u x k), with the
 * weight gradient op(D) op(A) (ta, tb = 1, 0: D^T A; with layer 0
 * feature-major, 0, 0 for layer 0's D0^T A and 1, 1 for layer 1's
 * D^T (A0^T)^T); returns the seconds of its one-thread pass (0 for AXPY) */
static inline double floor_mom_step(int f32, int way, int ta, int tb, size_t u, size_t k,
                                    size_t B, const void *D, const void *A, void *W, void *V,
                                    double lr, double mu)
{
    size_t n = u * k;
    floor_gemm_ab(f32, ta, tb, u, k, B, 1, D, A, way == FLOOR_MOM_CARRIED ? 1 : mu, V);
    double t0 = bench_now();
    if (way == FLOOR_MOM_CARRIED)
        f32 ? floor_momc_f(n, W, V, (float)lr, (float)mu) : floor_momc_d(n, W, V, lr, mu);
    else if (way == FLOOR_MOM_BETA)
        f32 ? floor_momw_f(n, W, V, (float)lr) : floor_momw_d(n, W, V, lr);
    else if (f32)
        cblas_saxpy((blasint)n, (float)-lr, V, 1, W, 1);
    else
        cblas_daxpy((blasint)n, -lr, V, 1, W, 1);
    return way == FLOOR_MOM_AXPY ? 0 : bench_now() - t0;
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
 * reports it against the floor; bench_ann next to each SGD fit.)
 *
 * floor_seq_epoch_way is the same epoch with momentum's step made one of
 * the ways above instead (way FLOOR_MOM_*; FLOOR_SGD is floor_seq_epoch):
 * the least an exact momentum epoch on these products can take that way.
 * *pass_s (if not NULL): the share of its one-thread passes (0 for SGD and
 * AXPY), which an implementation could split over its threads.
 *
 * With ew set, the step also does the least element-wise work this net
 * needs, on the calling thread: each forward product starts from its
 * layer's bias rows (beta 1, in place of OpenBLAS's zeroing pass), ReLU on
 * the hidden outputs, the output delta (z - y) / B (no softmax, no loss),
 * the ReLU mask on each hidden delta, and each layer's bias gradient and
 * step.  Still no softmax, loss, gather conversion or check, so still
 * less than any implementation of the net must do.
 *
 * floor_seq_init / floor_seq_run / floor_seq_free: the same, one epoch
 * at a time, so that the ways can be interleaved epoch by epoch. */
/* libann's layer 0 in feature-major order (lib/engine_tmpl.h, t0_use):
 * float32 on one OpenBLAS thread with its SkylakeX kernels, at most 128
 * rows per batch (this net's 256 units; every product beyond 100^3).
 * There the sequences below take the same order, so that they stay the
 * least such a step can take (BENCH_SEQ_T0=0 or 1 overrides). */
char *openblas_get_corename(void);
static inline int floor_t0(int f32, size_t Bt)
{
    const char *e = getenv("BENCH_SEQ_T0");
    if (e)
        return atoi(e) != 0 && f32;
    const char *c = openblas_get_corename();
    return f32 && Bt <= 128 && openblas_get_num_threads() == 1 && c &&
           (!strcmp(c, "SkylakeX") || !strcmp(c, "Cooperlake") || !strcmp(c, "SapphireRapids"));
}

typedef struct {
    int f32, ew, t0;
    size_t rows, Bt, es;
    const char *X;
    char *Xown, *Xb, *bias, *db, *Y;
    void *W[FLOOR_L], *Z[FLOOR_L], *V[FLOOR_L], *D[2];
    size_t *idx;
    uint64_t rng;
} floor_seq;

static inline void floor_seq_init(floor_seq *q, int f32, const void *Xc, size_t rows, size_t Bt,
                                  int ew)
{
    size_t es = f32 ? 4 : 8, L = FLOOR_L, d = floor_fan[0], nout = floor_units[L - 1];
    memset(q, 0, sizeof *q);
    q->f32 = f32, q->ew = ew, q->rows = rows, q->Bt = Bt, q->es = es;
    q->t0 = floor_t0(f32, Bt);
    q->Xown = Xc ? NULL : bench_xmalloc(rows * d * es);
    q->X = Xc ? (const char *)Xc : q->Xown;
    q->Xb = bench_xmalloc(Bt * d * es);
    for (size_t l = 0; l < L; l++) {
        size_t nw = floor_units[l] * floor_fan[l];
        q->W[l] = bench_xmalloc(nw * es);
        q->Z[l] = bench_xmalloc(Bt * floor_units[l] * es);
        q->V[l] = bench_xmalloc(nw * es);
        floor_fill(f32, q->W[l], nw, 0.002, 89);
        memset(q->V[l], 0, nw * es);
    }
    q->D[0] = bench_xmalloc(Bt * d * es);
    q->D[1] = bench_xmalloc(Bt * d * es);
    /* ew: biases, their gradient, the targets (one-hot by row) */
    q->bias = bench_xmalloc(d * es);
    q->db = bench_xmalloc(d * es);
    q->Y = bench_xmalloc(Bt * nout * es);
    floor_fill(f32, q->bias, d, -0.001, 7);
    for (size_t i = 0; i < Bt * nout; i++)
        f32 ? (((float *)q->Y)[i] = (float)(i % nout == (i / nout) % nout))
            : (((double *)q->Y)[i] = (double)(i % nout == (i / nout) % nout));
    if (q->Xown)
        floor_fill(f32, q->Xown, rows * d, 0.001, 97);
    q->idx = bench_xmalloc(rows * sizeof *q->idx);
    for (size_t i = 0; i < rows; i++)
        q->idx[i] = i;
    q->rng = 0x9E3779B97F4A7C15u;
}

static inline void floor_seq_free(floor_seq *q)
{
    for (size_t l = 0; l < FLOOR_L; l++) {
        free(q->W[l]);
        free(q->Z[l]);
        free(q->V[l]);
    }
    free(q->D[0]);
    free(q->D[1]);
    free(q->bias);
    free(q->db);
    free(q->Y);
    free(q->Xown);
    free(q->Xb);
    free(q->idx);
}

/* One epoch of the sequence, the way given, in a fresh random order:
 * seconds, with the gather's (*gather_s) and the one-thread passes'
 * (*pass_s) shares. */
static inline double floor_seq_run(floor_seq *q, int way, double *gather_s, double *pass_s)
{
    int f32 = q->f32, ew = q->ew;
    size_t es = q->es, L = FLOOR_L, d = floor_fan[0], nout = floor_units[L - 1];
    size_t rows = q->rows, Bt = q->Bt, *idx = q->idx;
    const char *X = q->X;
    char *Xb = q->Xb;
    void **W = q->W, **Z = q->Z, **V = q->V, **D = q->D;
    /* the weight step's size: small enough that W stays as filled */
    double a = -1e-20;
    for (size_t i = rows - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
        uint64_t rng = q->rng;
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        q->rng = rng;
        size_t j = (size_t)(rng % (i + 1)), k = idx[i];
        idx[i] = idx[j], idx[j] = k;
    }
    double tg = 0, tp = 0, t0 = bench_now();
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
        for (size_t l = 0; l < L; l++) {
            size_t u = floor_units[l], k = floor_fan[l];
            if (q->t0 && l < 2) {
                /* layer 0 as Z0^T = W0 Xb^T (u x B); layer 1 from it */
                if (ew && l == 0) {
                    for (size_t j = 0; j < u; j++)
                        for (size_t r = 0; r < B; r++)
                            f32 ? (((float *)Z[0])[j * B + r] = ((float *)q->bias)[j])
                                : (((double *)Z[0])[j * B + r] = ((double *)q->bias)[j]);
                } else if (ew) {
                    for (size_t r = 0; r < B; r++)
                        memcpy((char *)Z[1] + r * u * es, q->bias, u * es);
                }
                if (l == 0)
                    floor_gemm_ab(f32, 0, 1, u, B, k, 1, W[0], Xb, ew ? 1 : 0, Z[0]);
                else
                    floor_gemm_ab(f32, 1, 1, B, u, k, 1, Z[0], W[1], ew ? 1 : 0, Z[1]);
                if (ew)
                    f32 ? floor_relu_f(B * u, Z[l]) : floor_relu_d(B * u, Z[l]);
                continue;
            }
            floor_layer(f32, B, u, k, l ? Z[l - 1] : Xb, W[l], Z[l], ew ? q->bias : NULL,
                        l + 1 < L);
        }
        if (ew)
            f32 ? floor_delta_f(B * nout, Z[L - 1], (const float *)q->Y, 1.0f / (float)B)
                : floor_delta_d(B * nout, Z[L - 1], (const double *)q->Y, 1.0 / (double)B);
        const void *Dl = Z[L - 1]; /* the output delta (its stand-in without ew) */
        for (size_t l = L; l-- > 0;) {
            size_t u = floor_units[l], k = floor_fan[l];
            void *Dn = D[l & 1];
            /* layer 0 feature-major: D0^T (u x B) from layer 1, read as such */
            int t_d = q->t0 && l == 0, t_in = q->t0 && l == 1;
            if (ew && t_d)
                f32 ? floor_bias_t_f(B, u, Dl, (float *)q->db, (float *)q->bias, 1e-30f)
                    : floor_bias_t_d(B, u, Dl, (double *)q->db, (double *)q->bias, 1e-30);
            else if (ew)
                f32 ? floor_bias_f(B, u, Dl, (float *)q->db, (float *)q->bias, 1e-30f)
                    : floor_bias_d(B, u, Dl, (double *)q->db, (double *)q->bias, 1e-30);
            if (l > 0) { /* Dn (B x k) = Dl (B x u) W (u x k), or its transpose */
                if (t_in)
                    floor_gemm(f32, 1, 1, k, B, u, W[l], Dl, Dn);
                else
                    floor_gemm(f32, 0, 0, B, k, u, Dl, W[l], Dn);
                if (ew)
                    f32 ? floor_mask_f(B * k, Dn, Z[l - 1]) : floor_mask_d(B * k, Dn, Z[l - 1]);
            }
            /* the weight step from Dl^T A, in libann's order: D0^T is read
             * as stored, A0^T transposed back */
            int ta = !t_d, tb = t_in;
            if (way == FLOOR_SGD) /* W += a Dl^T A */
                floor_gemm_ab(f32, ta, tb, u, k, B, a, Dl, l ? Z[l - 1] : Xb, 1, W[l]);
            else /* lr: small enough that W stays as filled */
                tp += floor_mom_step(f32, way, ta, tb, u, k, B, Dl, l ? Z[l - 1] : Xb, W[l],
                                     V[l], 1e-30, 0.9);
            Dl = Dn;
        }
    }
    double t = bench_now() - t0;
    if (gather_s)
        *gather_s = tg;
    if (pass_s)
        *pass_s = tp;
    return t;
}

/* Seconds per epoch of the sequence, the way given: the median of nep
 * (<= 15) epochs after one warm-up epoch, with the gather's and the
 * passes' shares (medians). */
static inline double floor_seq_epoch_way(int f32, const void *Xc, size_t rows, size_t Bt,
                                         int nep, int way, int ew, double *gather_s,
                                         double *pass_s)
{
    floor_seq q;
    floor_seq_init(&q, f32, Xc, rows, Bt, ew);
    double t[15], g[15], ps[15];
    if (nep > 15)
        nep = 15;
    floor_seq_run(&q, way, NULL, NULL);
    for (int e = 0; e < nep; e++)
        t[e] = floor_seq_run(&q, way, &g[e], &ps[e]);
    floor_seq_free(&q);
    *gather_s = bench_median(g, (size_t)nep);
    if (pass_s)
        *pass_s = bench_median(ps, (size_t)nep);
    return bench_median(t, (size_t)nep);
}

static inline double floor_seq_epoch(int f32, const void *Xc, size_t rows, size_t Bt, int nep,
                                     double *gather_s)
{
    return floor_seq_epoch_way(f32, Xc, rows, Bt, nep, FLOOR_SGD, 0, gather_s, NULL);
}

#endif
