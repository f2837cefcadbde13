/* engine.c - instantiates the kernels of engine_tmpl.h for double and float
 * and dispatches on the model's precision. */
#include "ann_internal.h"

#include <math.h>

/* libann never reads the floating-point exception flags, so the kernels
 * may assume no trap: without this GCC will not turn the selects of the
 * activation loops (clamps, signs, leaky slopes) into blends, and those
 * loops stay scalar.  The dynamic cost model lets -O2 builds (meson's
 * default debugoptimized) vectorise loops of unknown length, as -O3 does.
 * Results are unchanged (no reassociation, no
 * contraction). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "vect-cost-model=dynamic")
#endif
#include <stdlib.h>
#include <string.h>

#define T double
#define SFX(n) n##_d
#define GEMM ann__dgemm
#define GEMV ann__dgemv
#define EXP exp
#define TANH tanh
#define SQRT sqrt
#define UT uint64_t
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
#define EXP expf
#define TANH tanhf
#define SQRT sqrtf
#define UT uint32_t
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

/* ---- work buffers ------------------------------------------------------ */
#define ALIGN 64
static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* Checked a*b; returns SIZE_MAX on overflow. */
static size_t mul_sz(size_t a, size_t b)
{
    if (a && b > SIZE_MAX / a)
        return SIZE_MAX;
    return a * b;
}

static size_t add_sz(size_t a, size_t b)
{
    return (a == SIZE_MAX || b == SIZE_MAX || a > SIZE_MAX - b) ? SIZE_MAX : a + b;
}

int ann__ws_init_buf(ann__ws *ws, const ann *m, size_t cap, int training, void *buf,
                     size_t buf_bytes)
{
    memset(ws, 0, sizeof *ws);
    size_t es = ann__elem_size(m->s.precision);
    size_t L = m->n_layers, n_out = m->units[L - 1];
    size_t sz = round_up(L * sizeof(void *));
    size_t o_x = sz;
    sz = add_sz(sz, round_up(mul_sz(mul_sz(cap, m->n_inputs), es)));
    size_t o_y = sz;
    sz = add_sz(sz, round_up(mul_sz(mul_sz(cap, n_out), es)));
    size_t o_z = sz;
    sz = add_sz(sz, round_up(mul_sz(mul_sz(cap, n_out), es)));
    size_t o_a = sz;
    for (size_t l = 0; l < L; l++)
        sz = add_sz(sz, round_up(mul_sz(mul_sz(cap, m->units[l]), es)));
    size_t o_t = sz;
    int whiten = m->s.preprocess == ANN_PREPROCESS_PCA || m->s.preprocess == ANN_PREPROCESS_ZCA ||
                 m->prep.mode == ANN_PREPROCESS_PCA || m->prep.mode == ANN_PREPROCESS_ZCA;
    if (whiten)
        sz = add_sz(sz, round_up(mul_sz(mul_sz(cap, m->n_inputs), es)));
    size_t o_d = sz, dsz = 0;
    if (training) {
        dsz = round_up(mul_sz(mul_sz(cap, m->max_width), es));
        sz = add_sz(sz, mul_sz(dsz, 2));
        sz = add_sz(sz, round_up(mul_sz(m->n_params, es)));
    }
    if (sz == SIZE_MAX || cap > ANN__BLAS_INT_MAX)
        return -2;
    unsigned char *blk;
    if (buf) {
        /* A caller's (stack) buffer: small one-shot calls skip malloc. */
        if (sz > buf_bytes || ((uintptr_t)buf & (ALIGN - 1)))
            return 1;
        blk = buf;
    } else {
        if (!(blk = aligned_alloc(ALIGN, sz)))
            return -1;
        ws->block = blk;
    }
    ws->cap = cap;
    ws->a = (void **)blk;
    ws->x = blk + o_x;
    ws->y = blk + o_y;
    ws->z_out = blk + o_z;
    ws->xt = whiten ? blk + o_t : NULL;
    size_t off = o_a;
    for (size_t l = 0; l < L; l++) {
        ws->a[l] = blk + off;
        off += round_up(cap * m->units[l] * es);
    }
    if (training) {
        ws->d0 = blk + o_d;
        ws->d1 = blk + o_d + dsz;
        ws->grad = blk + o_d + 2 * dsz;
    }
    return 0;
}

int ann__ws_init(ann__ws *ws, const ann *m, size_t cap, int training)
{
    return ann__ws_init_buf(ws, m, cap, training, NULL, 0);
}

void ann__ws_free(ann__ws *ws)
{
    free(ws->block);
    memset(ws, 0, sizeof *ws);
}

/* ---- dispatch ---------------------------------------------------------- */
void ann__gather(const ann *m, ann__ws *ws, const ann__batch_src *src,
                 size_t start, size_t count, const void **xp, const void **yp)
{
    if (F32(m))
        gather_f(m, ws, src, start, count, xp, yp);
    else
        gather_d(m, ws, src, start, count, xp, yp);
}

const void *ann__forward(const ann *m, ann__ws *ws, const void *x, size_t B)
{
    return F32(m) ? (const void *)forward_f(m, ws, x, B)
                  : (const void *)forward_d(m, ws, x, B);
}

double ann__loss_sum(const ann *m, const ann__ws *ws, const void *y, size_t B)
{
    return F32(m) ? loss_sum_f(m, ws, y, B) : loss_sum_d(m, ws, y, B);
}

void ann__backward(const ann *m, ann__ws *ws, const void *x, const void *y, size_t B)
{
    if (F32(m))
        backward_f(m, ws, x, y, B);
    else
        backward_d(m, ws, x, y, B);
}

int ann__update(ann *m, const ann__ws *ws, double lr)
{
    return F32(m) ? update_f(m, ws, lr) : update_d(m, ws, lr);
}

void ann__store_output(const ann *m, const void *out, size_t B, const ann__view *Y,
                       size_t start)
{
    if (F32(m))
        store_output_f(m, out, B, Y, start);
    else
        store_output_d(m, out, B, Y, start);
}

double ann__param_get(const ann *m, size_t i)
{
    return F32(m) ? (double)((const float *)m->params)[i] : ((const double *)m->params)[i];
}

void ann__param_set(ann *m, size_t i, double v)
{
    if (F32(m))
        ((float *)m->params)[i] = (float)v;
    else
        ((double *)m->params)[i] = v;
}

void ann__jacobian(const ann *m, ann__ws *ws, const void *x, size_t B, void *J)
{
    if (F32(m))
        jacobian_f(m, ws, x, B, J);
    else
        jacobian_d(m, ws, x, B, J);
}

void ann__unscale_out(const ann *m, ann__ws *ws, size_t B)
{
    if (!m->tgt)
        return;
    if (F32(m))
        unscale_out_f(m, ws, B);
    else
        unscale_out_d(m, ws, B);
}
