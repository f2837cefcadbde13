/* lifecycle.c - create, destroy, clone, weights in and out, handle guards. */
#include "ann_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- guards ------------------------------------------------------------ */
/* Mutating calls take the handle exclusively; const calls count themselves
 * in.  A conflicting call gets ANN_ERR_BUSY instead of waiting: a training
 * call may run for minutes and silently blocking a predict is worse than
 * telling the caller. */
ann_status ann__lock_mut(ann *m)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&m->state, &expected, -1))
        return ann__fail(m, 0, ANN_ERR_BUSY, "the handle is in use by another call");
    return ANN_OK;
}

void ann__unlock_mut(ann *m) { atomic_store(&m->state, 0); }

ann_status ann__lock_const(const ann *cm)
{
    /* The handle was allocated non-const; only the guard word changes. */
    ann *m = (ann *)cm;
    int cur = atomic_load(&m->state);
    for (;;) {
        if (cur < 0)
            return ann__fail(cm, 0, ANN_ERR_BUSY, "the handle is being trained or changed");
        if (atomic_compare_exchange_weak(&m->state, &cur, cur + 1))
            return ANN_OK;
    }
}

void ann__unlock_const(const ann *cm) { atomic_fetch_sub(&((ann *)cm)->state, 1); }

/* ---- weights ----------------------------------------------------------- */
/* Orthogonal init of every layer into ws (sized for the largest layer). */
static ann_status draw_orthogonal(ann *m)
{
    size_t maxn = 0;
    for (size_t l = 0; l < m->n_layers; l++)
        if (m->units[l] * m->fan_in[l] > maxn)
            maxn = m->units[l] * m->fan_in[l];
    double *A = malloc(maxn * sizeof *A);
    if (!A)
        return ANN_ERR_OUT_OF_MEMORY;
    /* Drawn into a copy first: a LAPACK failure leaves the weights. */
    size_t pbytes = m->n_params * ann__elem_size(m->s.precision);
    void *np = malloc(pbytes);
    if (!np) {
        free(A);
        return ANN_ERR_OUT_OF_MEMORY;
    }
    void *old = m->params;
    memcpy(np, old, pbytes);
    m->params = np;
    double gain = m->s.init_gain;
    ann_status st = ANN_OK;
    for (size_t l = 0; l < m->n_layers && st == ANN_OK; l++) {
        size_t u = m->units[l], fan = m->fan_in[l];
        /* Tall rows x cols with rows >= cols, column-major. */
        size_t rows = u <= fan ? fan : u, cols = u <= fan ? u : fan;
        for (size_t i = 0; i < rows * cols; i++)
            A[i] = ann__rng_normal(m->rng);
        st = ann__qr_q(rows, cols, A);
        if (st != ANN_OK)
            break;
        for (size_t j = 0; j < u; j++)
            for (size_t k = 0; k < fan; k++) {
                /* u <= fan: W = Q^T (orthonormal rows); else W = Q. */
                double q = u <= fan ? A[k + j * fan] : A[j + k * u];
                ann__param_set(m, m->w_off[l] + j * fan + k, gain * q);
            }
        for (size_t j = 0; j < u; j++)
            ann__param_set(m, m->b_off[l] + j, 0.0);
    }
    free(A);
    if (st != ANN_OK) {
        m->params = old;
        free(np);
        return st;
    }
    free(old);
    return ANN_OK;
}

ann_status ann__draw_weights(ann *m)
{
    if (m->s.init == ANN_INIT_ORTHOGONAL) {
        uint64_t rng[4];
        memcpy(rng, m->rng, sizeof rng);
        ann_status st = draw_orthogonal(m);
        if (st != ANN_OK) {
            memcpy(m->rng, rng, sizeof rng);
            return st;
        }
        goto reset;
    }
    for (size_t l = 0; l < m->n_layers; l++) {
        size_t fan = m->fan_in[l], u = m->units[l];
        double wscale, bscale;
        for (size_t i = 0; i < u * fan + u; i++) {
            int is_bias = i >= u * fan;
            double v = 0.0;
            switch (m->s.init) {
            case ANN_INIT_XAVIER:
                wscale = sqrt(6.0 / (double)(fan + u));
                v = is_bias ? 0.0 : wscale * (2.0 * ann__rng_uniform(m->rng) - 1.0);
                break;
            case ANN_INIT_HE:
                wscale = sqrt(2.0 / (double)fan);
                v = is_bias ? 0.0 : wscale * ann__rng_normal(m->rng);
                break;
            default: /* small uniform, never exactly zero */
                bscale = 1.0 / sqrt((double)fan);
                do
                    v = bscale * (2.0 * ann__rng_uniform(m->rng) - 1.0);
                while (v == 0.0);
                break;
            }
            size_t pos = is_bias ? m->b_off[l] + (i - u * fan) : m->w_off[l] + i;
            ann__param_set(m, pos, v);
        }
    }
reset:
    free(m->opt_m);
    free(m->opt_v);
    m->opt_m = m->opt_v = NULL;
    m->steps = 0;
    m->decay_epochs = 0;
    return ANN_OK;
}

int ann__alloc_opt_state(ann *m)
{
    size_t bytes = m->n_params * ann__elem_size(m->s.precision);
    int need_m = m->s.optimizer == ANN_OPTIMIZER_MOMENTUM || m->s.optimizer == ANN_OPTIMIZER_ADAM;
    int need_v = m->s.optimizer == ANN_OPTIMIZER_ADAM;
    void *nm = NULL, *nv = NULL;
    if (need_m && !m->opt_m && !(nm = calloc(1, bytes)))
        return -1;
    if (need_v && !m->opt_v && !(nv = calloc(1, bytes))) {
        free(nm);
        return -1;
    }
    if (nm) m->opt_m = nm;
    if (nv) m->opt_v = nv;
    return 0;
}

/* ---- create / destroy / clone ------------------------------------------ */
static void free_model(ann *m)
{
    if (!m)
        return;
    free(m->units);
    free(m->params);
    free(m->opt_m);
    free(m->opt_v);
    ann__prep_free(&m->prep);
    free(m->tgt);
    free(m);
}

ann_status ann_create(ann **out, size_t n_inputs, size_t n_layers,
                      const size_t *units, const ann_activation *activations)
{
    if (out)
        *out = NULL;
    if (!out || !units || !activations)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_create: %s is NULL",
                         !out ? "out" : !units ? "units" : "activations");
    if (n_inputs == 0 || n_layers == 0)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_create: %s is 0",
                         n_inputs == 0 ? "n_inputs" : "n_layers");
    if (n_inputs > ANN__BLAS_INT_MAX || n_layers > 4096)
        return ann__fail(NULL, 0, ANN_ERR_TOO_LARGE, "ann_create: %s too large",
                         n_inputs > ANN__BLAS_INT_MAX ? "n_inputs" : "n_layers (max 4096)");
    size_t n_params = 0, maxw = n_inputs, fan = n_inputs;
    for (size_t l = 0; l < n_layers; l++) {
        if (units[l] == 0)
            return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_create: units[%zu] is 0", l);
        if (units[l] > ANN__BLAS_INT_MAX)
            return ann__fail(NULL, 0, ANN_ERR_TOO_LARGE,
                             "ann_create: units[%zu] exceeds 2^31-1", l);
        int a = (int)activations[l];
        if (a < ANN_ACT_IDENTITY || a > ANN_ACT_SOFTMAX)
            return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT,
                             "ann_create: activations[%zu] = %d is unknown", l, a);
        if (a == ANN_ACT_SOFTMAX && l + 1 != n_layers)
            return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT,
                             "ann_create: activations[%zu] is softmax on a hidden layer", l);
        if (a == ANN_ACT_SOFTMAX && units[l] < 2)
            return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT,
                             "ann_create: softmax output needs >= 2 units");
        /* (u+1)*fan <= INT_MAX keeps every index, and lda, inside BLAS's int. */
        size_t u = units[l];
        if (fan + 1 > ANN__BLAS_INT_MAX / u)
            return ann__fail(NULL, 0, ANN_ERR_TOO_LARGE,
                             "ann_create: layer %zu has too many weights", l);
        size_t lp = u * fan + u;
        if (n_params > SIZE_MAX / 16 - lp)
            return ann__fail(NULL, 0, ANN_ERR_TOO_LARGE,
                             "ann_create: parameter count overflows");
        n_params += lp;
        if (u > maxw)
            maxw = u;
        fan = u;
    }
    ann *m = calloc(1, sizeof *m);
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "ann_create: out of memory");
    /* units, fan_in, w_off, b_off share one block; acts follow it. */
    m->units = malloc(n_layers * (4 * sizeof(size_t) + sizeof(ann_activation)));
    m->params = malloc(n_params * sizeof(double));
    if (!m->units || !m->params) {
        free_model(m);
        return ann__fail(NULL, 0, ANN_ERR_OUT_OF_MEMORY, "ann_create: out of memory");
    }
    m->fan_in = m->units + n_layers;
    m->w_off = m->fan_in + n_layers;
    m->b_off = m->w_off + n_layers;
    m->acts = (ann_activation *)(m->b_off + n_layers);
    m->n_inputs = n_inputs;
    m->n_layers = n_layers;
    m->n_params = n_params;
    m->max_width = maxw;
    size_t off = 0;
    fan = n_inputs;
    for (size_t l = 0; l < n_layers; l++) {
        m->units[l] = units[l];
        m->fan_in[l] = fan;
        m->acts[l] = activations[l];
        m->w_off[l] = off;
        m->b_off[l] = off + units[l] * fan;
        off += units[l] * fan + units[l];
        fan = units[l];
    }
    ann__settings_default(&m->s);
    ann__rng_seed(m->rng, m->s.seed);
    (void)ann__draw_weights(m); /* the default init cannot fail */
    m->train_loss = m->val_loss = NAN;
    atomic_init(&m->state, 0);
    *out = m;
    return ANN_OK;
}

void ann_destroy(ann *model)
{
    if (model)
        ann__forget(model);
    free_model(model);
}

static void *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    void *q = malloc(n);
    if (q)
        memcpy(q, p, n);
    return q;
}

ann_status ann_clone(const ann *m, ann **out)
{
    if (out)
        *out = NULL;
    if (!m || !out)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "ann_clone: %s is NULL",
                         m ? "out" : "model");
    ann_status st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    size_t pbytes = m->n_params * ann__elem_size(m->s.precision);
    size_t L = m->n_layers;
    ann *c = calloc(1, sizeof *c);
    if (c) {
        memcpy(c, m, sizeof *c);
        c->units = NULL;
        c->params = c->opt_m = c->opt_v = NULL;
        c->units = dup_bytes(m->units, L * (4 * sizeof(size_t) + sizeof(ann_activation)));
        c->params = dup_bytes(m->params, pbytes);
        c->opt_m = dup_bytes(m->opt_m, pbytes);
        c->opt_v = dup_bytes(m->opt_v, pbytes);
        memset(&c->prep, 0, sizeof c->prep);
        c->tgt = NULL;
        if (m->tgt && !(c->tgt = dup_bytes(m->tgt, 2 * m->units[L - 1] * sizeof(double)))) {
            free_model(c);
            c = NULL;
        }
    }
    if (c && ann__prep_copy(&c->prep, &m->prep, m->n_inputs)) {
        free_model(c);
        c = NULL;
    }
    if (!c || !c->units || !c->params || (m->opt_m && !c->opt_m) ||
        (m->opt_v && !c->opt_v)) {
        free_model(c);
        ann__unlock_const(m);
        return ann__fail(m, 0, ANN_ERR_OUT_OF_MEMORY, "ann_clone: out of memory");
    }
    c->fan_in = c->units + L;
    c->w_off = c->fan_in + L;
    c->b_off = c->w_off + L;
    c->acts = (ann_activation *)(c->b_off + L);
    atomic_init(&c->state, 0);
    c->msg[0] = '\0';
    ann__unlock_const(m);
    *out = c;
    return ANN_OK;
}

/* ---- small queries and settings ---------------------------------------- */
ann_status ann_layer_info(const ann *m, size_t layer, size_t *units,
                          size_t *fan_in, ann_activation *activation)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_layer_info: model is NULL");
    if (layer >= m->n_layers)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT,
                         "ann_layer_info: layer %zu out of range (n_layers = %zu)",
                         layer, m->n_layers);
    if (units) *units = m->units[layer];
    if (fan_in) *fan_in = m->fan_in[layer];
    if (activation) *activation = m->acts[layer];
    return ANN_OK;
}

ann_status ann_set_progress(ann *m, ann_progress_fn fn, void *user)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_set_progress: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    m->progress = fn;
    m->progress_user = fn ? user : NULL;
    ann__unlock_mut(m);
    return ANN_OK;
}

ann_status ann_reset_state(ann *m)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_reset_state: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    free(m->opt_m);
    free(m->opt_v);
    m->opt_m = m->opt_v = NULL;
    m->steps = 0;
    m->decay_epochs = 0;
    ann__unlock_mut(m);
    return ANN_OK;
}

ann_status ann_reinit(ann *m)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_reinit: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    st = ann__draw_weights(m);
    if (st != ANN_OK)
        st = ann__fail(m, 1, st, "ann_reinit: drawing the weights failed (%s)",
                       ann_status_str(st));
    ann__unlock_mut(m);
    return st;
}

ann_status ann_get_weights(const ann *m, size_t layer, double *W, double *b)
{
    if (!m || (!W && !b))
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "ann_get_weights: %s",
                         !m ? "model is NULL" : "W and b are both NULL");
    if (layer >= m->n_layers)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT,
                         "ann_get_weights: layer %zu out of range (n_layers = %zu)",
                         layer, m->n_layers);
    ann_status st = ann__lock_const(m);
    if (st != ANN_OK)
        return st;
    size_t nw = m->units[layer] * m->fan_in[layer];
    if (W)
        for (size_t i = 0; i < nw; i++)
            W[i] = ann__param_get(m, m->w_off[layer] + i);
    if (b)
        for (size_t i = 0; i < m->units[layer]; i++)
            b[i] = ann__param_get(m, m->b_off[layer] + i);
    ann__unlock_const(m);
    return ANN_OK;
}

static ann_status set_weights_locked(ann *m, size_t layer, const double *W, const double *b);

ann_status ann_set_weights(ann *m, size_t layer, const double *W, const double *b)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_set_weights: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    st = set_weights_locked(m, layer, W, b);
    ann__unlock_mut(m);
    return st;
}

static ann_status set_weights_locked(ann *m, size_t layer, const double *W, const double *b)
{
    if (!W && !b)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "ann_set_weights: W and b are both NULL");
    if (layer >= m->n_layers)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "ann_set_weights: layer %zu out of range (n_layers = %zu)",
                         layer, m->n_layers);
    size_t u = m->units[layer], fan = m->fan_in[layer];
    if (W) {
        ann_status st = ann__check_matrix(m, 1, "W", W, u, fan);
        if (st != ANN_OK)
            return st;
    }
    if (b) {
        ann_status st = ann__check_matrix(m, 1, "b", b, 1, u);
        if (st != ANN_OK)
            return st;
    }
    for (size_t i = 0; W && i < u * fan; i++)
        ann__param_set(m, m->w_off[layer] + i, W[i]);
    for (size_t i = 0; b && i < u; i++)
        ann__param_set(m, m->b_off[layer] + i, b[i]);
    return ANN_OK;
}
