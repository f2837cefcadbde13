/* ann_internal.h - what libann's source files share.  Not installed. */
#ifndef ANN_INTERNAL_H
#define ANN_INTERNAL_H

#include "ann.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANN__MSG_LEN 256
#define ANN__BLAS_INT_MAX 2147483647u

/* ---- settings ---------------------------------------------------------- */
typedef struct ann__settings {
    double learning_rate;
    size_t batch_size;
    size_t epochs;
    int shuffle;
    uint64_t seed;
    int loss;
    int init;
    double leaky_slope;
    int precision;
    int optimizer;
    double momentum;
    int nesterov;
    double beta1, beta2, epsilon;
    double l2;
    double lr_decay;
    double validation_fraction;
    size_t patience;
    double init_gain;
    int preprocess;
    double whiten_epsilon;
    double lm_mu, lm_mu_factor;
    int target_scaling;
} ann__settings;

/* A fitted input transform (prep.c), always in double:
 * x' = (x - mean) .* scale          (STANDARDIZE, scale has n entries)
 * x' = W (x - mean)                 (PCA/ZCA, W is n x n row-major). */
typedef struct ann__prep {
    int mode;                /* ANN_PREPROCESS_*, 0 = nothing fitted */
    double *mean;            /* n_inputs */
    double *mat;             /* n_inputs (scale) or n_inputs^2 (W); one
                                block with mean */
} ann__prep;

/* ---- the model --------------------------------------------------------- */
struct ann {
    size_t n_inputs;
    size_t n_layers;
    size_t *units;           /* n_layers */
    size_t *fan_in;          /* n_layers */
    ann_activation *acts;    /* n_layers */
    size_t *w_off, *b_off;   /* element offsets of W_l and b_l in params */
    size_t n_params;         /* total elements */
    size_t max_width;        /* max(n_inputs, units[*]) */

    /* One contiguous block, W_0 b_0 W_1 b_1 ..., in the model's precision
     * (double or float).  Contiguity makes the optimizer one loop, the
     * snapshot one memcpy and a gradient one reduction buffer. */
    void *params;
    void *opt_m;             /* momentum velocity / Adam first moment, or NULL */
    void *opt_v;             /* Adam second moment, or NULL */
    uint64_t steps;          /* optimizer steps since reset */
    uint64_t decay_epochs;   /* epochs counted for learning-rate decay */

    ann__settings s;
    ann__prep prep;          /* fitted input transform, or mode 0 */
    double *tgt;             /* fitted target scaler: n_out means then
                                n_out sds (> 0), or NULL */
    uint64_t rng[4];         /* xoshiro256** state */

    /* results of the last fit */
    size_t epochs_run;
    double train_loss, val_loss;
    size_t best_epoch;

    ann_progress_fn progress;
    void *progress_user;

    /* -1: a mutating call holds it; n >= 0: n const calls inside. */
    atomic_int state;
    char msg[ANN__MSG_LEN];
};

static inline size_t ann__elem_size(int precision)
{
    return precision == ANN_PRECISION_F32 ? sizeof(float) : sizeof(double);
}

/* ---- errors (error.c) -------------------------------------------------- */
/* Record a failure for `model` (may be NULL; const calls pass mutable=0 so
 * only the thread's record is written) and return `st`. */
ann_status ann__fail(const ann *model, int mutating, ann_status st,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Detach this thread's failure record from a handle being destroyed. */
void ann__forget(const ann *model);

/* ---- handle guards (lifecycle.c) --------------------------------------- */
ann_status ann__lock_mut(ann *model);     /* ANN_ERR_BUSY if in use */
void ann__unlock_mut(ann *model);
ann_status ann__lock_const(const ann *model);
void ann__unlock_const(const ann *model);

/* ---- settings (params.c) ----------------------------------------------- */
void ann__settings_default(ann__settings *s);

/* ---- rng (rng.c) ------------------------------------------------------- */
void ann__rng_seed(uint64_t st[4], uint64_t seed);
uint64_t ann__rng_next(uint64_t st[4]);
double ann__rng_uniform(uint64_t st[4]);       /* [0, 1) */
double ann__rng_normal(uint64_t st[4]);        /* N(0, 1) */
size_t ann__rng_below(uint64_t st[4], size_t n); /* [0, n), unbiased */
void ann__shuffle(uint64_t st[4], size_t *idx, size_t n);
void ann__sort_indices(size_t *idx, size_t n);

/* ---- lifecycle helpers (lifecycle.c) ----------------------------------- */
/* Re-draw the weights.  ANN_OK, or ANN_ERR_OUT_OF_MEMORY / ANN_ERR_NUMERIC
 * (orthogonal init) with the model untouched; no message is recorded. */
ann_status ann__draw_weights(ann *model);
int ann__alloc_opt_state(ann *model);    /* 0 ok, -1 OOM; state zeroed */

/* ---- BLAS adapter (blas.c: the only file that includes cblas.h) -------- */
void ann__blas_enter(void);   /* bounds concurrent BLAS users */
void ann__blas_leave(void);
/* C(MxN) = alpha * op(A) op(B) + beta * C, row-major. */
void ann__dgemm(int transA, int transB, size_t M, size_t N, size_t K,
                double alpha, const double *A, size_t lda, const double *B,
                size_t ldb, double beta, double *C, size_t ldc);
void ann__sgemm(int transA, int transB, size_t M, size_t N, size_t K,
                float alpha, const float *A, size_t lda, const float *B,
                size_t ldb, float beta, float *C, size_t ldc);
/* y = alpha * op(A) x + beta * y, A is MxN row-major. */
void ann__dgemv(int transA, size_t M, size_t N, double alpha, const double *A,
                size_t lda, const double *x, double beta, double *y);
void ann__sgemv(int transA, size_t M, size_t N, float alpha, const float *A,
                size_t lda, const float *x, float beta, float *y);

void ann__dsyrk_tn(size_t N, size_t K, const double *A, double *C);
/* y += a x (n elements). */
void ann__daxpy(size_t n, double a, const double *x, double *y);
void ann__saxpy(size_t n, float a, const float *x, float *y);
/* OpenBLAS's thread count (read only). */
int ann__blas_threads(void);

/* One helper thread for a fit's element-wise work when OpenBLAS has more
 * than one thread (lib/helper.c).  ann__helper_run calls fn(ctx, lo, hi)
 * on disjoint chunks [lo, hi) of [0, n), at most `chunk` items each,
 * split between the calling thread and the helper, and returns the OR of
 * the results.  fn must compute the same bits for an item whichever chunk
 * holds it.  With h NULL (or n <= chunk) it is fn(ctx, 0, n).
 * ann__helper_start returns NULL if no thread could be started (then the
 * work stays on the caller). */
typedef struct ann__helper ann__helper;
typedef int (*ann__range_fn)(void *ctx, size_t lo, size_t hi);
ann__helper *ann__helper_start(void);
void ann__helper_stop(ann__helper *h);
int ann__helper_run(ann__helper *h, ann__range_fn fn, void *ctx, size_t n, size_t chunk);
/* Layer 0 in feature-major order (engine_tmpl.h, forward): whether
 * OpenBLAS's kernels are ones it was measured faster on (SkylakeX and
 * its successors, which share its GEMM kernels). */
int ann__blas_t0_kernels(void);
/* tests: 0 = by the rule, 1 = never, 2 = wherever the shapes allow it */
extern int ann__t0_mode;
extern int ann__helper_off;             /* tests: start none */
extern int ann__helper_sync;            /* tests: the helper takes every task */
extern atomic_ulong ann__helper_taken;  /* tests: tasks helpers took */

/* ---- LAPACKE adapter (linalg.c: the only file that includes lapacke.h) -- */
/* Eigen-decomposition of the symmetric n x n row-major A (upper triangle
 * read): eigenvalues ascending into w, eigenvectors as the columns of A.
 * ANN_OK, ANN_ERR_OUT_OF_MEMORY, ANN_ERR_NUMERIC (no convergence). */
ann_status ann__sym_eig(size_t n, double *A, double *w);
/* Q (m x n, column-major, m >= n) of the QR factorisation of A, in place,
 * with column j multiplied by sign(R_jj).  Statuses as above. */
ann_status ann__qr_q(size_t m, size_t n, double *A);
/* Solve A x = b for the SPD n x n A (row-major, upper triangle read and
 * overwritten by its Cholesky factor); b is overwritten by x.  ANN_OK,
 * ANN_ERR_NUMERIC (not positive definite), ANN_ERR_OUT_OF_MEMORY. */
ann_status ann__posv(size_t n, double *A, double *b);

/* ---- preprocessing (prep.c) ------------------------------------------- */
/* Fit the transform of mode m->s.preprocess from rows idx[0..n) of X (or
 * rows 0..n when idx is NULL) into *out (allocated; mode 0 for NONE).
 * Does not change the model.  Records a message on failure. */
struct ann__view;
ann_status ann__prep_fit(const ann *m, const char *fn, const struct ann__view *X,
                         const size_t *idx, size_t n, ann__prep *out);
void ann__prep_free(ann__prep *p);
size_t ann__prep_mat_len(int mode, size_t n_inputs); /* 0, n, n*n */
int ann__prep_copy(ann__prep *dst, const ann__prep *src, size_t n_inputs);

/* ---- engine (engine.c, instantiated per precision) --------------------- */

/* A validated view of a caller matrix (see ann_matrix). */
typedef struct ann__view {
    int dtype;                /* ANN_DTYPE_* */
    size_t rows, cols;
    ptrdiff_t rs, cs;         /* strides in elements */
    const void *data;
} ann__view;

/* A contiguous row-major double matrix as a view. */
static inline ann__view ann__dense(const double *A, size_t rows, size_t cols)
{
    ann__view v = {ANN_DTYPE_F64, rows, cols, (ptrdiff_t)cols, 1, A};
    return v;
}

static inline double ann__view_get(const ann__view *v, size_t i, size_t j)
{
    ptrdiff_t off = (ptrdiff_t)i * v->rs + (ptrdiff_t)j * v->cs;
    return v->dtype == ANN_DTYPE_F32 ? (double)((const float *)v->data)[off]
                                     : ((const double *)v->data)[off];
}

/* Where one batch's rows come from: caller views of inputs and targets or
 * labels, optionally through a row index. */
typedef struct ann__batch_src {
    const ann__view *X;
    const ann__view *Y;       /* or NULL with labels / for prediction */
    const int32_t *labels;    /* or NULL */
    const size_t *idx;        /* row indices, or NULL = consecutive rows */
    int scale_y;              /* training: targets through m->tgt */
    int check_x;              /* gather checks the X rows (see ann__gather) */
    int defer_x;              /* ... rows of T with unit column stride
                               * (in place or copied, no input transform)
                               * through layer 0 instead */
} ann__batch_src;

/* 1 if the calling thread runs with an invalid-operation or overflow trap
 * enabled (glibc's feenableexcept), or if that cannot be known: inputs
 * must then be checked before any arithmetic touches them. */
int ann__fp_traps(void);

/* Work buffers for batches of up to `cap` rows, allocated once. */
typedef struct ann__ws {
    size_t cap;
    void *x, *y;              /* cap x n_inputs, cap x n_outputs */
    void **a;                 /* per layer: cap x units[l] */
    void *z_out;              /* cap x n_outputs (pre-activation output) */
    void *d0, *d1;            /* cap x max_width deltas */
    void *grad;               /* n_params (training only) */
    void *xt;                 /* cap x n_inputs: whitened inputs, or NULL */
    void *block;              /* the single allocation */
    /* Gradient hooks for data-parallel training (lib/mpi.c); ann__ws_init
     * zeroes them, which keeps the single-process meaning.  grad_scale > 0
     * replaces the 1/B factor of ann__backward (a rank computing its share
     * of a global batch passes 1/B_global, so the summed shares are the
     * global mean); skip_l2 leaves the L2 term out (added once after the
     * sum).  ws->grad may be pointed at a caller buffer of n_params
     * elements before ann__backward/ann__update. */
    double grad_scale;
    int skip_l2;
    /* ws->grad holds zeros (set by ann__ws_init for training and by the
     * fused update, which clears the gradient as it consumes it): the
     * weight-gradient GEMM then accumulates (beta = 1) instead of having
     * OpenBLAS zero its output first.  Clear it when pointing grad at
     * another buffer. */
    int grad_zero;
    /* Input rows whose check gather left to forward (read in place or
     * copied unconverted, with src->defer_x: predict's fused path and a
     * fit's first epoch): 1 after such a gather; forward then checks layer 0's
     * pre-activations instead and leaves 2 here if any is not finite
     * (the rows must then be checked), 0 if all are. */
    int x_deferred;
    /* Layer 0 in feature-major order (engine_tmpl.h t0_use): set by
     * forward for the forward/backward pair on these buffers when t0_ok
     * (set by the training calls, whose backward knows it) and the rule
     * allow it.
     * Layer 0's pre-activations and activations (a[0]) are then u0 x B,
     * its deltas too; every other buffer keeps its row-major layout. */
    int t0_ok;
    int t0;
    /* Weights stepped by plain SGD's fused GEMM (backward_update on a
     * BLAS-sized layer, B > 1) are not checked by the step: it sets this
     * to 1.  The next forward then looks at row 0 of every BLAS-sized
     * layer's pre-activations and leaves 2 here if one is not finite (a
     * NaN or infinite weight makes its whole column non-finite, whatever
     * the inputs: NaN*x, Inf*0 and Inf-Inf are NaN).  The caller must
     * resolve it: ann__params_bad after a 2 (the cause may instead be
     * inputs that overflow), or after the last step when no forward
     * follows; then set it back to 0. */
    int w_pending;
    /* Momentum's carried velocity.  On a BLAS-sized layer, plain momentum
     * (not Nesterov's) on one OpenBLAS thread takes
     * V <- mu V + D^T A + l2 W as the weight-gradient GEMM's C with
     * beta = 1 onto V already holding mu V + l2 W, then one pass steps
     * W -= lr V and, when another step follows, leaves mu V + l2 W (new W)
     * in V for it.  carry_next is set by the caller before a step when the
     * next step follows with more than one row and nothing reads the
     * optimizer state in between (ann_fit: within an epoch); v_carried
     * says the previous step did so.  Zero (ann__ws_init) never carries:
     * at the end of every ann_fit epoch, ann_train_batch and lib/mpi.c's
     * steps V is the velocity itself. */
    int carry_next;
    int v_carried;
    /* The fit's helper thread (ann__helper_run), or NULL: set by the
     * caller that owns it; ann__ws_init leaves NULL. */
    ann__helper *helper;
} ann__ws;

int ann__ws_init(ann__ws *ws, const ann *model, size_t cap, int training);
void ann__ws_free(ann__ws *ws);

/* Rows [start, start+count) of src (through idx) as batch matrices in the
 * model's precision: *xp (count x n_inputs), *yp (count x n_outputs).
 * They point into ws, or straight into the caller's arrays when no
 * conversion or reordering is needed.  With src->check_x, returns 1 if an
 * X row holds a value that is not finite (or, for float models, beyond
 * float's range) - checked on the same pass as the copy - and the batch
 * must not be used; otherwise 0.  With src->defer_x too, rows of the
 * model's type with unit column stride, used in place or copied (and no
 * input transform), are not checked here: ws->x_deferred is set
 * and forward checks layer 0's pre-activations instead, fewer values and
 * still in cache (a non-finite input makes every pre-activation of its row
 * non-finite: NaN*w, Inf*0 and Inf-Inf are NaN, Inf*w is Inf), so the
 * caller's rows are read once, by the product or the copy.  Only without
 * FP traps (ann__fp_traps): a bad value reaching the product would raise
 * one. */
int ann__gather(const ann *m, ann__ws *ws, const ann__batch_src *src,
                size_t start, size_t count, const void **xp, const void **yp);
/* Forward B rows of x.  Returns the output matrix (B x n_out, in ws). */
const void *ann__forward(const ann *m, ann__ws *ws, const void *x, size_t B);
/* Sum over the B rows of the per-row loss against y (after forward). */
double ann__loss_sum(const ann *m, const ann__ws *ws, const void *y, size_t B);
/* Gradient of the mean loss of the B rows into ws->grad, L2 included
 * (after forward on the same x). */
void ann__backward(const ann *m, ann__ws *ws, const void *x, const void *y, size_t B);
/* Apply one optimizer step from ws->grad with learning rate lr.  Returns 0,
 * or -1 if a new weight or state value is non-finite (the model is then
 * partially updated; the caller restores it). */
int ann__update(ann *m, const ann__ws *ws, double lr);
/* ann__backward then ann__update, fused: each layer's step is applied as
 * soon as its gradient is complete (the same bits).  ws->grad is left
 * holding zeros: the update clears it as it goes, and a one-row step
 * without L2 never writes it (each weight's gradient is formed where the
 * update uses it; tests/test_isa.c checks it against the two passes). */
int ann__backward_update(ann *m, ann__ws *ws, const void *x, const void *y, size_t B,
                         double lr);
/* Copy the B x n_out outputs into rows [start, start+B) of a view (whose
 * data is writable: it came from an output ann_matrix). */
void ann__store_output(const ann *m, const void *out, size_t B, const ann__view *Y,
                       size_t start);

/* Map B rows of network outputs (in ws) back through m->tgt, in place. */
void ann__unscale_out(const ann *m, ann__ws *ws, size_t B);
/* Fit the target scaler (2*n_out doubles, allocated) from rows idx[0..n)
 * of Y; NULL on out of memory. */
double *ann__tgt_fit(const ann *m, const struct ann__view *Y, const size_t *idx, size_t n);

/* Products of at most this many multiply-adds (batch x units x fan-in)
 * run as plain loops instead of BLAS calls (engine_tmpl.h says why). */
#define ANN__DIRECT_MAX 4096
/* Rows ahead whose start a shuffled gather prefetches (engine_tmpl.h). */
#define ANN__GATHER_AHEAD 8
/* With the fit's helper thread (ann__ws.helper): gathers that copy at
 * least this many bytes of rows, and optimizer passes over at least
 * ANN__HELPER_UPDATE_MIN parameters (in chunks of ANN__HELPER_UPDATE_CHUNK),
 * are split with it.  Below, waking it costs more than it saves. */
#define ANN__HELPER_GATHER_MIN (64u * 1024u)
#define ANN__HELPER_UPDATE_MIN 16384u
#define ANN__HELPER_UPDATE_CHUNK 4096u
/* Request the cache lines of the first ANN__PREFETCH_BYTES of row `row`
 * of the view v (the hardware prefetcher follows a longer row).  No
 * effect on any result.  A macro, not a function: GCC deems a function of
 * nothing but prefetches free of side effects and deletes its calls. */
#define ANN__PREFETCH_BYTES 256
#if defined(__GNUC__)
#define ANN__PREFETCH_ROW(v, row)                                              \
    do {                                                                       \
        size_t es_ = (v)->dtype == ANN_DTYPE_F32 ? sizeof(float) : sizeof(double); \
        const char *p_ = (const char *)(v)->data +                             \
                         (ptrdiff_t)(row) * (v)->rs * (ptrdiff_t)es_;          \
        size_t len_ = (v)->cs == 1 ? (v)->cols * es_ : es_;                    \
        if (len_ > ANN__PREFETCH_BYTES)                                        \
            len_ = ANN__PREFETCH_BYTES;                                        \
        for (size_t o_ = 0; o_ < len_; o_ += 64)                               \
            __builtin_prefetch(p_ + o_);                                       \
        __builtin_prefetch(p_ + len_ - 1);                                     \
    } while (0)
#else
#define ANN__PREFETCH_ROW(v, row) ((void)(v), (void)(row))
#endif
/* Widths up to this take ann_predict's one-row path (stack buffers). */
#define ANN__SMALL_W 256
/* Every layer a direct product at one row and every width <= ANN__SMALL_W,
 * no input transform or target scaler: ann__predict1 applies. */
static inline int ann__small_net(const ann *m)
{
    if (m->max_width > ANN__SMALL_W || m->prep.mode || m->tgt)
        return 0;
    for (size_t l = 0; l < m->n_layers; l++)
        if (m->units[l] * m->fan_in[l] > ANN__DIRECT_MAX)
            return 0;
    return 1;
}
/* One row through a small net (see ann__small_net): 0, or 1 if the row
 * is not finite (nothing written). */
int ann__predict1(const ann *m, const double *x, double *y);

/* 0 if every element of v is finite (and, with f32_limit, within float's
 * range), else 1: the fast pass of ann__check_view. */
int ann__scan(const ann__view *v, int f32_limit);
/* 1 if a parameter of m is NaN or infinite, else 0. */
int ann__params_bad(const ann *m);

/* The B*n_out x n_params Jacobian of the outputs (after forward on x). */
void ann__jacobian(const ann *m, ann__ws *ws, const void *x, size_t B, void *J);

/* ---- Levenberg-Marquardt (lm.c) ---------------------------------------- */
#define ANN__LM_MAX_PARAMS 4096u
typedef struct ann__lm {
    size_t P, chunk;
    double mu;
    double *A, *M, *g, *rhs, *w0, *J, *e;
    ann__ws ws;
} ann__lm;
/* Can this model train with LM?  ANN_ERR_UNSUPPORTED (message set) if not. */
ann_status ann__lm_check(ann *m, const char *fn);
/* Buffers for n training rows: 0, -1 OOM, -2 too large. */
int ann__lm_init(ann *m, ann__lm *lm, size_t n);
void ann__lm_free(ann__lm *lm);
/* One LM iteration over rows [0, n) of src; *loss = mean training loss
 * after it.  ANN_OK (also when no step lowered the loss: weights kept),
 * ANN_ERR_DIVERGED, ANN_ERR_NUMERIC, ANN_ERR_OUT_OF_MEMORY (messages set). */
ann_status ann__lm_epoch(ann *m, ann__lm *lm, const ann__batch_src *src, size_t n,
                         const char *fn, double *loss);

/* ---- kernel tables (engine.c, once per instruction set; isa.c) ------- */
/* The precision-dispatching engine entry points of one build of engine.c;
 * the ann__ functions above call through the table isa.c chose. */
typedef struct ann__kernels {
    int (*gather)(const ann *, ann__ws *, const ann__batch_src *, size_t, size_t,
                  const void **, const void **);
    const void *(*forward)(const ann *, ann__ws *, const void *, size_t);
    double (*loss_sum)(const ann *, const ann__ws *, const void *, size_t);
    void (*backward)(const ann *, ann__ws *, const void *, const void *, size_t);
    int (*update)(ann *, const ann__ws *, double);
    int (*backward_update)(ann *, ann__ws *, const void *, const void *, size_t, double);
    void (*store_output)(const ann *, const void *, size_t, const ann__view *, size_t);
    void (*jacobian)(const ann *, ann__ws *, const void *, size_t, void *);
    void (*unscale_out)(const ann *, ann__ws *, size_t);
    int (*scan)(const ann__view *, int);
    int (*predict1)(const ann *, const double *, double *);
} ann__kernels;
extern const ann__kernels ann__kernels_generic;
#if defined(ANN_HAVE_AVX2)
extern const ann__kernels ann__kernels_avx2;
#endif
enum { ANN__ISA_AUTO = 0, ANN__ISA_GENERIC = 1, ANN__ISA_AVX2 = 2 };
/* Tests: pin the kernel table (process-wide).  0, or -1 if this build or
 * CPU lacks the instruction set. */
int ann__isa_select(int isa);
/* The table in use (ANN__ISA_GENERIC or ANN__ISA_AVX2). */
int ann__isa_current(void);

/* Precision-independent parameter access. */
double ann__param_get(const ann *m, size_t i);
void ann__param_set(ann *m, size_t i, double v);

/* ---- checksum (crc32c.c) ---------------------------------------------- */
/* CRC-32C of n bytes, continuing from crc (0 to start):
 * crc(a || b) == ann__crc32c_update(ann__crc32c_update(0, a), b). */
uint32_t ann__crc32c_update(uint32_t crc, const void *data, size_t n);

/* ---- training helpers shared by train.c and mpi.c (train.c) ------------ */
/* The state a divergence rollback restores: weights, optimizer state and
 * counters; buf holds 3 * n_params elements. */
typedef struct ann__snapshot {
    void *buf;
    uint64_t steps, decay_epochs;
} ann__snapshot;
void ann__snap_take(const ann *m, ann__snapshot *s);
void ann__snap_restore(ann *m, const ann__snapshot *s);
/* The learning rate of the current epoch (ANN_PARAM_LR_DECAY applied). */
double ann__current_lr(const ann *m);
/* Labels in [0, n_outputs), or {0, 1} for one output. */
ann_status ann__check_labels(ann *m, const char *fn, const int32_t *labels, size_t n_rows);
/* idx = 0..n_rows-1, with the last n_val the validation rows drawn from
 * the seed (when shuffling), both parts in ascending order. */
void ann__split_rows(const ann *m, size_t *idx, size_t n_rows, size_t n_val);

/* ---- views and data checks (view.c) ------------------------------------ */
/* Validate a public ann_matrix for a call: shape (cols must equal
 * want_cols, rows must equal want_rows unless it is 0), dtype, strides,
 * offset overflow, self-overlap for outputs. */
ann_status ann__view_from(const ann *m, int mutating, const char *fn, const char *name,
                          const ann_matrix *M, size_t want_rows, size_t want_cols,
                          int output, ann__view *out);
/* NaN/Inf anywhere (message names row and column), and for float32 models
 * values beyond float's range. */
ann_status ann__check_view(const ann *m, int mutating, const char *name, const ann__view *v);
/* Cross-entropy targets in [0, 1]. */
ann_status ann__check_unit_range(const ann *m, int mutating, const char *fn,
                                 const char *name, const ann__view *v);
/* The pointer API: a row-major double array as a public view, and the
 * checks it makes itself before that (NULL model or arrays, zero or
 * overflowing row counts), naming the arrays as that API does. */
ann_matrix ann__dense_matrix(const double *A, size_t rows, size_t cols);
ann_status ann__ptr_args(const ann *m, const char *fn, const double *X, const void *Y,
                         const char *yname, size_t n_rows);
/* Contiguous double matrix: the two above on a dense view. */
ann_status ann__check_matrix(const ann *m, int mutating, const char *name,
                             const double *A, size_t rows, size_t cols);

/* ---- bench/issue 6 additions (isa.c) ------------------------------------ */
/* As ann__ws_init, laid out in buf (64-byte aligned, buf_bytes long)
 * instead of a new allocation; returns 1 if it does not fit (ws->block
 * stays NULL, so ann__ws_free is a no-op for it). */
int ann__ws_init_buf(ann__ws *ws, const ann *model, size_t cap, int training,
                     void *buf, size_t buf_bytes);

#endif
