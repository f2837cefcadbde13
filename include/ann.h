/*
 * ann.h - libann, feed-forward neural networks (multi-layer perceptrons)
 * with a stable C ABI.  SPDX-License-Identifier: MIT
 *
 * WHAT IT DOES
 *   A network has n_inputs inputs and a stack of dense layers.  Layer l has
 *   units[l] neurons and one activation; neuron j computes the weighted sum
 *   of its inputs plus a bias, then applies the activation.  Training is
 *   backpropagation with (mini-batch) stochastic gradient descent or one of
 *   the optimizers below; every heavy product is a BLAS call (OpenBLAS);
 *   eigen-decompositions, QR and Cholesky solves are LAPACKE calls.
 *
 * DATA LAYOUT
 *   Matrices are dense and row-major.  X is n_rows x n_inputs, Y is
 *   n_rows x n_outputs (n_outputs = units of the last layer).  The weights
 *   of layer l are a units[l] x fan_in matrix, row j holding neuron j's
 *   incoming weights (the layout of PyTorch's nn.Linear.weight), plus a
 *   bias vector of units[l] entries; fan_in is n_inputs for layer 0 and
 *   units[l-1] after it.
 *
 * LOSS CONVENTION
 *   The loss of a set of rows is the mean over rows of the per-row loss.
 *   Squared error:  1/2 * sum_k (y_k - yhat_k)^2.
 *   Cross-entropy:  -sum_k y_k log yhat_k for a softmax output layer;
 *                   -sum_k [y_k log yhat_k + (1-y_k) log(1-yhat_k)] for a
 *                   sigmoid output layer (the binary form; one term per
 *                   output).  Cross-entropy needs a softmax or sigmoid
 *                   output layer and targets in [0, 1].
 *   One plain-SGD step on a batch moves every weight w by
 *   -learning_rate * d(batch loss)/dw.
 *
 * OWNERSHIP
 *   The library never keeps a caller's pointer past the call and never
 *   hands out pointers into its own storage, except the strings returned by
 *   ann_status_str (static), ann_version_string (static) and ann_errmsg
 *   (see there).  Output buffers are provided by the caller.
 *
 * THREADING
 *   Different handles may be used from any threads at any time.  On one
 *   handle, the const calls (ann_predict, ann_predict_labels,
 *   ann_evaluate, ann_get_weights, ann_get_param, ann_clone, ...) may run
 *   from many threads at once and give bitwise the result of a serial
 *   call.  A call that changes the handle (ann_fit, ann_train_batch,
 *   ann_set_param, ann_set_weights, ...) is exclusive: if it overlaps any
 *   other call on the same handle, one of them returns ANN_ERR_BUSY and the
 *   handle is left untouched by the busy call.  libann never changes
 *   process-wide OpenBLAS settings; it bounds the number of its own threads
 *   that are inside OpenBLAS at one time (OpenBLAS runs out of per-thread
 *   buffers when ~150 threads call it at once).
 *
 * ERRORS
 *   Every call that can fail returns an ann_status.  ANN_OK is 0.  A failing
 *   call leaves the model exactly as it was (training that diverges or is
 *   stopped documents what it keeps) and records a message naming the
 *   argument, and the row and column of non-finite data: ann_errmsg().
 *   libann never prints, never calls exit/abort, and never lets OpenBLAS's
 *   error handler run (all arguments are checked before BLAS is called).
 */
#ifndef ANN_H
#define ANN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------ */
#if defined(_WIN32) && defined(ANN_BUILDING_LIBRARY)
#define ANN_API __declspec(dllexport)
#elif defined(ANN_BUILDING_LIBRARY) && defined(__GNUC__)
#define ANN_API __attribute__((visibility("default")))
#else
#define ANN_API
#endif

/* ---- version ----------------------------------------------------------- */
#define ANN_VERSION_MAJOR 1
#define ANN_VERSION_MINOR 0
#define ANN_VERSION_PATCH 0
#define ANN_VERSION_NUMBER \
    (ANN_VERSION_MAJOR * 10000 + ANN_VERSION_MINOR * 100 + ANN_VERSION_PATCH)
#define ANN__STR2(x) #x
#define ANN__STR(x) ANN__STR2(x)
#define ANN_VERSION_STRING \
    ANN__STR(ANN_VERSION_MAJOR) "." ANN__STR(ANN_VERSION_MINOR) "." ANN__STR(ANN_VERSION_PATCH)

/* The library's version as MAJOR*10000 + MINOR*100 + PATCH (may differ from
 * ANN_VERSION_NUMBER when a newer library is loaded).  @since 1.0 */
ANN_API unsigned ann_version_number(void);
/* The library's version as "MAJOR.MINOR.PATCH"; a static string.  @since 1.0 */
ANN_API const char *ann_version_string(void);

/* ---- status codes (values are fixed forever, never reused) -------------- */
typedef enum ann_status {
    ANN_OK = 0,
    ANN_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, zero size, out-of-range value */
    ANN_ERR_OUT_OF_MEMORY = 2,
    ANN_ERR_IO = 3,               /* a file could not be read or written */
    ANN_ERR_BAD_FORMAT = 4,       /* malformed, corrupt or unsupported model data */
    ANN_ERR_NON_FINITE = 5,       /* NaN or Inf in caller data */
    ANN_ERR_DIVERGED = 6,         /* training produced NaN/Inf; weights rolled back */
    ANN_ERR_TOO_LARGE = 7,        /* sizes overflow size_t or exceed BLAS's int */
    ANN_STOPPED = 8,              /* the progress callback asked to stop */
    ANN_ERR_BUSY = 9,             /* another call is using this handle */
    ANN_ERR_BUFFER_TOO_SMALL = 10, /* caller's buffer too small; size reported */
    ANN_ERR_UNSUPPORTED = 11,     /* valid request this build/model cannot do */
    ANN_ERR_NUMERIC = 12          /* a factorization failed (singular, not SPD) */
} ann_status;

/* A static, never-NULL description of a status ("invalid argument", ...);
 * unknown values give "unknown status".  @since 1.0 */
ANN_API const char *ann_status_str(ann_status status);

/* ---- types and enums --------------------------------------------------- */

/* An opaque network handle. */
typedef struct ann ann;

/* Activation functions (values fixed).
 * ANN_ACT_STEP is the threshold (binary step): 1 if z > 0, else 0.  It has
 * no useful derivative; training uses the straight-through rule (the
 * derivative is taken as 1), which makes a single step-activated layer
 * trained with squared error the classic perceptron learning rule.
 * ANN_ACT_LEAKY_RELU: z if z > 0 else slope*z (ANN_PARAM_LEAKY_SLOPE).
 * ANN_ACT_SOFTMAX is allowed on the output layer only, with >= 2 units. */
typedef enum ann_activation {
    ANN_ACT_IDENTITY = 0,
    ANN_ACT_STEP = 1,
    ANN_ACT_SIGMOID = 2,
    ANN_ACT_TANH = 3,
    ANN_ACT_RELU = 4,
    ANN_ACT_LEAKY_RELU = 5,
    ANN_ACT_SOFTMAX = 6
} ann_activation;

/* Values of ANN_PARAM_LOSS. */
typedef enum ann_loss {
    ANN_LOSS_SQUARED_ERROR = 0,
    ANN_LOSS_CROSS_ENTROPY = 1
} ann_loss;

/* Values of ANN_PARAM_INIT.  Biases: small uniform for ANN_INIT_SMALL_UNIFORM,
 * zero otherwise.
 *   SMALL_UNIFORM  U(-1/sqrt(fan_in), 1/sqrt(fan_in)), never exactly 0 (the
 *                  introductory recipe: small, non-zero, random)
 *   XAVIER         U(-a, a), a = sqrt(6/(fan_in+fan_out))   (Glorot)
 *   HE             N(0, 2/fan_in)                            (He, normal) */
typedef enum ann_init {
    ANN_INIT_SMALL_UNIFORM = 0,
    ANN_INIT_XAVIER = 1,
    ANN_INIT_HE = 2,
    ANN_INIT_ORTHOGONAL = 3     /* @since 1.0: each W_l is a (semi-)orthogonal
                                   matrix times ANN_PARAM_INIT_GAIN: the Q of
                                   a QR factorisation (LAPACKE dgeqrf/dorgqr)
                                   of a seeded Gaussian matrix, columns sign-
                                   corrected by diag(R) (Saxe et al.; as Keras
                                   and PyTorch).  W W^T = gain^2 I when
                                   units <= fan_in, W^T W = gain^2 I
                                   otherwise.  Biases zero. */
} ann_init;

/* Values of ANN_PARAM_PREPROCESS (@since 1.0).  The transform is fitted
 * by ann_fit / ann_fit_labels (and their views) on the training rows (the
 * validation rows excluded), stored in the model (in double, whatever the
 * precision) and saved with it, and applied to the inputs by every call
 * that reads X: prediction, evaluation and training.  With mean m (per
 * feature) and the population covariance C = E[(x-m)(x-m)^T] = V L V^T
 * (eigenvalues l_i, from LAPACKE dsyevd), the network sees
 *   STANDARDIZE  x'_j = (x_j - m_j) / sd_j; a feature whose sd is 0 (or
 *                below 1e-12 times max(1, |m_j|)) is only centred (x' = 0
 *                on the training rows), never divided by zero
 *   PCA          x' = D^{-1/2} V^T (x - m): decorrelated components ordered
 *                by decreasing variance (all n_inputs kept)
 *   ZCA          x' = V D^{-1/2} V^T (x - m): decorrelated, closest to x
 * with D = diag(max(l_i, 0) + eps * l_max), eps = ANN_PARAM_WHITEN_EPSILON.
 * After PCA/ZCA the training inputs' covariance is the identity up to
 * about eps * l_max / l_i.  Whitening needs n_inputs <= 8192. */
typedef enum ann_preprocess {
    ANN_PREPROCESS_NONE = 0,
    ANN_PREPROCESS_STANDARDIZE = 1,
    ANN_PREPROCESS_PCA = 2,
    ANN_PREPROCESS_ZCA = 3
} ann_preprocess;

/* Values of ANN_PARAM_PRECISION. */
typedef enum ann_precision {
    ANN_PRECISION_F64 = 0,
    ANN_PRECISION_F32 = 1
} ann_precision;

/* Values of ANN_PARAM_OPTIMIZER. */
typedef enum ann_optimizer {
    ANN_OPTIMIZER_SGD = 0,      /* w -= lr*g */
    ANN_OPTIMIZER_MOMENTUM = 1, /* v = mu*v + g; w -= lr*v  (Nesterov: w -= lr*(g + mu*v)) */
    ANN_OPTIMIZER_ADAM = 2,     /* Kingma & Ba, bias-corrected */
    ANN_OPTIMIZER_LEVENBERG_MARQUARDT = 3 /* @since 1.0.  Second order, for
                                   small regression networks (MATLAB's
                                   trainlm).  Each epoch is one iteration
                                   over all training rows (batch size,
                                   shuffle and learning rate are ignored):
                                   with residuals e = yhat - y and their
                                   Jacobian J (one backward pass per
                                   output), solve (J^T J + mu I) d = -J^T e
                                   by Cholesky (LAPACKE dposv); the step is
                                   taken if the training loss drops (then
                                   mu /= ANN_PARAM_LM_MU_FACTOR), otherwise
                                   mu *= factor and it retries (at most 12
                                   times, mu <= 1e10; if no step helps the
                                   weights stay for that epoch).  mu starts
                                   at ANN_PARAM_LM_MU at every fit.
                                   Limits: squared-error loss, float64
                                   models, at most 4096 parameters (J^T J
                                   is P x P: 128 MB); otherwise ann_fit*
                                   returns ANN_ERR_UNSUPPORTED.  L2 is not
                                   applied.  ann_train_batch returns
                                   ANN_ERR_UNSUPPORTED.  A failed Cholesky
                                   for every mu is not an error (weights
                                   kept); other LAPACK failures are
                                   ANN_ERR_NUMERIC. */
} ann_optimizer;

/* Parameter keys (values fixed, grouped in ranges).  Each comment gives
 * the default and the valid range (also queryable: ann_param_bounds).
 * Integer-valued keys reject non-integral values.  Setting a key never
 * changes the weights unless its comment says so. */
typedef enum ann_param {
    /* 100..199: the training loop */
    ANN_PARAM_LEARNING_RATE = 100, /* 0.01, (0, 1e6] */
    ANN_PARAM_BATCH_SIZE = 101,    /* 32, [0, 2^31-1]: 1 = per-sample SGD;
                                      0 or >= n_rows = full-batch gradient
                                      descent; otherwise mini-batches (the
                                      last of an epoch may be smaller) */
    ANN_PARAM_EPOCHS = 102,        /* 10, [1, 2^31-1] */
    ANN_PARAM_SHUFFLE = 103,       /* 1, {0, 1}: reshuffle rows every epoch
                                      (from the seeded generator) */
    ANN_PARAM_SEED = 104,          /* 0, [0, 2^53]: seeds the generator for
                                      weights and shuffling.  Setting it
                                      re-draws the weights and resets the
                                      optimizer state. */
    ANN_PARAM_LOSS = 105,          /* ANN_LOSS_SQUARED_ERROR, an ann_loss */
    /* 200..299: the model */
    ANN_PARAM_INIT = 200,          /* ANN_INIT_SMALL_UNIFORM, an ann_init.
                                      Setting it re-draws the weights from
                                      the current seed and resets the
                                      optimizer state. */
    ANN_PARAM_LEAKY_SLOPE = 201,   /* 0.01, [0, 1) */
    ANN_PARAM_PRECISION = 202,     /* ANN_PRECISION_F64, an ann_precision.
                                      Switching converts the weights and
                                      optimizer state (F64->F32 rounds). */
    ANN_PARAM_INIT_GAIN = 203,     /* 1.0, (0, 1e3]: the gain of
                                      ANN_INIT_ORTHOGONAL (other inits
                                      ignore it).  Setting it does not
                                      re-draw the weights.  @since 1.0 */
    /* 300..399: optimizers and regularisation */
    ANN_PARAM_OPTIMIZER = 300,     /* ANN_OPTIMIZER_SGD, an ann_optimizer */
    ANN_PARAM_MOMENTUM = 301,      /* 0.9, [0, 1) */
    ANN_PARAM_NESTEROV = 302,      /* 0, {0, 1} */
    ANN_PARAM_ADAM_BETA1 = 303,    /* 0.9, [0, 1) */
    ANN_PARAM_ADAM_BETA2 = 304,    /* 0.999, [0, 1) */
    ANN_PARAM_ADAM_EPSILON = 305,  /* 1e-8, (0, 1] */
    ANN_PARAM_L2 = 306,            /* 0, [0, 1e6]: adds l2*w to the gradient
                                      of every weight (not biases) */
    ANN_PARAM_LR_DECAY = 307,      /* 0, [0, 1e6]: in epoch e (0-based,
                                      counted over the handle's life) the
                                      rate is lr / (1 + decay*e) */
    ANN_PARAM_LM_MU = 308,         /* 1e-3, (0, 1e10]: Levenberg-Marquardt's
                                      initial damping mu.  @since 1.0 */
    ANN_PARAM_LM_MU_FACTOR = 309,  /* 10, (1, 1e6]: mu is divided by it after
                                      an accepted step, multiplied by it
                                      after a rejected one.  @since 1.0 */
    /* 400..499: validation and early stopping */
    ANN_PARAM_VALIDATION_FRACTION = 400, /* 0, [0, 0.9]: hold out
                                      floor(fraction * n_rows) rows: the
                                      tail of a permutation drawn from
                                      ANN_PARAM_SEED alone (the last rows
                                      when shuffle is off), so every fit of
                                      the same data holds out the same rows */
    ANN_PARAM_PATIENCE = 401,      /* 0, [0, 2^31-1]: with validation, stop
                                      after this many epochs without a new
                                      best validation loss and restore the
                                      best weights; 0 = never stop early */
    /* 500..599: input preprocessing (@since 1.0) */
    ANN_PARAM_PREPROCESS = 500,    /* ANN_PREPROCESS_NONE, an ann_preprocess.
                                      Fitted by every ann_fit* call (a refit
                                      recomputes it from the new rows).
                                      ann_train_batch never refits: it uses
                                      the stored transform, and if none is
                                      fitted yet (mode != none) it fits one
                                      from its own rows first.  Prediction
                                      and evaluation apply the stored
                                      transform (none: inputs as given).
                                      Changing the value discards the fitted
                                      transform. */
    ANN_PARAM_WHITEN_EPSILON = 501, /* 1e-12, (0, 1]: relative regulariser
                                      of PCA/ZCA: eps * l_max is added to
                                      every covariance eigenvalue, so
                                      near-singular directions are damped,
                                      not blown up.  Used at the next fit. */
    ANN_PARAM_TARGET_SCALING = 502, /* 0, {0, 1}: 1 = z-score the regression
                                      targets per output (mean and sd of
                                      the training rows' Y, fitted like the
                                      input transform; a constant output is
                                      only centred).  The network trains on
                                      scaled targets (ANN_PARAM_TRAIN_LOSS
                                      and VALIDATION_LOSS are in scaled
                                      units); ann_predict returns outputs
                                      mapped back (y = out*sd + mean) and
                                      ann_evaluate's loss is in the
                                      original units.  Squared-error loss
                                      and ann_fit / ann_fit_view /
                                      ann_train_batch only: ann_fit_labels
                                      or cross-entropy with it return
                                      ANN_ERR_UNSUPPORTED.  Changing the
                                      value discards the fitted scaler. */
    /* 900..999: read-only facts and training results (set fails) */
    ANN_PARAM_EPOCHS_RUN = 900,    /* epochs completed by the last fit */
    ANN_PARAM_TRAIN_LOSS = 901,    /* mean training loss of the last epoch
                                      (of the batches as they were trained) */
    ANN_PARAM_VALIDATION_LOSS = 902, /* last epoch's validation loss, or NaN */
    ANN_PARAM_BEST_EPOCH = 903,    /* 1-based epoch of the best validation
                                      loss in the last fit, 0 if none */
    ANN_PARAM_STEPS = 904,         /* optimizer steps taken since the
                                      optimizer state was last reset */
    ANN_PARAM_N_INPUTS = 910,
    ANN_PARAM_N_OUTPUTS = 911,
    ANN_PARAM_N_LAYERS = 912,
    ANN_PARAM_N_PARAMETERS = 913   /* weights + biases */
} ann_param;

/* Per-epoch progress callback: epoch is 1-based within this fit; val_loss
 * is NaN without validation.  Return 0 to go on, non-zero to stop: the fit
 * then returns ANN_STOPPED with the weights as of this completed epoch.
 * While it runs the handle is held by the fit: ann_get_param works (e.g.
 * ANN_PARAM_EPOCHS_RUN), calls that need the handle return ANN_ERR_BUSY. */
typedef int (*ann_progress_fn)(void *user, size_t epoch, double train_loss,
                               double val_loss);

/* ---- lifecycle --------------------------------------------------------- */

/* Create a network with n_inputs inputs and n_layers dense layers; layer l
 * has units[l] neurons and activation activations[l].  Weights are drawn
 * with ANN_PARAM_INIT's default from seed 0; every parameter has its
 * default.  *out receives the handle (NULL on failure).
 * Returns ANN_OK, ANN_ERR_INVALID_ARGUMENT (NULL, zero sizes, unknown
 * activation, softmax on a hidden layer or with one unit),
 * ANN_ERR_TOO_LARGE (a size or the parameter count overflows or exceeds
 * 2^31-1), ANN_ERR_OUT_OF_MEMORY.  On failure the thread's message is set
 * (ann_errmsg(NULL)).  @since 1.0 */
ANN_API ann_status ann_create(ann **out, size_t n_inputs, size_t n_layers,
                              const size_t *units,
                              const ann_activation *activations);

/* Free the handle and everything it owns.  NULL is a no-op.  Must not race
 * another call on the same handle.  @since 1.0 */
ANN_API void ann_destroy(ann *model);

/* A deep, independent copy: architecture, weights, parameters, optimizer
 * and generator state, the progress callback.  @since 1.0 */
ANN_API ann_status ann_clone(const ann *model, ann **out);

/* ---- parameters -------------------------------------------------------- */

/* Set one parameter.  Returns ANN_ERR_INVALID_ARGUMENT for an unknown or
 * read-only key, a NaN, a non-integral value for an integer key, a value
 * out of range, or cross-entropy without a softmax/sigmoid output layer;
 * the model is then unchanged.  @since 1.0 */
ANN_API ann_status ann_set_param(ann *model, ann_param key, double value);

/* Read one parameter (or a read-only fact) into *value.  @since 1.0 */
ANN_API ann_status ann_get_param(const ann *model, ann_param key, double *value);

/* The valid range and default of a settable key (any pointer may be NULL).
 * Returns ANN_ERR_INVALID_ARGUMENT for unknown or read-only keys.  @since 1.0 */
ANN_API ann_status ann_param_bounds(ann_param key, double *min, double *max,
                                    double *default_value);

/* Reset every settable parameter to its default, except ANN_PARAM_SEED,
 * ANN_PARAM_INIT and ANN_PARAM_PRECISION, which shape the weights and are
 * kept (the weights are not touched).  @since 1.0 */
ANN_API ann_status ann_reset_params(ann *model);

/* Zero the optimizer state (velocities, Adam moments, step count) and the
 * epoch counter that learning-rate decay uses.  Weights are kept.  @since 1.0 */
ANN_API ann_status ann_reset_state(ann *model);

/* Re-draw all weights from ANN_PARAM_INIT and the current generator state
 * and reset the optimizer state.  @since 1.0 */
ANN_API ann_status ann_reinit(ann *model);

/* Describe layer `layer`: its units, fan-in and activation (any output
 * pointer may be NULL).  @since 1.0 */
ANN_API ann_status ann_layer_info(const ann *model, size_t layer, size_t *units,
                                  size_t *fan_in, ann_activation *activation);

/* Install (or with fn == NULL remove) the per-epoch progress callback.
 * user is passed back untouched.  @since 1.0 */
ANN_API ann_status ann_set_progress(ann *model, ann_progress_fn fn, void *user);

/* ---- training ---------------------------------------------------------- */

/* Train on n_rows rows for ANN_PARAM_EPOCHS epochs, continuing from the
 * current weights, optimizer state and generator (a warm start: two fits
 * of E epochs give bitwise the weights of one fit of 2E epochs).
 * Reproducibility: the same seed, data, parameters, call sequence and
 * OpenBLAS thread count give bitwise the same weights.  Across thread
 * counts the weights agree to rounding, and are bitwise equal only where
 * OpenBLAS's split of each product between its threads leaves its
 * kernels' rounding alone: with OpenBLAS 0.3.21, a float64 64-256-128-10
 * net at batch 128 (tested with 1 and 2 threads), but not float32, nor
 * float64 with 300 inputs at batch 250 (tested to agree within 1e-12 of
 * the largest weight in float64, 1e-5 in float32).  Not guaranteed across
 * OpenBLAS versions, CPU kernels (OPENBLAS_CORETYPE) or precisions.
 * With OpenBLAS on more than one thread (and a batch or optimizer pass
 * large enough to split), the call runs one helper thread of its own,
 * started and joined within the call, for the copy of shuffled rows and
 * the optimizer's element-wise passes: the weights are bitwise the same
 * as without it (since 1.1).  With
 * validation and patience > 0, the best epoch's weights are restored at the end of the fit (whether it
 * stopped early or ran all epochs); the optimizer state is not rewound.  X: n_rows x
 * n_inputs, Y: n_rows x n_outputs, row-major, finite; for cross-entropy Y
 * must lie in [0, 1].  With shuffle off, batch size >= n_rows (or 0), and
 * one epoch, this is exactly one gradient-descent step.
 * Returns ANN_OK; ANN_ERR_INVALID_ARGUMENT, ANN_ERR_NON_FINITE (message
 * names the array, row and column; X's values may be checked as
 * the first epoch reads each row - rows of the model's type with unit
 * column stride through layer 0's pre-activations (so FE_INVALID may be
 * left raised in the thread's status flags), unless FE_INVALID or
 * FE_OVERFLOW is trapped; other rows before they enter any arithmetic - and
 * a bad one then undoes what the epoch had done, so the model is unchanged
 * all the same, and a bad row is reported even if training diverged
 * before reaching it), ANN_ERR_TOO_LARGE, ANN_ERR_OUT_OF_MEMORY
 * (model unchanged); ANN_ERR_DIVERGED (a batch produced NaN/Inf: weights and
 * optimizer state are restored to the state before that step - or, in the
 * rare case where the update itself overflowed, and for momentum on one
 * OpenBLAS thread, whose velocity between two steps of an epoch is kept
 * pre-scaled, to the start of that epoch - and the message says which and
 * names the epoch and batch); ANN_STOPPED (callback);
 * ANN_ERR_BUSY; since 1.1 also ANN_ERR_UNSUPPORTED (Levenberg-Marquardt or
 * target scaling limits, see there) and ANN_ERR_NUMERIC (a LAPACK
 * factorisation failed while fitting whitening), model unchanged.
 * @since 1.0 */
/* With ANN_PARAM_PREPROCESS != none, every call first (re)fits the input
 * transform from its training rows (the same rows give the same transform,
 * so the warm-start promise above holds).  With Levenberg-Marquardt the
 * damping mu restarts at every call, so two fits of E epochs differ from
 * one of 2E. */
ANN_API ann_status ann_fit(ann *model, const double *X, const double *Y,
                           size_t n_rows);

/* As ann_fit, with integer class labels instead of Y: for a softmax output
 * labels are in [0, n_outputs) (one-hot targets); for a single sigmoid
 * output they are 0 or 1.  Out-of-range labels are rejected naming the row.
 * @since 1.0 */
ANN_API ann_status ann_fit_labels(ann *model, const double *X,
                                  const int32_t *labels, size_t n_rows);

/* Exactly one optimizer step on exactly these rows (no shuffling, no
 * epochs, no validation).  Calling it on consecutive batches with shuffle
 * off gives bitwise the weights of ann_fit over the same rows.  @since 1.0 */
ANN_API ann_status ann_train_batch(ann *model, const double *X,
                                   const double *Y, size_t n_rows);

/* ---- prediction -------------------------------------------------------- */

/* Forward pass: Y (n_rows x n_outputs, caller-allocated) = network(X).
 * Softmax/sigmoid outputs are probabilities.  Thread-safe on one handle.
 * @since 1.0 */
ANN_API ann_status ann_predict(const ann *model, const double *X,
                               size_t n_rows, double *Y);

/* Class labels: argmax of the outputs (lowest index on ties), or for one
 * output unit 1 if the output is >= 0.5 else 0.  @since 1.0 */
ANN_API ann_status ann_predict_labels(const ann *model, const double *X,
                                      size_t n_rows, int32_t *labels);

/* *loss = the loss (ANN_PARAM_LOSS, no L2 term) of the network on these
 * rows.  @since 1.0 */
ANN_API ann_status ann_evaluate(const ann *model, const double *X,
                                const double *Y, size_t n_rows, double *loss);

/* ---- weights ----------------------------------------------------------- */

/* Copy layer `layer`'s weights (units x fan_in, row-major) into W and its
 * biases (units) into b; either may be NULL to skip it, not both.  @since 1.0 */
ANN_API ann_status ann_get_weights(const ann *model, size_t layer, double *W,
                                   double *b);

/* Replace layer `layer`'s weights and/or biases (either may be NULL to keep
 * it, not both).  Values must be finite.  The optimizer state is kept.
 * @since 1.0 */
ANN_API ann_status ann_set_weights(ann *model, size_t layer, const double *W,
                                   const double *b);

/* ---- array views (zero-copy access to callers' matrices) -------------- */

/* Element types of an ann_matrix. */
typedef enum ann_dtype {
    ANN_DTYPE_F64 = 0, /* double */
    ANN_DTYPE_F32 = 1  /* float */
} ann_dtype;

/* A view of a caller's matrix: element (i, j) is at
 *   ((T *)data)[i * row_stride + j * col_stride],   T per dtype,
 * strides in elements (not bytes) and possibly negative.  This covers
 * row-major (row_stride = cols, col_stride = 1), column-major / Fortran /
 * R (1, rows), transposed and sliced NumPy arrays (NumPy's byte strides
 * divided by the item size) without copying.  The layout of this struct is
 * frozen: it will never change (checked by tests/test_abi.c).  libann reads
 * input views and writes output views only inside the call.
 * Validation: data non-NULL, rows and cols > 0, dtype known, strides
 * non-zero, the farthest element's offset must not overflow; an output
 * view must not overlap itself (|col_stride| >= 1 and
 * |row_stride| >= cols*|col_stride|, or the transposed condition). */
typedef struct ann_matrix {
    ann_dtype dtype;
    size_t rows;
    size_t cols;
    ptrdiff_t row_stride;
    ptrdiff_t col_stride;
    void *data;
} ann_matrix;

/* The view forms of ann_fit, ann_fit_labels, ann_train_batch, ann_predict,
 * ann_predict_labels and ann_evaluate: same semantics, statuses and
 * results (bitwise equal to the double API on the same values; float32
 * data are exact in double), with X (rows x n_inputs) and Y
 * (rows x n_outputs) given as views; labels are a contiguous int32 array
 * of X->rows entries.  A float32 model given float32 row-major data reads
 * it in place.  @since 1.0 */
ANN_API ann_status ann_fit_view(ann *model, const ann_matrix *X, const ann_matrix *Y);
ANN_API ann_status ann_fit_labels_view(ann *model, const ann_matrix *X,
                                       const int32_t *labels);
ANN_API ann_status ann_train_batch_view(ann *model, const ann_matrix *X,
                                        const ann_matrix *Y);
ANN_API ann_status ann_predict_view(const ann *model, const ann_matrix *X,
                                    ann_matrix *Y);
ANN_API ann_status ann_predict_labels_view(const ann *model, const ann_matrix *X,
                                           int32_t *labels);
ANN_API ann_status ann_evaluate_view(const ann *model, const ann_matrix *X,
                                     const ann_matrix *Y, double *loss);

/* ---- persistence ------------------------------------------------------- */
/* A saved model holds everything needed to predict and to continue training
 * exactly where it stopped: architecture, activations, precision, every
 * settable parameter, the generator state, the optimizer state and step
 * counters, the results of the last fit, and the weights (bit for bit, in
 * the model's precision).  A loaded model continued with ann_fit gives
 * bitwise the weights the original would have reached.  Not saved: the
 * progress callback (a loaded model has none).
 *
 * The format (docs/FORMAT.md) is little-endian on every host, versioned,
 * and covered by CRC-32C checksums.  A file written by an older libann
 * always loads; a file needing a newer format version, or holding a
 * required section this library does not know, is refused with
 * ANN_ERR_UNSUPPORTED.  Any other damage - truncation, flipped bits,
 * trailing bytes, inconsistent or out-of-range fields, NaN/Inf weights -
 * is ANN_ERR_BAD_FORMAT; the loaders never read or allocate beyond what
 * the input holds (plus a small constant factor) and never crash or hang
 * on hostile input. */

/* Save the model to the file `path`, crash-safely: the bytes go to a new
 * temporary file in the same directory ("<path>.tmp-..."), which is
 * fsync'ed and then renamed over `path`; the directory is then fsync'ed
 * (best effort: file systems that refuse it are not an error).  A crash
 * or kill at any moment leaves `path` holding either its old content or
 * the complete new model, never a mix (a kill may leave the temporary
 * behind; a returned failure never does).  On failure `path` is untouched.
 * The new file gets the permissions of a newly created file (0666 minus
 * the umask); a symbolic link at `path` is replaced, not followed.
 * Note: a write past RLIMIT_FSIZE raises SIGXFSZ, whose default action
 * kills the process; ignore it to get ANN_ERR_IO instead.
 * A const call (may run alongside ann_predict).
 * Returns ANN_OK; ANN_ERR_INVALID_ARGUMENT (model or path NULL, path
 * empty); ANN_ERR_IO (the temporary cannot be created, written, synced or
 * renamed: no space, read-only or missing directory, file size limit, ...;
 * the message names the step and the system's reason);
 * ANN_ERR_OUT_OF_MEMORY; ANN_ERR_TOO_LARGE; ANN_ERR_BUSY.  @since 1.0 */
ANN_API ann_status ann_save(const ann *model, const char *path);

/* Load a model saved by ann_save (or ann_save_buffer, written to a file).
 * *out receives a new handle (NULL on failure), to be freed with
 * ann_destroy.  Only regular files are read (a directory, FIFO or device
 * is refused before any read, so nothing blocks); the file must be exactly
 * as long as its header says.
 * Returns ANN_OK; ANN_ERR_INVALID_ARGUMENT (out or path NULL); ANN_ERR_IO
 * (missing or unreadable path, not a regular file, read error);
 * ANN_ERR_BAD_FORMAT (not a model file, or corrupt: see above);
 * ANN_ERR_UNSUPPORTED (written by a newer libann in a format this library
 * cannot read); ANN_ERR_OUT_OF_MEMORY; ANN_ERR_TOO_LARGE.  The message is
 * the thread's: ann_errmsg(NULL).  @since 1.0 */
ANN_API ann_status ann_load(ann **out, const char *path);

/* Serialise the model into caller memory: the same bytes ann_save writes.
 * size must not be NULL.  With buf == NULL and capacity == 0 this is a
 * size query: *size = the bytes needed, ANN_OK, nothing written.
 * Otherwise, if capacity >= the size needed, the model is written to
 * buf[0 .. *size) and ANN_OK returned; if capacity is smaller, nothing is
 * written, *size = the bytes needed and ANN_ERR_BUFFER_TOO_SMALL returned.
 * The output is deterministic: one model state always gives the same
 * bytes.  A const call.  Returns also ANN_ERR_INVALID_ARGUMENT (model or
 * size NULL, buf NULL with capacity > 0), ANN_ERR_TOO_LARGE, ANN_ERR_BUSY.
 * @since 1.0 */
ANN_API ann_status ann_save_buffer(const ann *model, void *buf, size_t capacity,
                                   size_t *size);

/* Load a model from size bytes at buf (not kept past the call); *out as
 * for ann_load.  The bytes must be exactly one model: trailing bytes are
 * ANN_ERR_BAD_FORMAT.  buf may be NULL only when size is 0 (then
 * ANN_ERR_BAD_FORMAT).  Returns ANN_OK, ANN_ERR_INVALID_ARGUMENT (out NULL,
 * or buf NULL with size > 0), ANN_ERR_BAD_FORMAT, ANN_ERR_UNSUPPORTED,
 * ANN_ERR_OUT_OF_MEMORY.  @since 1.0 */
ANN_API ann_status ann_load_buffer(ann **out, const void *buf, size_t size);

/* ---- utilities --------------------------------------------------------- */

/* The message of the last failure: for model != NULL, the last failure of
 * this thread on this handle if its most recent failure was on it, else the
 * handle's last failing mutating call; for NULL, this thread's last failure
 * (any handle, or a failed ann_create).  Owned by the library, valid until
 * the next libann call on this thread or handle.  Never NULL ("" if none).
 * @since 1.0 */
ANN_API const char *ann_errmsg(const ann *model);

#ifdef __cplusplus
}
#endif
#endif /* ANN_H */
