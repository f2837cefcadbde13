/* isa.c - the engine's work buffers and its dispatch: every engine entry
 * point goes through the kernel table of the best instruction set this CPU
 * runs (engine.c is compiled once per instruction set).  The choice is made
 * once, on first use; LIBANN_ISA=generic in the environment (read then)
 * pins the baseline table, e.g. to compare the two. */
#define _GNU_SOURCE /* fegetexcept */
#include "ann_internal.h"

#include <fenv.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define F32(m) ((m)->s.precision == ANN_PRECISION_F32)

/* ---- the caller's floating-point traps ----------------------------------- */
int ann__fp_traps(void)
{
#if defined(__GLIBC__) && defined(FE_INVALID) && defined(FE_OVERFLOW)
    return (fegetexcept() & (FE_INVALID | FE_OVERFLOW)) != 0;
#else
    return 1;
#endif
}

/* ---- instruction-set choice -------------------------------------------- */
static _Atomic(const ann__kernels *) chosen;

static const ann__kernels *best_kernels(void)
{
#if defined(ANN_HAVE_AVX2)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return &ann__kernels_avx2;
#endif
    return &ann__kernels_generic;
}

static const ann__kernels *K(void)
{
    const ann__kernels *k = atomic_load_explicit(&chosen, memory_order_acquire);
    if (!k) {
        /* Racing first calls compute the same answer: no lock needed. */
        const char *e = getenv("LIBANN_ISA");
        k = e && !strcmp(e, "generic") ? &ann__kernels_generic : best_kernels();
        atomic_store_explicit(&chosen, k, memory_order_release);
    }
    return k;
}

int ann__isa_select(int isa)
{
    const ann__kernels *k;
    switch (isa) {
    case ANN__ISA_AUTO:
        k = best_kernels();
        break;
    case ANN__ISA_GENERIC:
        k = &ann__kernels_generic;
        break;
    case ANN__ISA_AVX2:
        if (best_kernels() != &ann__kernels_generic) {
            k = best_kernels();
            break;
        }
        return -1;
    default:
        return -1;
    }
    atomic_store_explicit(&chosen, k, memory_order_release);
    return 0;
}

int ann__isa_current(void)
{
    return K() == &ann__kernels_generic ? ANN__ISA_GENERIC : ANN__ISA_AVX2;
}

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
        memset(ws->grad, 0, m->n_params * es);
        ws->grad_zero = 1;
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
int ann__gather(const ann *m, ann__ws *ws, const ann__batch_src *src,
                size_t start, size_t count, const void **xp, const void **yp)
{
    return K()->gather(m, ws, src, start, count, xp, yp);
}

const void *ann__forward(const ann *m, ann__ws *ws, const void *x, size_t B)
{
    return K()->forward(m, ws, x, B);
}

double ann__loss_sum(const ann *m, const ann__ws *ws, const void *y, size_t B)
{
    return K()->loss_sum(m, ws, y, B);
}

void ann__backward(const ann *m, ann__ws *ws, const void *x, const void *y, size_t B)
{
    K()->backward(m, ws, x, y, B);
}

int ann__update(ann *m, const ann__ws *ws, double lr)
{
    return K()->update(m, ws, lr);
}

int ann__backward_update(ann *m, ann__ws *ws, const void *x, const void *y, size_t B,
                         double lr)
{
    return K()->backward_update(m, ws, x, y, B, lr);
}

void ann__store_output(const ann *m, const void *out, size_t B, const ann__view *Y,
                       size_t start)
{
    K()->store_output(m, out, B, Y, start);
}

void ann__jacobian(const ann *m, ann__ws *ws, const void *x, size_t B, void *J)
{
    K()->jacobian(m, ws, x, B, J);
}

void ann__unscale_out(const ann *m, ann__ws *ws, size_t B)
{
    if (m->tgt)
        K()->unscale_out(m, ws, B);
}

int ann__scan(const ann__view *v, int f32_limit)
{
    return K()->scan(v, f32_limit);
}

int ann__params_bad(const ann *m)
{
    ann__view v = {F32(m) ? ANN_DTYPE_F32 : ANN_DTYPE_F64, 1, m->n_params,
                   (ptrdiff_t)m->n_params, 1, m->params};
    return ann__scan(&v, 0);
}

int ann__predict1(const ann *m, const double *x, double *y)
{
    return K()->predict1(m, x, y);
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
