/* engine.c - instantiates the kernels of engine_tmpl.h for double and float
 * and collects them, dispatching on the model's precision, in one kernel
 * table.  This file is compiled once per instruction set (isa.c chooses a
 * table at run time): plainly for the baseline of the target, and on
 * x86-64 a second time with -mavx2 and ANN__ENGINE_ISA=avx2.  No
 * instruction set changes a result: the build neither contracts a*b+c
 * into FMAs (-ffp-contract=off) nor reassociates sums, so every table
 * computes the same bits, only more of them per instruction. */
#include "ann_internal.h"

#include <math.h>

/* libann never reads the floating-point exception flags, so the kernels
 * may assume no trap: without this GCC will not turn the selects of the
 * activation loops (clamps, signs, leaky slopes) into blends, and those
 * loops stay scalar.  The dynamic cost model is -O3's (lib/meson.build
 * compiles the library at -O3 in every optimised build; it was not enough
 * on its own to make -O2 code as fast).  Results are unchanged (no
 * reassociation, no contraction). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno", "vect-cost-model=dynamic")
#endif
#include <stdlib.h>
#include <string.h>

static int k_scan(const ann__view *v, int f32_limit);

#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* out[j] = d[j][0] + d[j][1] + ... + d[j][B-1] for the 8 rows d[j] =
 * d + j * B, added in that order (engine_tmpl.h mul_deriv_rows).  With
 * AVX2, 8 x 8 blocks are transposed in registers so that each step adds
 * one column of the block to the 8 sums at once: 2.6 us against 5.6 for
 * the 16-row loop over a 256 x 128 block in L1/L2 (which the compiler
 * vectorises across rows, gathering each vector with vinsertps). */
static inline void rowsum8_f(const float *restrict d, size_t B, float *restrict out)
{
    size_t r0 = 0;
#if defined(__AVX2__)
    if (B >= 8) {
        __m256 acc = _mm256_setzero_ps();
        for (; r0 + 8 <= B; r0 += 8) {
            const float *p = d + r0;
            __m256 a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + B);
            __m256 a2 = _mm256_loadu_ps(p + 2 * B), a3 = _mm256_loadu_ps(p + 3 * B);
            __m256 a4 = _mm256_loadu_ps(p + 4 * B), a5 = _mm256_loadu_ps(p + 5 * B);
            __m256 a6 = _mm256_loadu_ps(p + 6 * B), a7 = _mm256_loadu_ps(p + 7 * B);
            __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
            __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
            __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
            __m256 t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
            __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            /* c_q: column r0 + q of the block (lane j: row j) */
            __m256 c0 = _mm256_permute2f128_ps(s0, s4, 0x20);
            __m256 c1 = _mm256_permute2f128_ps(s1, s5, 0x20);
            __m256 c2 = _mm256_permute2f128_ps(s2, s6, 0x20);
            __m256 c3 = _mm256_permute2f128_ps(s3, s7, 0x20);
            __m256 c4 = _mm256_permute2f128_ps(s0, s4, 0x31);
            __m256 c5 = _mm256_permute2f128_ps(s1, s5, 0x31);
            __m256 c6 = _mm256_permute2f128_ps(s2, s6, 0x31);
            __m256 c7 = _mm256_permute2f128_ps(s3, s7, 0x31);
            acc = r0 ? _mm256_add_ps(acc, c0) : c0; /* the sums start at d[j][0] */
            acc = _mm256_add_ps(acc, c1);
            acc = _mm256_add_ps(acc, c2);
            acc = _mm256_add_ps(acc, c3);
            acc = _mm256_add_ps(acc, c4);
            acc = _mm256_add_ps(acc, c5);
            acc = _mm256_add_ps(acc, c6);
            acc = _mm256_add_ps(acc, c7);
        }
        _mm256_storeu_ps(out, acc);
    }
#endif
    if (r0 == 0) {
        for (size_t j = 0; j < 8; j++)
            out[j] = d[j * B];
        r0 = 1;
    }
    for (; r0 < B; r0++)
        for (size_t j = 0; j < 8; j++)
            out[j] += d[j * B + r0];
}

/* The double instantiation's row loads check float data too
 * (engine_tmpl.h). */
static inline int over_f(const void *src, size_t n, uint32_t lim);

#define T double
#define SFX(n) n##_d
#define GEMM ann__dgemm
#define GEMV ann__dgemv
#define AXPY ann__daxpy
#define EXP exp
#define TANH tanh
#define SQRT sqrt
#define UT uint64_t
#define DT ANN_DTYPE_F64
#define MAX_BITS 0x7FEFFFFFFFFFFFFFu /* DBL_MAX */
#define FABS fabs
#define COPYSIGN copysign
#define EXP_SHIFTER 0x1.8p52
#define EXP_SHIFTER_BITS 0x4338000000000000u
#define EXP_BIAS 1023
#define EXP_MANT 52
#define EXP_LO (-708.0)
#define EXP_HI 709.0
#define LN2_HI 0x1.62e42fefa3800p-1
#define LN2_LO 0x1.ef35793c76730p-45
#define TANH_SAT 20.0
#include "engine_tmpl.h"

#define T float
#define SFX(n) n##_f
#define GEMM ann__sgemm
#define GEMV ann__sgemv
#define AXPY ann__saxpy
#define EXP expf
#define TANH tanhf
#define SQRT sqrtf
#define ADAM_WIDE 1 /* Adam's wide path (engine_tmpl.h: adam_range) */
#define UT uint32_t
#define DT ANN_DTYPE_F32
#define MAX_BITS 0x7F7FFFFFu /* FLT_MAX */
#define FABS fabsf
#define COPYSIGN copysignf
#define EXP_SHIFTER 0x1.8p23f
#define EXP_SHIFTER_BITS 0x4b400000u
#define EXP_BIAS 127
#define EXP_MANT 23
#define EXP_LO (-87.0f)
#define EXP_HI 88.0f
#define LN2_HI 0x1.62e400p-1f
#define LN2_LO 0x1.7f7d1cp-20f
#define TANH_SAT 9.0f
#include "engine_tmpl.h"

#define F32(m) ((m)->s.precision == ANN_PRECISION_F32)

/* ---- input scan ---------------------------------------------------------- */
/* 0 if every element of v is finite and, with f32_limit, within float's
 * range; 1 otherwise (over_d/over_f on the bits).  A dense double matrix is
 * one flat pass; other layouts go row by row. */
static int k_scan(const ann__view *v, int f32_limit)
{
    uint64_t lim = f32_limit ? 0x47EFFFFFE0000000u /* FLT_MAX as double */
                             : 0x7FEFFFFFFFFFFFFFu; /* DBL_MAX */
    uint32_t lim32 = 0x7F7FFFFFu; /* FLT_MAX */
    int bad = 0;
    if (v->dtype == ANN_DTYPE_F64 && v->cs == 1) {
        int dense = v->rs == (ptrdiff_t)v->cols;
        size_t rows = dense ? 1 : v->rows, n = dense ? v->rows * v->cols : v->cols;
        for (size_t r = 0; r < rows && !bad; r++) {
            bad = over_d((const double *)v->data + (ptrdiff_t)r * v->rs, n, lim);
        }
        return bad;
    }
    if (v->dtype == ANN_DTYPE_F32 && v->cs == 1) {
        for (size_t r = 0; r < v->rows && !bad; r++) {
            bad = over_f((const float *)v->data + (ptrdiff_t)r * v->rs, v->cols, lim32);
        }
        return bad;
    }
    for (size_t i = 0; i < v->rows; i++)
        for (size_t j = 0; j < v->cols; j++) {
            double x = ann__view_get(v, i, j);
            uint64_t b;
            memcpy(&b, &x, sizeof b);
            bad |= (b & 0x7FFFFFFFFFFFFFFFu) > lim;
        }
    return bad;
}

/* ---- the kernel table -------------------------------------------------- */
static int k_gather(const ann *m, ann__ws *ws, const ann__batch_src *src, size_t start,
                    size_t count, const void **xp, const void **yp)
{
    return F32(m) ? gather_f(m, ws, src, start, count, xp, yp)
                  : gather_d(m, ws, src, start, count, xp, yp);
}

static const void *k_forward(const ann *m, ann__ws *ws, const void *x, size_t B)
{
    return F32(m) ? (const void *)forward_f(m, ws, x, B)
                  : (const void *)forward_d(m, ws, x, B);
}

static double k_loss_sum(const ann *m, const ann__ws *ws, const void *y, size_t B)
{
    return F32(m) ? loss_sum_f(m, ws, y, B) : loss_sum_d(m, ws, y, B);
}

static void k_backward(const ann *m, ann__ws *ws, const void *x, const void *y, size_t B)
{
    if (F32(m))
        backward_f(m, ws, x, y, B);
    else
        backward_d(m, ws, x, y, B);
}

static int k_backward_update(ann *m, ann__ws *ws, const void *x, const void *y, size_t B,
                             double lr)
{
    return F32(m) ? backward_update_f(m, ws, x, y, B, lr)
                  : backward_update_d(m, ws, x, y, B, lr);
}

static int k_update(ann *m, const ann__ws *ws, double lr)
{
    return F32(m) ? update_f(m, ws, lr) : update_d(m, ws, lr);
}

static void k_store_output(const ann *m, const void *out, size_t B, const ann__view *Y,
                           size_t start)
{
    if (F32(m))
        store_output_f(m, out, B, Y, start);
    else
        store_output_d(m, out, B, Y, start);
}

static void k_jacobian(const ann *m, ann__ws *ws, const void *x, size_t B, void *J)
{
    if (F32(m))
        jacobian_f(m, ws, x, B, J);
    else
        jacobian_d(m, ws, x, B, J);
}

static int k_predict1(const ann *m, const double *x, double *y)
{
    return F32(m) ? predict1_f(m, x, y) : predict1_d(m, x, y);
}

static void k_unscale_out(const ann *m, ann__ws *ws, size_t B)
{
    if (F32(m))
        unscale_out_f(m, ws, B);
    else
        unscale_out_d(m, ws, B);
}

#ifndef ANN__ENGINE_ISA
#define ANN__ENGINE_ISA generic
#endif
#define ANN__KT(isa) ANN__KT_(isa)
#define ANN__KT_(isa) ann__kernels_##isa

const ann__kernels ANN__KT(ANN__ENGINE_ISA) = {
    k_gather, k_forward, k_loss_sum, k_backward, k_update, k_backward_update,
    k_store_output, k_jacobian, k_unscale_out, k_scan, k_predict1,
};
