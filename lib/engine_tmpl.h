/* engine_tmpl.h - forward, backward and update kernels, written once and
 * instantiated for double and float by engine.c (FFTW's trick: one source,
 * a precision macro).  Expects T, SFX(name), GEMM, GEMV, EXP, LOG1P, TANH,
 * SQRT, UT (T's bits as an unsigned integer), DT (T's ann_dtype), MAX_BITS
 * (the largest finite T's bits) and the rest engine.c defines.  No include
 * guard on purpose. */

/* Products of at most this many multiply-adds are done in plain loops:
 * below it, a BLAS call's fixed overhead (argument checks, dispatch,
 * threading decision, packing) costs more than the arithmetic.  Measured
 * (bench/, and a direct-vs-BLAS sweep of the shapes 1..128 x 1..64 x
 * 4..128): the loops win up to a few thousand multiply-adds, OpenBLAS
 * beyond (at 128 x 10 x 128 it is 1.3-3x faster than the best loop). */
/* (ANN__DIRECT_MAX: ann_internal.h) */

/* x . w with eight partial sums, combined in a fixed order: vectorises
 * without reassociation (the compiler may not reorder one running sum),
 * and every instruction-set build adds in the same order. */
static inline T SFX(dot)(const T *restrict x, const T *restrict w, size_t n)
{
    T t = 0;
    size_t n8 = n & ~(size_t)7;
    if (!n8) { /* the same sums as the tail below, without the setup */
        for (size_t k = 0; k < n; k++)
            t += x[k] * w[k];
        return t;
    }
    {
        T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t k = 0; k < n8; k += 8)
            for (size_t q = 0; q < 8; q++)
                s[q] += x[k + q] * w[k + q];
        t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    }
    for (size_t k = n8; k < n; k++)
        t += x[k] * w[k];
    return t;
}

/* Run STMT with the size_t constant F equal to fan: a copy per fan below
 * 8 (the inner loops over F then unroll completely: the tiny nets' rows
 * are 1-7 long, where a counted loop costs more than its arithmetic),
 * the general loop otherwise.  Only the code changes, never the order of
 * the operations: the bits are the same in every case. */
#ifndef ANN__FAN_SWITCH
#define ANN__FAN_SWITCH(fan, ...)                                            \
    switch (fan) {                                                           \
    case 1: { const size_t F = 1; __VA_ARGS__; } break;                      \
    case 2: { const size_t F = 2; __VA_ARGS__; } break;                      \
    case 3: { const size_t F = 3; __VA_ARGS__; } break;                      \
    case 4: { const size_t F = 4; __VA_ARGS__; } break;                      \
    case 5: { const size_t F = 5; __VA_ARGS__; } break;                      \
    case 6: { const size_t F = 6; __VA_ARGS__; } break;                      \
    case 7: { const size_t F = 7; __VA_ARGS__; } break;                      \
    default: { const size_t F = fan; __VA_ARGS__; } break;                   \
    }
#endif

/* Z (B x u) = X (B x fan) * W^T + b (each row),  W is u x fan.  For the
 * BLAS paths Z starts as the bias rows and the product is accumulated onto
 * it (beta = 1): OpenBLAS then skips its own pass zeroing Z, and no
 * separate pass adds the bias. */
static void SFX(mm_xwt)(size_t B, size_t u, size_t fan, const T *restrict X,
                        const T *restrict W, const T *restrict b, T *restrict Z)
{
    if (B * u * fan <= ANN__DIRECT_MAX) {
        if (fan < 8) {
            /* dot's short-row sums (t = 0, then k = 0, 1, ...), unrolled */
            ANN__FAN_SWITCH(fan, for (size_t r = 0; r < B; r++) {
                const T *x = X + r * F;
                for (size_t j = 0; j < u; j++) {
                    const T *w = W + j * F;
                    T t = 0;
                    for (size_t k = 0; k < F; k++)
                        t += x[k] * w[k];
                    Z[r * u + j] = t + b[j];
                }
            })
            return;
        }
        for (size_t r = 0; r < B; r++)
            for (size_t j = 0; j < u; j++)
                Z[r * u + j] = SFX(dot)(X + r * fan, W + j * fan, fan) + b[j];
        return;
    }
    for (size_t r = 0; r < B; r++)
        memcpy(Z + r * u, b, u * sizeof(T));
    if (B == 1)
        GEMV(0, u, fan, 1, W, fan, X, 1, Z);
    else
        GEMM(0, 1, B, u, fan, 1, X, fan, W, fan, 1, Z, u);
}

/* dW (u x fan) = D^T (u x B) * A (B x fan).  With beta = 1 the product
 * is accumulated onto dW, which the caller guarantees holds zeros (the
 * fused update clears the gradient as it consumes it): OpenBLAS then
 * skips its own zeroing pass, and the result is the same. */
static void SFX(mm_dta)(size_t B, size_t u, size_t fan, const T *restrict D,
                        const T *restrict A, T beta, T *restrict dW)
{
    if (B == 1 || B * u * fan <= ANN__DIRECT_MAX) {
        /* An outer product per row: a GER without BLAS's call overhead. */
        ANN__FAN_SWITCH(fan, {
            for (size_t j = 0; j < u; j++) {
                T *g = dW + j * F;
                const T d0 = D[j];
                for (size_t k = 0; k < F; k++)
                    g[k] = d0 * A[k];
            }
            for (size_t r = 1; r < B; r++) {
                const T *a = A + r * F;
                for (size_t j = 0; j < u; j++) {
                    T *g = dW + j * F;
                    const T d = D[r * u + j];
                    for (size_t k = 0; k < F; k++)
                        g[k] += d * a[k];
                }
            }
        })
    } else {
        GEMM(1, 0, u, fan, B, 1, D, u, A, fan, beta, dW, fan);
    }
}

/* P (B x fan) = D (B x u) * W (u x fan). */
static void SFX(mm_dw)(size_t B, size_t u, size_t fan, const T *restrict D,
                       const T *restrict W, T *restrict P)
{
    if (B * u * fan <= ANN__DIRECT_MAX) {
        ANN__FAN_SWITCH(fan, for (size_t r = 0; r < B; r++) {
            T *p = P + r * F;
            const T *d = D + r * u;
            for (size_t k = 0; k < F; k++)
                p[k] = d[0] * W[k];
            for (size_t j = 1; j < u; j++) {
                const T *w = W + j * F;
                const T dj = d[j];
                for (size_t k = 0; k < F; k++)
                    p[k] += dj * w[k];
            }
        })
    } else if (B == 1) {
        GEMV(1, u, fan, 1, W, fan, D, 0, P);
    } else {
        GEMM(0, 0, B, fan, u, 1, D, u, W, fan, 0, P, fan);
    }
}

/* exp for the activations, branch-free so that the loops over a layer
 * vectorise (libm's exp and tanh are calls, one element at a time, and on
 * the tiny nets they were 40% of a training step).  Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2/2; e^r - 1 by its Taylor series to the
 * precision's last bit (degree 12 for double, 7 for float); 2^n assembled
 * in the exponent bits.  exp_core gives 2^n and e^r - 1; exp_v and expm1_v
 * combine them so that e^x keeps its relative precision for negative x
 * and e^x - 1 near 0 (which tanh needs).  Below EXP_LO e^x is exactly 0;
 * above EXP_HI the input is clamped (the callers never need more). */
static inline T SFX(exp_core)(T x, T *scale)
{
    const T l2e = (T)1.4426950408889634, shifter = (T)EXP_SHIFTER;
    const T ln2hi = (T)LN2_HI, ln2lo = (T)LN2_LO;
    T xc = x > (T)EXP_HI ? (T)EXP_HI : x;
    xc = xc < (T)EXP_LO ? (T)EXP_LO : xc;
    T t = xc * l2e + shifter;
    T n = t - shifter;
    T r = (xc - n * ln2hi) - n * ln2lo;
    /* e^r - 1 = r + r^2 P(r), P's coefficients 1/k!, k = 2..12 (double)
     * or 2..7 (float), evaluated by Estrin's scheme: pairs, then powers
     * r^2, r^4, r^8 - a dependency chain of about 8 operations instead of
     * Horner's 20, which is what a per-sample step waits on. */
    const T r2 = r * r, r4 = r2 * r2;
    const T q0 = (T)(1.0 / 2) + (T)(1.0 / 6) * r, q1 = (T)(1.0 / 24) + (T)(1.0 / 120) * r;
    const T q2 = (T)(1.0 / 720) + (T)(1.0 / 5040) * r;
    T p;
    if (sizeof(T) == sizeof(double)) {
        const T r8 = r4 * r4;
        T q3 = (T)(1.0 / 40320) + (T)(1.0 / 362880) * r;
        T q4 = (T)(1.0 / 3628800) + (T)(1.0 / 39916800) * r;
        T s0 = q0 + q1 * r2, s1 = q2 + q3 * r2, s2 = q4 + (T)(1.0 / 479001600) * r2;
        p = (s0 + s1 * r4) + s2 * r8;
    } else {
        p = (q0 + q1 * r2) + q2 * r4;
    }
    p = r2 * p + r; /* e^r - 1 */
    UT ti, si;
    memcpy(&ti, &t, sizeof t);
    /* the low bits of t hold n (two's complement); 2^n = (n + bias) << m */
    si = (ti - (UT)EXP_SHIFTER_BITS + (UT)EXP_BIAS) << EXP_MANT;
    memcpy(scale, &si, sizeof si);
    return p;
}

static inline T SFX(exp_v)(T x)
{
    T sc, p = SFX(exp_core)(x, &sc);
    return (sc + sc * p) * (x < (T)EXP_LO ? (T)0 : (T)1);
}

static inline T SFX(expm1_v)(T x) /* for x >= 0 */
{
    T sc, p = SFX(exp_core)(x, &sc);
    return sc * p + (sc - (T)1); /* 2^n (e^r - 1) + (2^n - 1) */
}

static inline T SFX(sigmoid)(T v)
{
    /* e^-|v| never overflows: finite for any finite v. */
    T e = SFX(exp_v)(-FABS(v));
    T s = (T)1 / ((T)1 + e);
    /* Selects pick between plain values and the arithmetic stays outside
     * them: code sinking would otherwise move a (possibly trapping)
     * multiply into a branch and keep the loop scalar. */
    return s * (v >= 0 ? (T)1 : e);
}

static inline T SFX(tanh_v)(T v)
{
    /* tanh|v| = em / (em + 2), em = e^(2|v|) - 1; beyond TANH_SAT it is 1
     * to the last bit. */
    T a = FABS(v);
    a = a > (T)TANH_SAT ? (T)TANH_SAT : a;
    T em = SFX(expm1_v)(a + a);
    return COPYSIGN(em / (em + (T)2), v);
}

/* Apply the activation to a B x u block in place; when zc is non-NULL
 * also keep the pre-activation values there (the output layer needs them
 * for a stable cross-entropy). */
static void SFX(act)(ann_activation act, T slope, size_t B, size_t u, T *restrict Z,
                     T *restrict zc)
{
    size_t n = B * u;
    if (zc)
        memcpy(zc, Z, n * sizeof(T));
    switch (act) {
    case ANN_ACT_IDENTITY:
        break;
    case ANN_ACT_STEP:
        for (size_t i = 0; i < n; i++)
            Z[i] = Z[i] > 0 ? (T)1 : (T)0;
        break;
    case ANN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            Z[i] = SFX(sigmoid)(Z[i]);
        break;
    case ANN_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            Z[i] = SFX(tanh_v)(Z[i]);
        break;
    case ANN_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            Z[i] = Z[i] > 0 ? Z[i] : (T)0;
        break;
    case ANN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
        {
            T z = Z[i];
            Z[i] = z * (z > 0 ? (T)1 : slope);
        }
        break;
    case ANN_ACT_SOFTMAX:
        for (size_t r = 0; r < B; r++) {
            T *z = Z + r * u;
            T mx = z[0];
            for (size_t j = 1; j < u; j++)
                mx = z[j] > mx ? z[j] : mx;
            T s = 0;
            for (size_t j = 0; j < u; j++) {
                /* z - mx <= 0; with |z| up to 1e300 the difference stays
                 * finite in double (and rounds to -inf harmlessly in float). */
                z[j] = SFX(exp_v)(z[j] - mx);
            }
            for (size_t j = 0; j < u; j++)
                s += z[j];
            T inv = (T)1 / s;
            for (size_t j = 0; j < u; j++)
                z[j] *= inv;
        }
        break;
    }
}

/* D *= f'(.) expressed through the activation's output A (every activation
 * here allows it, which saves keeping Z for hidden layers). */
static void SFX(mul_deriv)(ann_activation act, T slope, size_t n,
                           const T *restrict A, T *restrict D)
{
    switch (act) {
    case ANN_ACT_IDENTITY:
    case ANN_ACT_STEP: /* straight-through: derivative taken as 1 */
    case ANN_ACT_SOFTMAX: /* never hidden; output handled separately */
        break;
    case ANN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            D[i] *= A[i] * ((T)1 - A[i]);
        break;
    case ANN_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            D[i] *= (T)1 - A[i] * A[i];
        break;
    case ANN_ACT_RELU:
        for (size_t i = 0; i < n; i++)
        {
            T d = D[i];
            D[i] = A[i] > 0 ? d : (T)0;
        }
        break;
    case ANN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++)
        {
            T d = D[i];
            D[i] = d * (A[i] > 0 ? (T)1 : slope);
        }
        break;
    }
}

/* mul_deriv on a B x u block, row by row, and the column sums of the
 * result into db (db[j] = D[0][j] + D[1][j] + ..., in row order: the bits
 * of a separate pass), each row summed while it is in L1: the layer's
 * bias gradient without another pass over D (about 2 ms of a float32
 * Fashion-MNIST epoch). */
static void SFX(mul_deriv_sum)(ann_activation act, T slope, size_t B, size_t u,
                               const T *restrict A, T *restrict D, T *restrict db)
{
    for (size_t r = 0; r < B; r++) {
        T *d = D + r * u;
        SFX(mul_deriv)(act, slope, u, A + r * u, d);
        if (r == 0)
            for (size_t j = 0; j < u; j++)
                db[j] = d[j];
        else
            for (size_t j = 0; j < u; j++)
                db[j] += d[j];
    }
}

/* Range checks on the bits of T, with no floating-point operation (so no
 * trap): |x| as an integer orders like |x|, and Inf and NaN lie above
 * every finite value.  (b & ~sign) + (sign - lim - 1) carries into the
 * sign bit exactly when b's magnitude exceeds lim, so OR-ing those sums
 * and testing the sign bit checks a block with an AND, an ADD and an OR
 * per vector and a dependency chain of one OR.  What this replaced OR-ed
 * one compare per element (five operations per vector; a 64-bit max
 * reduction is a compare-and-blend chain): a shuffled 128-row gather that
 * checks its rows took 72 us for floats and 157 us for doubles against 57
 * and 108 us now (a copy alone: 51 and 113 us).  over returns non-zero if
 * an element of src[0..n) exceeds lim; copy_over also stores src to dst
 * (as bits). */
#define ANN__SIGN ((UT)1 << (8 * sizeof(UT) - 1))
static inline int SFX(over)(const void *src, size_t n, UT lim)
{
    const unsigned char *p = src;
    const UT add = ANN__SIGN - lim - 1;
    UT acc = 0;
    for (size_t i = 0; i < n; i++) {
        UT b;
        memcpy(&b, p + sizeof b * i, sizeof b);
        acc |= (b & (ANN__SIGN - 1)) + add;
    }
    return (acc & ANN__SIGN) != 0;
}

static inline int SFX(copy_over)(void *restrict dst, const void *restrict src, size_t n,
                                 UT lim)
{
    const unsigned char *p = src;
    unsigned char *d = dst;
    const UT add = ANN__SIGN - lim - 1;
    UT acc = 0;
    for (size_t i = 0; i < n; i++) {
        UT b;
        memcpy(&b, p + sizeof b * i, sizeof b);
        memcpy(d + sizeof b * i, &b, sizeof b);
        acc |= (b & (ANN__SIGN - 1)) + add;
    }
    return (acc & ANN__SIGN) != 0;
}
#undef ANN__SIGN

/* Copy `cols` elements of one view row into a T row.  With chk, check the
 * row (non-zero if an element is not finite or, for float, beyond its
 * range).  A row that must be converted is checked first (nothing is
 * converted then; the row is in L1 for the copy).  A separate loop
 * before a branch, not a select inside the copy: the optimizer may
 * speculate arithmetic past a select (no-trapping-math), and converting
 * an out-of-range value would raise an FP exception. */
static inline int SFX(load_row)(const ann__view *v, size_t row, T *restrict dst, int chk)
{
    size_t n = v->cols;
    ptrdiff_t cs = v->cs;
    uint64_t lim = sizeof(T) == sizeof(float) ? 0x47EFFFFFE0000000u : 0x7FEFFFFFFFFFFFFFu;
    if (chk && cs == 1 && v->dtype == DT) {
        /* Already T: nothing is converted, so the row is copied and
         * checked in one pass, as bits. */
        return SFX(copy_over)(dst, (const T *)v->data + (ptrdiff_t)row * v->rs, n, MAX_BITS);
    }
    if (v->dtype == ANN_DTYPE_F64) {
        const double *p = (const double *)v->data + (ptrdiff_t)row * v->rs;
        if (chk) {
            int bad;
            if (cs == 1) {
                bad = over_d(p, n, lim);
            } else {
                uint64_t acc = 0;
                for (size_t j = 0; j < n; j++) {
                    uint64_t b;
                    memcpy(&b, p + (ptrdiff_t)j * cs, sizeof b);
                    acc |= (b & 0x7FFFFFFFFFFFFFFFu) > lim;
                }
                bad = acc != 0;
            }
            if (bad)
                return 1;
        }
        if (cs == 1)
            for (size_t j = 0; j < n; j++) dst[j] = (T)p[j];
        else
            for (size_t j = 0; j < n; j++) dst[j] = (T)p[(ptrdiff_t)j * cs];
    } else {
        const float *p = (const float *)v->data + (ptrdiff_t)row * v->rs;
        if (chk) {
            int bad;
            if (cs == 1) {
                bad = over_f(p, n, 0x7F7FFFFFu);
            } else {
                uint32_t acc = 0;
                for (size_t j = 0; j < n; j++) {
                    uint32_t b;
                    memcpy(&b, p + (ptrdiff_t)j * cs, sizeof b);
                    acc |= (b & 0x7FFFFFFFu) > 0x7F7FFFFFu;
                }
                bad = acc != 0;
            }
            if (bad)
                return 1;
        }
        if (cs == 1)
            for (size_t j = 0; j < n; j++) dst[j] = (T)p[j];
        else
            for (size_t j = 0; j < n; j++) dst[j] = (T)p[(ptrdiff_t)j * cs];
    }
    return 0;
}

/* A view that is already a row-major matrix of T: used in place. */
static inline int SFX(is_native)(const ann__view *v)
{
    return v->dtype == DT && v->cs == 1 && v->rs == (ptrdiff_t)v->cols;
}

/* Apply the fitted input transform to count gathered rows of x (in place
 * for standardisation; whitening writes ws->xt).  Returns the rows. */
static const T *SFX(prep_apply)(const ann *m, ann__ws *ws, T *restrict x, size_t count)
{
    size_t n = m->n_inputs;
    const double *mean = m->prep.mean, *mat = m->prep.mat;
    if (m->prep.mode == ANN_PREPROCESS_STANDARDIZE) {
        for (size_t r = 0; r < count; r++)
            for (size_t j = 0; j < n; j++)
                x[r * n + j] = (T)(((double)x[r * n + j] - mean[j]) * mat[j]);
        return x;
    }
    T *restrict xt = ws->xt;
    for (size_t r = 0; r < count; r++)
        for (size_t j = 0; j < n; j++)
            x[r * n + j] = (T)((double)x[r * n + j] - mean[j]);
    if (sizeof(T) == sizeof(double) && count * n * n > ANN__DIRECT_MAX) {
        /* x' = xc W^T: one GEMM per batch. */
        ann__dgemm(0, 1, count, n, n, 1.0, (const double *)(const void *)x, n, mat, n,
                   0.0, (double *)(void *)xt, n);
    } else {
        for (size_t r = 0; r < count; r++)
            for (size_t i = 0; i < n; i++) {
                double s = 0;
                for (size_t j = 0; j < n; j++)
                    s += mat[i * n + j] * (double)x[r * n + j];
                xt[r * n + i] = (T)s;
            }
    }
    return xt;
}

/* gather's rows [lo, hi) of the batch (an ann__helper_run range). */
typedef struct SFX(gctx) {
    const ann__batch_src *src;
    size_t start, count;
    T *x, *y;
    size_t n_out;
    int direct_x, direct_y, check_x;
} SFX(gctx);

static int SFX(gather_rows)(void *ctx, size_t lo, size_t hi)
{
    const SFX(gctx) *c = ctx;
    const ann__batch_src *src = c->src;
    size_t start = c->start, count = c->count, n_out = c->n_out;
    T *x = c->x, *y = c->y;
    int direct_x = c->direct_x, direct_y = c->direct_y, check_x = c->check_x;
    /* Shuffled rows are scattered over the caller's data, each one a cold
     * start for the hardware prefetcher: ask for the first four lines of
     * the row ANN__GATHER_AHEAD on (ANN__PREFETCH_ROW: 256 bytes) while
     * this one is copied, so that those fetches overlap.  A 128-row
     * gather from 60000 rows: 784 floats
     * 88 -> 56 us, 784 doubles 141 -> 106 us (two lines: 57 and 118 us;
     * whole rows two ahead: 136 us for doubles). */
    for (size_t r = lo; r < hi; r++) {
        size_t row = src->idx ? src->idx[start + r] : start + r;
        if (src->idx && !direct_x && r + ANN__GATHER_AHEAD < count)
            ANN__PREFETCH_ROW(src->X, src->idx[start + r + ANN__GATHER_AHEAD]);
        if (!direct_x && SFX(load_row)(src->X, row, x + r * src->X->cols, check_x))
            return 1;
        if (src->Y && !direct_y)
            SFX(load_row)(src->Y, row, y + r * n_out, 0);
        if (src->labels) {
            int32_t lab = src->labels[row];
            if (n_out == 1) {
                y[r] = (T)lab;
            } else {
                for (size_t k = 0; k < n_out; k++)
                    y[r * n_out + k] = 0;
                y[r * n_out + (size_t)lab] = 1;
            }
        }
    }
    return 0;
}

/* gather's work after the rows are in place: target scaling, the input
 * transform. */
static int SFX(gather_tail)(const ann *m, ann__ws *ws, const ann__batch_src *src,
                            size_t start, size_t count, int direct_y, const void **xp,
                            const void **yp)
{
    size_t n_out = m->units[m->n_layers - 1];
    T *x = ws->x, *y = ws->y;
    if (src->scale_y && m->tgt && src->Y) {
        const double *mu = m->tgt, *sd = m->tgt + n_out;
        if (direct_y) {
            for (size_t r = 0; r < count; r++)
                SFX(load_row)(src->Y, (src->idx ? src->idx[start + r] : start + r),
                              y + r * n_out, 0);
            *yp = y;
        }
        for (size_t r = 0; r < count; r++)
            for (size_t k = 0; k < n_out; k++)
                y[r * n_out + k] = (T)(((double)y[r * n_out + k] - mu[k]) / sd[k]);
    }
    if (m->prep.mode)
        *xp = SFX(prep_apply)(m, ws, x, count);
    return 0;
}

static int SFX(gather)(const ann *m, ann__ws *ws, const ann__batch_src *src,
                       size_t start, size_t count, const void **xp,
                       const void **yp)
{
    size_t n_out = m->units[m->n_layers - 1];
    T *x = ws->x, *y = ws->y;
    /* Consecutive rows already in the model's type and layout are used in
     * place: no copy at all (unless a transform must be applied).  So is a
     * single row (per-sample SGD) in the model's type with unit column
     * stride, wherever the index puts it. */
    size_t row0 = src->idx ? src->idx[start] : start;
#define ANN__IN_PLACE(v) (count == 1 ? (v)->dtype == DT && (v)->cs == 1 \
                                     : !src->idx && SFX(is_native)(v))
    int direct_x = ANN__IN_PLACE(src->X) && !m->prep.mode;
    int direct_y = src->Y && ANN__IN_PLACE(src->Y);
#undef ANN__IN_PLACE
    const T *x0 = (const T *)src->X->data + (ptrdiff_t)row0 * src->X->rs;
    *xp = direct_x ? (const void *)x0 : (const void *)x;
    *yp = direct_y ? (const void *)((const T *)src->Y->data + (ptrdiff_t)row0 * src->Y->rs)
                   : (const void *)y;
    /* Rows of T (no conversion, no transform after), used in place or
     * copied as they are: a check on the copy's pass made a shuffled
     * float32 Fashion-MNIST epoch's gather 25-27% slower (31-34 ms against
     * 25-27; the copy is then an element loop whose loads hold up the next
     * rows' fetches instead of one rep movsb).  (Rows used in place are
     * always such rows.) */
    int native = src->X->dtype == DT && src->X->cs == 1 && !m->prep.mode;
    ws->x_deferred = native && src->check_x && src->defer_x;
    if (direct_x && src->check_x && !src->defer_x) {
        ann__view rows = *src->X;
        rows.rows = count;
        rows.data = x0;
        if (k_scan(&rows, sizeof(T) == sizeof(float)))
            return 1;
    }
    SFX(gctx) c = {src, start, count, x, y, n_out, direct_x, direct_y,
                   src->check_x && !ws->x_deferred};
    /* A batch of 64 KiB or more of rows to copy: split with the fit's
     * helper thread, 8 rows a chunk (a 128-row float64 Fashion-MNIST
     * gather: 106 -> 56 us on two cores). */
    size_t bytes = direct_x ? 0 : count * src->X->cols * sizeof(T);
    int bad = ws->helper && bytes >= ANN__HELPER_GATHER_MIN
                  ? ann__helper_run(ws->helper, SFX(gather_rows), &c, count, 8)
                  : SFX(gather_rows)(&c, 0, count);
    if (bad)
        return 1; /* nothing more is computed on bad rows */
    return SFX(gather_tail)(m, ws, src, start, count, direct_y, xp, yp);
}

static void SFX(unscale_out)(const ann *m, ann__ws *ws, size_t B)
{
    size_t n_out = m->units[m->n_layers - 1];
    T *o = ws->a[m->n_layers - 1];
    const double *mu = m->tgt, *sd = m->tgt + n_out;
    for (size_t r = 0; r < B; r++)
        for (size_t k = 0; k < n_out; k++)
            o[r * n_out + k] = (T)((double)o[r * n_out + k] * sd[k] + mu[k]);
}

/* Layer 0 in feature-major order (ann__ws.t0): its pre-activations as
 * Z0^T = W0 X^T (u0 x B), so that OpenBLAS packs X, not W0, as the
 * product's first operand.  With OpenBLAS 0.3.21's SkylakeX kernels on
 * one thread that product is 5-11% faster in float32 at the
 * Fashion-MNIST shape (128 x 256 x 784: 350-378 us against 386-406, hot;
 * 22 us a step in place), and the products that meet the transposed
 * buffers (layer 1's forward and input gradient, layer 0's weight
 * gradient) cost the same.  A float32 epoch of 784-256-128-10 (1-epoch
 * fits alternating in one process, medians) took 12-14 ms less with SGD
 * at batch 128, 21 with momentum, 13 with Adam; 70 ms less at batch 32,
 * 24 at 64, and 8 ms more at 256.  In float64, or on two threads, the
 * same order was 0-18% slower for that product (an SGD epoch at two
 * threads, forced: 12 ms more), and at batch 512, or with 64 units at
 * batch 128, the four products were no faster (bench sweep over batch
 * 32-512, 64-1024 units, 64-2048 inputs), hence the rule.  Every product
 * computes the same sums in the same order either way (OpenBLAS's
 * SkylakeX GEMM kernels accumulate each element along k alone): the
 * weights are the same bits (tests/test_t0.c compares whole fits). */
static int SFX(t0_use)(const ann *m, const ann__ws *ws, size_t B)
{
    if (sizeof(T) != sizeof(float) || !ws->t0_ok || ann__t0_mode == 1 || m->n_layers < 2 ||
        B < 2 || m->acts[0] == ANN_ACT_SOFTMAX)
        return 0;
    size_t u0 = m->units[0], f0 = m->fan_in[0], u1 = m->units[1];
    /* Both first layers' products (B x u0 x f0, B x u1 x u0 and their
     * transposes) beyond 100^3 multiply-adds: OpenBLAS's small-matrix
     * kernels, which it uses up to there on SkylakeX and which sum in
     * another order for each transpose, are then never involved. */
    if ((double)B * (double)u0 * (double)f0 <= 1e6 || (double)B * (double)u1 * (double)u0 <= 1e6)
        return 0;
    if (ann__t0_mode == 2)
        return 1;
    return B <= 128 && (B <= 32 || u0 >= 256) && ann__blas_threads() == 1 &&
           ann__blas_t0_kernels();
}

/* mul_deriv on D (n x B, feature-major) and the sums of its rows into db
 * (db[j] = D[j][0] + D[j][1] + ... + D[j][B-1], in that order: the bits
 * of mul_deriv_sum's sums over the same deltas in row-major order).
 * Float rows 8 at a time, each block summed by rowsum8_f (engine.c)
 * right after mul_deriv while it is in L1; the rest 16 rows at a time so
 * that their additions overlap.  This replaced a mul_deriv pass over all
 * of D followed by the 16-row sums.  Float32 Fashion-MNIST, one thread
 * (layer 0: 256 x 128): the sums alone 2.6 us a step against 5.6, hot
 * (1.4 ms an epoch); 40 paired 1-epoch SGD fits took 2.3 ms less (median
 * of the differences; runs of 12 pairs scattered -4.5..+4.6 ms), with
 * the same weights to the bit. */
static void SFX(mul_deriv_rows)(ann_activation act, T slope, size_t n, size_t B,
                                const T *restrict A, T *restrict D, T *restrict db)
{
    size_t j0 = 0;
    if (sizeof(T) == sizeof(float))
        for (; j0 + 8 <= n; j0 += 8) {
            SFX(mul_deriv)(act, slope, 8 * B, A + j0 * B, D + j0 * B);
            rowsum8_f((const float *)(const void *)(D + j0 * B), B,
                      (float *)(void *)(db + j0));
        }
    if (j0 == n)
        return;
    SFX(mul_deriv)(act, slope, (n - j0) * B, A + j0 * B, D + j0 * B);
    for (; j0 < n; j0 += 16) {
        size_t nj = n - j0 < 16 ? n - j0 : 16;
        const T *d = D + j0 * B;
        T acc[16];
        for (size_t j = 0; j < nj; j++)
            acc[j] = d[j * B];
        for (size_t r = 1; r < B; r++)
            for (size_t j = 0; j < nj; j++)
                acc[j] += d[j * B + r];
        for (size_t j = 0; j < nj; j++)
            db[j0 + j] = acc[j];
    }
}

static const T *SFX(forward)(const ann *m, ann__ws *ws, const T *x, size_t B)
{
    const T *params = m->params;
    const T *in = x;
    T slope = (T)m->s.leaky_slope;
    ws->t0 = SFX(t0_use)(m, ws, B);
    for (size_t l = 0; l < m->n_layers; l++) {
        size_t u = m->units[l], fan = m->fan_in[l];
        T *out = ws->a[l];
        const T *W = params + m->w_off[l], *bl = params + m->b_off[l];
        int t_out = ws->t0 && l == 0, t_in = ws->t0 && l == 1;
        ann__view z = {DT, B, u, (ptrdiff_t)u, 1, out};
        if (t_out) {
            /* Z0^T = W0 X^T + b (each column), onto the bias as mm_xwt */
            for (size_t j = 0; j < u; j++)
                for (size_t r = 0; r < B; r++)
                    out[j * B + r] = bl[j];
            GEMM(0, 1, u, B, fan, 1, W, fan, in, fan, 1, out, B);
            z.rows = u;
            z.cols = B;
            z.rs = (ptrdiff_t)B;
        } else if (t_in) {
            /* Z1 = (A0^T)^T W1^T + b */
            for (size_t r = 0; r < B; r++)
                memcpy(out + r * u, bl, u * sizeof(T));
            GEMM(1, 1, B, u, fan, 1, in, B, W, fan, 1, out, u);
        } else {
            SFX(mm_xwt)(B, u, fan, in, W, bl, out);
        }
        if (ws->w_pending == 1 && u * fan > ANN__DIRECT_MAX && B > 0) {
            /* see ann__ws.w_pending: one row shows any non-finite weight
             * (layer 0 in feature-major order: one column) */
            ann__view z0 = {DT, 1, u, (ptrdiff_t)u, 1, out};
            if (t_out) {
                z0.rows = u;
                z0.cols = 1;
                z0.rs = (ptrdiff_t)B;
            }
            if (k_scan(&z0, 0))
                ws->w_pending = 2;
        }
        if (l == 0 && ws->x_deferred) /* see ann__gather */
            ws->x_deferred = k_scan(&z, 0) ? 2 : 0;
        /* the output's pre-activations: only cross-entropy's loss reads them */
        SFX(act)(m->acts[l], slope, B, u, out,
                 l + 1 == m->n_layers && m->s.loss == ANN_LOSS_CROSS_ENTROPY
                     ? (T *)ws->z_out : NULL);
        in = out;
    }
    return ws->a[m->n_layers - 1];
}

/* One row of doubles through a small network (ann__small_net: every
 * product is a direct loop, every width <= ANN__SMALL_W) with its buffers
 * on the stack: no work-buffer layout, no BLAS, no views.  The same loops
 * as forward at B = 1, hence the same bits.  Returns 1, writing nothing,
 * if the row holds a value that is not finite (or, for float, beyond its
 * range); the caller then takes the general path for the message. */
static int SFX(predict1)(const ann *m, const double *x, double *y)
{
    T in0[ANN__SMALL_W], buf[2][ANN__SMALL_W];
    size_t n = m->n_inputs, L = m->n_layers;
    uint64_t lim = sizeof(T) == sizeof(float) ? 0x47EFFFFFE0000000u : 0x7FEFFFFFFFFFFFFFu;
    uint64_t bad = 0;
    for (size_t j = 0; j < n; j++) {
        uint64_t b;
        memcpy(&b, x + j, sizeof b);
        bad |= (b & 0x7FFFFFFFFFFFFFFFu) > lim;
    }
    if (bad)
        return 1;
    /* Double models read x and write the last layer into y directly (with
     * two or more layers: x is then consumed before y is written, so a
     * caller may pass overlapping X and Y). */
    int dbl = sizeof(T) == sizeof(double) && L > 1;
    const T *in = dbl ? (const T *)(const void *)x : in0;
    if (!dbl)
        for (size_t j = 0; j < n; j++)
            in0[j] = (T)x[j];
    const T *params = m->params;
    T slope = (T)m->s.leaky_slope;
    for (size_t l = 0; l < L; l++) {
        T *out = dbl && l + 1 == L ? (T *)(void *)y : buf[l & 1];
        SFX(mm_xwt)(1, m->units[l], m->fan_in[l], in, params + m->w_off[l],
                    params + m->b_off[l], out);
        SFX(act)(m->acts[l], slope, 1, m->units[l], out, NULL);
        in = out;
    }
    if (!dbl)
        for (size_t k = 0; k < m->units[L - 1]; k++)
            y[k] = (double)in[k];
    return 0;
}

static double SFX(loss_sum)(const ann *m, const ann__ws *ws, const T *y, size_t B)
{
    size_t L = m->n_layers, n_out = m->units[L - 1];
    const T *yh = ws->a[L - 1];
    const T *z = ws->z_out;
    double total = 0;
    if (m->s.loss == ANN_LOSS_SQUARED_ERROR) {
        for (size_t i = 0; i < B * n_out; i++) {
            double d = (double)y[i] - (double)yh[i];
            total += 0.5 * d * d;
        }
    } else if (m->acts[L - 1] == ANN_ACT_SOFTMAX) {
        /* -sum y_k log softmax(z)_k = -sum y_k (z_k - lse), lse = mx +
         * log sum e^(z_k - mx): no log(0).  The sum is softmax's own: at
         * the row's largest z its exponential is exactly 1, so its output
         * there is 1/s, rounded once, and at least 1/n_out.  So lse = mx -
         * log(yh at that k): one log per row and no exponential (the
         * exponentials, a libm call per output, had been 10-12 us of each
         * 128-row Fashion-MNIST step, 1% of it).  Unless predict has
         * unscaled yh (target scaling, then the loss switched to
         * cross-entropy): then the sum is recomputed. */
        for (size_t r = 0; r < B; r++) {
            const T *zr = z + r * n_out;
            const T *yr = y + r * n_out;
            T mx = zr[0];
            size_t km = 0;
            for (size_t k = 1; k < n_out; k++)
                if (zr[k] > mx) {
                    mx = zr[k];
                    km = k;
                }
            double lse;
            if (!m->tgt) {
                lse = (double)mx - log((double)yh[r * n_out + km]);
            } else {
                double s = 0;
                for (size_t k = 0; k < n_out; k++)
                    s += exp((double)zr[k] - (double)mx);
                lse = (double)mx + log(s);
            }
            for (size_t k = 0; k < n_out; k++)
                if (yr[k] != 0)
                    total -= (double)yr[k] * ((double)zr[k] - lse);
        }
    } else {
        /* Binary cross-entropy from logits: max(z,0) - y z + log1p(e^-|z|). */
        for (size_t i = 0; i < B * n_out; i++) {
            double zi = z[i], yi = y[i];
            total += (zi > 0 ? zi : 0) - yi * zi + log1p(exp(-fabs(zi)));
        }
    }
    return total;
}

/* One optimizer step's constants (ANN__UPDATE_LOOP below applies them to
 * a range of parameters). */
typedef struct {
    T lr, mu, b1, b2, eps, step, isb2, c1, c2;
#ifdef ADAM_WIDE
    /* Adam's b1, b2 and step as doubles, and 1, for the wide path of
     * adam_range (read through volatile: the compiler must not know them
     * to be floats, or it would narrow the double products back to float
     * ones). */
    double b1w, b2w, stepw, onew;
#endif
} SFX(upd);

/* Count the step and compute its constants (Adam's bias corrections). */
static void SFX(update_begin)(ann *m, double lr_d, SFX(upd) *u)
{
    m->steps++;
    u->lr = (T)lr_d;
    u->mu = (T)m->s.momentum;
    if (m->s.optimizer == ANN_OPTIMIZER_ADAM) {
        double t = (double)m->steps;
        u->b1 = (T)m->s.beta1;
        u->b2 = (T)m->s.beta2;
        u->eps = (T)m->s.epsilon;
        /* In double, then rounded: more exact for float, and two double
         * lanes fill an SSE register - clang pairs these divisions, and
         * with float it padded the vector with 0/0 (a spurious FE_INVALID
         * under trapping). */
        u->step = (T)(lr_d / (1.0 - pow(m->s.beta1, t)));
        u->isb2 = (T)(1.0 / sqrt(1.0 - pow(m->s.beta2, t)));
        u->c1 = (T)1 - u->b1;
        u->c2 = (T)1 - u->b2;
#ifdef ADAM_WIDE
        /* Widened from floats read back through volatile: GCC 12.2 at
         * -O2 and -O3 turned (double)(float)beta1 back into beta1 when
         * its SLP vectoriser saw both conversions (-fno-tree-slp-vectorize
         * avoids it), which gave the wide path unrounded betas. */
        volatile T k[3] = {u->b1, u->b2, u->step};
        volatile double one = 1.0;
        u->b1w = k[0];
        u->b2w = k[1];
        u->stepw = k[2];
        u->onew = one;
#endif
    }
}

/* BODY updates element i; CHK is 0 for finite results (x*0 is +-0 for
 * finite x and NaN otherwise).  The check is an integer OR of its bits
 * without the sign: integer ORs may be reordered, so the check vectorises
 * with the update itself (a floating-point running sum is a serial chain
 * the compiler may not reorder, and kept the whole update scalar). */
#define ANN__UPDATE_ELEM(BODY, CHK)                                          \
    do {                                                                     \
        BODY;                                                                \
        T c_ = CHK;                                                          \
        UT b_;                                                               \
        memcpy(&b_, &c_, sizeof b_);                                         \
        bad |= b_;                                                           \
    } while (0)
#define ANN__UPDATE_LOOP1(BODY, CHK)                                         \
    do {                                                                     \
        for (size_t i = 0; i < n; i++)                                       \
            ANN__UPDATE_ELEM(BODY, CHK);                                     \
    } while (0)
/* zero_g: clear each gradient element once used (on the line just read),
 * for the next step's accumulating GEMM. */
#define ANN__UPDATE_LOOP(BODY, CHK)                                          \
    do {                                                                     \
        if (zero_g)                                                          \
            ANN__UPDATE_LOOP1((BODY, g[i] = 0), CHK);                        \
        else                                                                 \
            ANN__UPDATE_LOOP1(BODY, CHK);                                    \
    } while (0)

/* Adam's rule for element i with gradient GI (from b1, b2, c1, c2, eps,
 * step, isb2 and the moments mo, ve in scope), and its check. */
#define ANN__ADAM_BODY(GI)                                                   \
    (mo[i] = b1 * mo[i] + c1 * GI, ve[i] = b2 * ve[i] + c2 * GI * GI,        \
     w[i] -= step * mo[i] / (SQRT(ve[i]) * isb2 + eps))
#define ANN__ADAM_CHK (w[i] * 0 + ve[i] * 0)

/* The optimizer's rule for element i of [lo, ...) with gradient GI, run
 * by LOOP (which also ORs CHK's bits into `bad`). */
#define ANN__UPDATE_SWITCH(LOOP, GI)                                         \
    switch (m->s.optimizer) {                                                \
    case ANN_OPTIMIZER_MOMENTUM: {                                           \
        T *restrict v = (T *)m->opt_m + lo;                                  \
        T mu = u->mu;                                                        \
        if (m->s.nesterov)                                                   \
            LOOP((v[i] = mu * v[i] + GI, w[i] -= lr * (GI + mu * v[i])),     \
                 w[i] * 0 + v[i] * 0);                                       \
        else                                                                 \
            LOOP((v[i] = mu * v[i] + GI, w[i] -= lr * v[i]),                 \
                 w[i] * 0 + v[i] * 0);                                       \
        break;                                                               \
    }                                                                        \
    case ANN_OPTIMIZER_ADAM: {                                               \
        T *restrict mo = (T *)m->opt_m + lo, *restrict ve = (T *)m->opt_v + lo; \
        T b1 = u->b1, b2 = u->b2, eps = u->eps, step = u->step, isb2 = u->isb2; \
        T c1 = u->c1, c2 = u->c2;                                            \
        LOOP(ANN__ADAM_BODY(GI), ANN__ADAM_CHK);                             \
        break;                                                               \
    }                                                                        \
    default:                                                                 \
        LOOP((w[i] -= lr * GI), w[i] * 0);                                   \
    }

/* The OR of the updated values' check bits: 0 if every one was finite
 * (-0 is fine: the sign bit is dropped), else -1. */
static inline int SFX(update_status)(UT bad)
{
    bad &= ~((UT)1 << (sizeof(UT) * 8 - 1));
    return bad == 0 ? 0 : -1;
}

#ifdef ADAM_WIDE
/* Adam on float parameters, in blocks of ANN__ADAM_BLOCK.
 *
 * Adam's first moment decays by beta1 = 0.9 a step wherever the gradient
 * is 0 (an input pixel that is rarely on, a unit that rarely fires), into
 * the subnormal range, where rounding keeps it: 0.9 k rounds back to k
 * for k <= 5 ulps, so it stays subnormal until a gradient comes.  On x86
 * a multiplication or division with a subnormal operand or result takes
 * a microcode assist of about 100 cycles (a vector of 8 with one such
 * lane as well; additions and conversions take none).  A float32
 * Fashion-MNIST fit had 3% (layer 0) and 16% (layer 1) of its update
 * vectors hit by the second epoch, 12% and 56% by the eighth, and Adam's
 * update then cost 4.6 and 16.6 cycles a parameter instead of 1.4: 1.7 x
 * the epoch time of plain SGD.
 *
 * A block whose first or second moment holds a value below 2^-64 in
 * magnitude (not 0) computes the products, the square root and the
 * quotient that meet the moments in double, rounded to float after each.
 * The double operands are then far from double's subnormals, and
 * conversions and additions take no assist.  A product of two floats is
 * exact in double; a quotient or square root of floats rounded to double
 * and then to float is the correctly rounded float result (53 >= 2 x 24
 * + 2 bits: Figueroa's bound for innocuous double rounding; in the
 * subnormal range a float quotient's halfway points are hit exactly or
 * missed by at least 2^-175, beyond a double's error there).  So both
 * paths give the bits of plain IEEE float arithmetic, and the choice of
 * path is a matter of speed only (a path that meets a subnormal it did
 * not expect, such as a tiny gradient, is still exact, only slower).
 * tests/test_isa.c checks the bits.
 *
 * Double parameters get there too, later (a first moment of 1e-5 needs
 * ~6,600 zero-gradient steps, 14 Fashion-MNIST epochs; a 20-epoch float64
 * fit ran 12% slower than with subnormals flushed), but have no wider
 * type: an exact product and quotient on a subnormal's integer
 * significand (Dekker's product, ties broken by its error) was tried and
 * gave the same bits, at 1.38 s per epoch against the assists' 1.22, so
 * float64 keeps the plain loop. */
#define ANN__ADAM_BLOCK 64
/* The sign bit of the result is set when 0 < |x| < LIM (|x|'s bits less
 * LIM's go negative; less 1, they do not, unless x is 0). */
#define ANN__ADAM_TINY(x, LIM, f)                                            \
    do {                                                                     \
        UT b_;                                                               \
        T x_ = (x);                                                          \
        memcpy(&b_, &x_, sizeof b_);                                         \
        b_ &= ~((UT)1 << (sizeof(UT) * 8 - 1));                              \
        f |= (b_ - (UT)(LIM)) & ~(b_ - 1);                                   \
    } while (0)

/* One block's step: the plain rule, or with wide the operations that meet
 * the moments in double, rounded to float after each.  Returns the
 * check bits to OR into update_range's. */
static inline UT SFX(adam_block)(const SFX(upd) *u, size_t n, T *restrict w,
                                 T *restrict g, T *restrict mo, T *restrict ve,
                                 int zero_g, int wide)
{
    const T b1 = u->b1, b2 = u->b2, eps = u->eps, step = u->step, isb2 = u->isb2;
    const T c1 = u->c1, c2 = u->c2;
    const double b1w = u->b1w, b2w = u->b2w, stepw = u->stepw, onew = u->onew;
    UT bad = 0;
    if (wide)
        ANN__UPDATE_LOOP((mo[i] = (T)(b1w * mo[i]) + c1 * g[i],
                          ve[i] = (T)(b2w * ve[i]) + c2 * g[i] * g[i],
                          w[i] -= (T)((T)(stepw * mo[i]) * onew /
                                      ((T)sqrt(ve[i] * onew) * isb2 + eps))),
                         ANN__ADAM_CHK);
    else
        ANN__UPDATE_LOOP(ANN__ADAM_BODY(g[i]), ANN__ADAM_CHK);
    return bad;
}

static int SFX(adam_range)(ann *m, const SFX(upd) *u, size_t lo, size_t n,
                           T *restrict g, int zero_g)
{
    const SFX(upd) k = *u; /* (no aliasing with the arrays) */
    T *w = (T *)m->params + lo, *mo = (T *)m->opt_m + lo, *ve = (T *)m->opt_v + lo;
    UT bad = 0;
    for (size_t b0 = 0; b0 < n; b0 += ANN__ADAM_BLOCK) {
        size_t nb = n - b0 < ANN__ADAM_BLOCK ? n - b0 : ANN__ADAM_BLOCK;
        UT tiny = 0;
        for (size_t i = b0; i < b0 + nb; i++) {
            ANN__ADAM_TINY(mo[i], 0x1F800000u, tiny); /* 2^-64 */
            ANN__ADAM_TINY(ve[i], 0x1F800000u, tiny);
        }
        bad |= SFX(adam_block)(&k, nb, w + b0, g + b0, mo + b0, ve + b0, zero_g,
                               (int)(tiny >> 31));
    }
    return SFX(update_status)(bad);
}
#undef ANN__ADAM_TINY
#endif

/* Apply the step to parameters [lo, lo + n) from their gradient g (indexed
 * from lo).  Returns 0, or -1 if a new value is non-finite.  Element-wise:
 * any split of [0, n_params) into ranges gives the same bits. */
static int SFX(update_range)(ann *m, const SFX(upd) *u, size_t lo, size_t n,
                             T *restrict g, int zero_g)
{
#ifdef ADAM_WIDE
    if (m->s.optimizer == ANN_OPTIMIZER_ADAM)
        return SFX(adam_range)(m, u, lo, n, g, zero_g);
#endif
    T *restrict w = (T *)m->params + lo;
    T lr = u->lr;
    UT bad = 0;
    ANN__UPDATE_SWITCH(ANN__UPDATE_LOOP, g[i])
    return SFX(update_status)(bad);
}

/* update_range over a long range, split with the fit's helper thread
 * (ann__ws.helper): element-wise, so the same bits. */
typedef struct SFX(uctx) {
    ann *m;
    const SFX(upd) *u;
    size_t lo;
    T *g;
    int zero_g;
} SFX(uctx);

static int SFX(update_chunk)(void *ctx, size_t a, size_t b)
{
    const SFX(uctx) *c = ctx;
    return SFX(update_range)(c->m, c->u, c->lo + a, b - a, c->g + a, c->zero_g) != 0;
}

static int SFX(update_split)(ann *m, ann__helper *h, const SFX(upd) *u, size_t lo,
                             size_t n, T *g, int zero_g)
{
    if (!h || n < ANN__HELPER_UPDATE_MIN)
        return SFX(update_range)(m, u, lo, n, g, zero_g);
    SFX(uctx) c = {m, u, lo, g, zero_g};
    return ann__helper_run(h, SFX(update_chunk), &c, n, ANN__HELPER_UPDATE_CHUNK) ? -1 : 0;
}

/* Momentum's carried velocity (ann__ws.v_carried): v <- mu v + l2 w over
 * a layer's weights, before the first GEMM that accumulates onto it. */
static void SFX(mom_prescale)(T *restrict v, const T *restrict w, size_t n, T mu, T l2)
{
    if (l2 == 0)
        for (size_t i = 0; i < n; i++)
            v[i] = mu * v[i];
    else
        for (size_t i = 0; i < n; i++)
            v[i] = mu * v[i] + l2 * w[i];
}

/* After the GEMM made v the velocity: w -= lr v, checked with v; with
 * carry, v then becomes mu v + l2 w (the new w) for the next step's GEMM.
 * One pass over w and v instead of one over the gradient, v and w (and
 * the gradient's zeroing).  For l2 = 0 the same bits as update_range
 * (whose v = mu v + g rounds mu v first too) as long as OpenBLAS sums the
 * batch in one block of its inner dimension (batch 128: yes; 500: no,
 * the blocks' partial sums then add onto mu v one by one). */
static int SFX(mom_step)(T *restrict v, T *restrict w, size_t n, T lr, T mu, T l2,
                         int carry)
{
    UT bad = 0;
    if (!carry)
        ANN__UPDATE_LOOP1((w[i] -= lr * v[i]), w[i] * 0 + v[i] * 0);
    else if (l2 == 0)
        ANN__UPDATE_LOOP1((w[i] -= lr * v[i], v[i] = mu * v[i]),
                          w[i] * 0 + v[i] * 0);
    else
        ANN__UPDATE_LOOP1((w[i] -= lr * v[i], v[i] = mu * v[i] + l2 * w[i]),
                          w[i] * 0 + v[i] * 0);
    return SFX(update_status)(bad);
}

/* The step of a layer's weights (nu x fan, from lo) and biases (nu, right
 * after them) for one row, whose weight gradient is the outer product
 * D A^T and bias gradient D: each element's gradient dj * A[k] (or dj) is
 * formed where it is used, never stored (the same value the gradient
 * buffer would hold, so the same bits as update_range on it). */
#define ANN__OUTER_LOOP(BODY, CHK)                                           \
    do {                                                                     \
    ANN__FAN_SWITCH(fan, for (size_t j = 0; j < nu; j++) {                   \
        const T dj = D[j];                                                   \
        for (size_t k = 0; k < F; k++) {                                     \
            const size_t i = j * F + k;                                      \
            const T gi = dj * A[k];                                          \
            ANN__UPDATE_ELEM(BODY, CHK);                                     \
        }                                                                    \
        { /* the bias: gradient dj, after the nu x F weights */              \
            const size_t i = nu * F + j;                                     \
            const T gi = dj;                                                 \
            ANN__UPDATE_ELEM(BODY, CHK);                                     \
        }                                                                    \
    })                                                                       \
    } while (0)

static int SFX(update_outer)(ann *m, const SFX(upd) *u, size_t lo, size_t nu, size_t fan,
                             const T *restrict D, const T *restrict A)
{
    T *restrict w = (T *)m->params + lo;
    T lr = u->lr;
    UT bad = 0;
    ANN__UPDATE_SWITCH(ANN__OUTER_LOOP, gi)
    return SFX(update_status)(bad);
}
#undef ANN__OUTER_LOOP
#undef ANN__UPDATE_SWITCH
#undef ANN__ADAM_BODY
#undef ANN__ADAM_CHK

static int SFX(update)(ann *m, const ann__ws *ws, double lr_d)
{
    SFX(upd) u;
    SFX(update_begin)(m, lr_d, &u);
    return SFX(update_range)(m, &u, 0, m->n_params, ws->grad, 0);
}
/* The gradient of the mean loss into ws->grad; with u non-NULL, also each
 * layer's optimizer step as soon as its gradient is complete (and its
 * weights are no longer needed for the layer below), while the gradient
 * is still in cache: one pass over the parameters fewer.  Returns the
 * update's finiteness result (0 without u). */
static int SFX(backward_upd)(ann *m, ann__ws *ws, const T *x, const T *y, size_t B,
                             const SFX(upd) *upd)
{
    int bad = 0;
    T gbeta = ws->grad_zero ? (T)1 : (T)0;
    size_t L = m->n_layers, n_out = m->units[L - 1];
    const T *params = m->params;
    T *grad = ws->grad;
    T slope = (T)m->s.leaky_slope;
    /* ann_mpi hooks (ws fields, 0 by default): see ann__ws. */
    T invB = ws->grad_scale > 0 ? (T)ws->grad_scale : (T)1 / (T)B;
    T l2 = ws->skip_l2 ? (T)0 : (T)m->s.l2;
    T *D = ws->d0, *Dn = ws->d1;
    const T *yh = ws->a[L - 1];
    ann_activation oact = m->acts[L - 1];

    /* Output delta, already divided by B (the loss is a mean). */
    if (m->s.loss == ANN_LOSS_CROSS_ENTROPY && oact == ANN_ACT_SOFTMAX) {
        /* d/dz of -sum y log softmax(z) = softmax(z) * sum(y) - y: exact for
         * targets that do not sum to one. */
        for (size_t r = 0; r < B; r++) {
            T sy = 0;
            for (size_t k = 0; k < n_out; k++)
                sy += y[r * n_out + k];
            for (size_t k = 0; k < n_out; k++)
                D[r * n_out + k] = (yh[r * n_out + k] * sy - y[r * n_out + k]) * invB;
        }
    } else if (m->s.loss == ANN_LOSS_CROSS_ENTROPY) { /* sigmoid output */
        for (size_t i = 0; i < B * n_out; i++)
            D[i] = (yh[i] - y[i]) * invB;
    } else {
        for (size_t i = 0; i < B * n_out; i++)
            D[i] = (yh[i] - y[i]) * invB;
        if (oact == ANN_ACT_SOFTMAX) {
            /* Through the softmax Jacobian: s_i (g_i - sum_j g_j s_j). */
            for (size_t r = 0; r < B; r++) {
                T *g = D + r * n_out;
                const T *s = yh + r * n_out;
                T dot = 0;
                for (size_t k = 0; k < n_out; k++)
                    dot += g[k] * s[k];
                for (size_t k = 0; k < n_out; k++)
                    g[k] = s[k] * (g[k] - dot);
            }
        } else {
            SFX(mul_deriv)(oact, slope, B * n_out, yh, D);
        }
    }

    /* One row with an update (per-sample SGD): each layer's step straight
     * from the outer product, no gradient buffer (it stays zero), after
     * the layer's input gradient, which needs the old weights. */
    int outer = upd && B == 1 && l2 == 0 && ws->grad_zero;
    /* Plain momentum on BLAS-sized layers: on OpenBLAS's threads (below),
     * or with the carried velocity (ann__ws.v_carried) on one thread (and
     * to its epoch's end if the thread count changed meanwhile). */
    int plain_mom = upd && m->s.optimizer == ANN_OPTIMIZER_MOMENTUM && !m->s.nesterov &&
                    B > 1 && ws->grad_zero;
    int mom_threads = plain_mom && ann__blas_threads() > 1 && !ws->v_carried;
    int mom_carry = plain_mom && !mom_threads;
    int t0 = ws->t0; /* forward's choice (B > 1: never with outer) */
    for (size_t l = L; l-- > 0;) {
        size_t u = m->units[l], fan = m->fan_in[l];
        const T *prev = l > 0 ? (const T *)ws->a[l - 1] : x;
        const T *W = params + m->w_off[l];
        if (outer) {
            if (l > 0) {
                SFX(mm_dw)(1, u, fan, D, W, Dn);
                SFX(mul_deriv)(m->acts[l - 1], slope, fan, prev, Dn);
            }
            /* weights and, after them (b_off = w_off + u * fan), biases */
            bad |= SFX(update_outer)(m, upd, m->w_off[l], u, fan, D, prev);
            if (l > 0) {
                T *t = D;
                D = Dn;
                Dn = t;
            }
            continue;
        }
        T *dW = grad + m->w_off[l];
        T *db = grad + m->b_off[l];
        /* Plain SGD on a BLAS-sized layer: the step is the weight-gradient
         * GEMM itself, W <- (1 - lr l2) W - lr D^T A, so no gradient is
         * stored and no pass over the weights follows (it was 5-12% of an
         * epoch on Fashion-MNIST).  Whether the new weights are finite is
         * left to the next forward pass (ws->w_pending); the biases are
         * stepped and checked here. */
        int fused = upd && m->s.optimizer == ANN_OPTIMIZER_SGD && B > 1 &&
                    u * fan > ANN__DIRECT_MAX && ws->grad_zero;
        /* Momentum (not Nesterov's) on a BLAS-sized layer with OpenBLAS
         * on more than one thread: the velocity is the GEMM's C,
         * V <- mu V + D^T A (+ l2 W), and the step an axpy, W -= lr V,
         * both split between OpenBLAS's threads; an element-wise pass
         * would run on one (8 of 8 paired float32 runs at 2 threads:
         * 0.74-0.83 s against 0.84-0.91 s for the carried velocity's
         * pass; float64 0.70 against 0.66 of the floor).  The weights are
         * checked as after a fused SGD step.  On one thread the carried
         * velocity below moves less memory (OpenBLAS's beta pass over V
         * is a pass of its own). */
        int fused_mom = mom_threads && u * fan > ANN__DIRECT_MAX;
        int carry = mom_carry && u * fan > ANN__DIRECT_MAX;
        int in_gemm = fused || fused_mom || carry; /* the weights' step is done */
        /* Layer 0 in feature-major order (ws->t0): layer 1 reads A0^T
         * (fan x B) and returns D0^T, layer 0's weight gradient reads it. */
        int t_in = t0 && l == 1, t_d = t0 && l == 0;
        if (l > 0) {
            /* The input gradient, from the old weights (the fused step
             * overwrites them).  Layer 0's is never needed: skipped.
             * With it, layer l - 1's bias gradient. */
            if (t_in) {
                GEMM(1, 1, fan, B, u, 1, W, fan, D, u, 0, Dn, B);
                SFX(mul_deriv_rows)(m->acts[0], slope, fan, B, prev, Dn,
                                    grad + m->b_off[0]);
            } else {
                SFX(mm_dw)(B, u, fan, D, W, Dn);
                SFX(mul_deriv_sum)(m->acts[l - 1], slope, B, fan, prev, Dn,
                                   grad + m->b_off[l - 1]);
            }
        }
        /* D^T A, from D (B x u) or D0^T (u x B) and A (B x fan) or A0^T */
        int ta = !t_d, tb = t_in;
        size_t lda = t_d ? B : u, ldb = t_in ? B : fan;
        if (fused) {
            GEMM(ta, tb, u, fan, B, -upd->lr, D, lda, prev, ldb, (T)1 - upd->lr * l2,
                 (T *)m->params + m->w_off[l], fan);
            ws->w_pending = 1;
        } else if (fused_mom) {
            T *V = (T *)m->opt_m + m->w_off[l], *Wu = (T *)m->params + m->w_off[l];
            GEMM(ta, tb, u, fan, B, 1, D, lda, prev, ldb, upd->mu, V, fan);
            if (l2 != 0)
                AXPY(u * fan, l2, Wu, V);
            AXPY(u * fan, -upd->lr, V, Wu);
            ws->w_pending = 1;
        } else if (carry) {
            T *V = (T *)m->opt_m + m->w_off[l], *Wu = (T *)m->params + m->w_off[l];
            if (!ws->v_carried)
                SFX(mom_prescale)(V, Wu, u * fan, upd->mu, l2);
            GEMM(ta, tb, u, fan, B, 1, D, lda, prev, ldb, 1, V, fan);
            bad |= SFX(mom_step)(V, Wu, u * fan, upd->lr, upd->mu, l2, ws->carry_next);
        } else if (t_in || t_d) {
            GEMM(ta, tb, u, fan, B, 1, D, lda, prev, ldb, gbeta, dW, fan);
        } else {
            SFX(mm_dta)(B, u, fan, D, prev, gbeta, dW);
        }
        /* The output layer's bias gradient: the sums alone (identity's
         * derivative is 1); the others' come with their deltas (above). */
        if (l + 1 == L)
            SFX(mul_deriv_sum)(ANN_ACT_IDENTITY, slope, B, u, yh, D, db);
        if (l2 != 0 && !in_gemm)
            for (size_t i = 0; i < u * fan; i++)
                dW[i] += l2 * W[i];
        if (l > 0) {
            T *t = D;
            D = Dn;
            Dn = t;
        }
        /* W and b of a layer are adjacent in the parameter block (after a
         * fused step, only b is left). */
        if (upd)
            bad |= in_gemm ? SFX(update_range)(m, upd, m->b_off[l], u, db, 1)
                       : SFX(update_split)(m, ws->helper, upd, m->w_off[l], u * fan + u,
                                           dW, 1);
    }
    /* The fused update left zeros behind; otherwise the gradient stays. */
    ws->grad_zero = upd != NULL;
    ws->v_carried = mom_carry && ws->carry_next;
    return bad;
}

static void SFX(backward)(const ann *m, ann__ws *ws, const T *x, const T *y, size_t B)
{
    /* m is not written without an update */
    SFX(backward_upd)((ann *)m, ws, x, y, B, NULL);
}

/* backward and update fused: the same bits as backward, then update. */
static int SFX(backward_update)(ann *m, ann__ws *ws, const T *x, const T *y, size_t B,
                                double lr)
{
    SFX(upd) u;
    SFX(update_begin)(m, lr, &u);
    return SFX(backward_upd)(m, ws, x, y, B, &u);
}

#undef ANN__UPDATE_LOOP
#undef ANN__UPDATE_LOOP1
#undef ANN__UPDATE_ELEM

static void SFX(store_output)(const ann *m, const void *out, size_t B,
                              const ann__view *Y, size_t start)
{
    const T *o = out;
    size_t n_out = m->units[m->n_layers - 1];
    for (size_t r = 0; r < B; r++) {
        ptrdiff_t base = (ptrdiff_t)(start + r) * Y->rs;
        const T *orow = o + r * n_out;
        if (Y->dtype == ANN_DTYPE_F64) {
            double *p = (double *)Y->data + base;
            for (size_t k = 0; k < n_out; k++)
                p[(ptrdiff_t)k * Y->cs] = (double)orow[k];
        } else {
            float *p = (float *)Y->data + base;
            for (size_t k = 0; k < n_out; k++)
                p[(ptrdiff_t)k * Y->cs] = (float)orow[k];
        }
    }
}

/* Jacobian of the B x n_out outputs (after forward on x, with ws->d0/d1
 * of B x max_width) with respect to every parameter: J has B*n_out rows
 * (row r*n_out + k = d yhat[r][k] / d params) and n_params columns.  One
 * backward pass per output, batched over the rows (the deltas move through
 * the layers as the same products as backprop; each row's weight
 * derivatives are the outer products delta_r a_r^T). */
static void SFX(jacobian)(const ann *m, ann__ws *ws, const T *x, size_t B, T *restrict J)
{
    size_t L = m->n_layers, n_out = m->units[L - 1], P = m->n_params;
    const T *params = m->params;
    T slope = (T)m->s.leaky_slope;
    const T *yh = ws->a[L - 1];
    ann_activation oact = m->acts[L - 1];
    memset(J, 0, B * n_out * P * sizeof(T));
    for (size_t k = 0; k < n_out; k++) {
        T *D = ws->d0, *Dn = ws->d1;
        for (size_t r = 0; r < B; r++)
            for (size_t i = 0; i < n_out; i++)
                D[r * n_out + i] = i == k ? (T)1 : (T)0;
        if (oact == ANN_ACT_SOFTMAX) {
            for (size_t r = 0; r < B; r++) {
                const T *s = yh + r * n_out;
                T *g = D + r * n_out;
                for (size_t i = 0; i < n_out; i++)
                    g[i] = s[i] * ((i == k ? (T)1 : (T)0) - s[k]);
            }
        } else {
            SFX(mul_deriv)(oact, slope, B * n_out, yh, D);
        }
        for (size_t l = L; l-- > 0;) {
            size_t u = m->units[l], fan = m->fan_in[l];
            const T *prev = l > 0 ? (const T *)ws->a[l - 1] : x;
            for (size_t r = 0; r < B; r++) {
                T *Jr = J + (r * n_out + k) * P;
                const T *d = D + r * u, *a = prev + r * fan;
                for (size_t j = 0; j < u; j++) {
                    T dj = d[j];
                    T *row = Jr + m->w_off[l] + j * fan;
                    for (size_t i = 0; i < fan; i++)
                        row[i] = dj * a[i];
                    Jr[m->b_off[l] + j] = dj;
                }
            }
            if (l > 0) {
                SFX(mm_dw)(B, u, fan, D, params + m->w_off[l], Dn);
                SFX(mul_deriv)(m->acts[l - 1], slope, B * fan, prev, Dn);
                T *t = D;
                D = Dn;
                Dn = t;
            }
        }
    }
}

/* The template's parameters end with it, so the next instantiation starts
 * clean. */
#undef T
#undef SFX
#undef GEMM
#undef GEMV
#undef AXPY
#undef EXP
#undef TANH
#undef SQRT
#undef ADAM_WIDE
#undef UT
#undef DT
#undef MAX_BITS
#undef FABS
#undef COPYSIGN
#undef EXP_SHIFTER
#undef EXP_SHIFTER_BITS
#undef EXP_BIAS
#undef EXP_MANT
#undef EXP_LO
#undef EXP_HI
#undef LN2_HI
#undef LN2_LO
#undef TANH_SAT
