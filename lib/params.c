/* params.c - the parameter table: defaults, bounds, set/get/reset. */
#include "ann_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ann_param key;
    const char *name;
    double min, max, def;
    int integer;
    int open_min; /* min itself excluded */
} param_info;

#define BIG_INT 2147483647.0
#define SEED_MAX 9007199254740992.0 /* 2^53: every integer exact in a double */

static const param_info table[] = {
    {ANN_PARAM_LEARNING_RATE, "learning_rate", 0.0, 1e6, 0.01, 0, 1},
    {ANN_PARAM_BATCH_SIZE, "batch_size", 0.0, BIG_INT, 32.0, 1, 0},
    {ANN_PARAM_EPOCHS, "epochs", 1.0, BIG_INT, 10.0, 1, 0},
    {ANN_PARAM_SHUFFLE, "shuffle", 0.0, 1.0, 1.0, 1, 0},
    {ANN_PARAM_SEED, "seed", 0.0, SEED_MAX, 0.0, 1, 0},
    {ANN_PARAM_LOSS, "loss", 0.0, 1.0, ANN_LOSS_SQUARED_ERROR, 1, 0},
    {ANN_PARAM_INIT, "init", 0.0, 3.0, ANN_INIT_SMALL_UNIFORM, 1, 0},
    {ANN_PARAM_LEAKY_SLOPE, "leaky_slope", 0.0, 0.999999, 0.01, 0, 0},
    {ANN_PARAM_PRECISION, "precision", 0.0, 1.0, ANN_PRECISION_F64, 1, 0},
    {ANN_PARAM_OPTIMIZER, "optimizer", 0.0, 3.0, ANN_OPTIMIZER_SGD, 1, 0},
    {ANN_PARAM_MOMENTUM, "momentum", 0.0, 0.999999, 0.9, 0, 0},
    {ANN_PARAM_NESTEROV, "nesterov", 0.0, 1.0, 0.0, 1, 0},
    {ANN_PARAM_ADAM_BETA1, "adam_beta1", 0.0, 0.999999, 0.9, 0, 0},
    {ANN_PARAM_ADAM_BETA2, "adam_beta2", 0.0, 0.999999, 0.999, 0, 0},
    {ANN_PARAM_ADAM_EPSILON, "adam_epsilon", 0.0, 1.0, 1e-8, 0, 1},
    {ANN_PARAM_L2, "l2", 0.0, 1e6, 0.0, 0, 0},
    {ANN_PARAM_LR_DECAY, "lr_decay", 0.0, 1e6, 0.0, 0, 0},
    {ANN_PARAM_VALIDATION_FRACTION, "validation_fraction", 0.0, 0.9, 0.0, 0, 0},
    {ANN_PARAM_PATIENCE, "patience", 0.0, BIG_INT, 0.0, 1, 0},
    {ANN_PARAM_LM_MU, "lm_mu", 0.0, 1e10, 1e-3, 0, 1},
    {ANN_PARAM_LM_MU_FACTOR, "lm_mu_factor", 1.0, 1e6, 10.0, 0, 1},
    {ANN_PARAM_INIT_GAIN, "init_gain", 0.0, 1e3, 1.0, 0, 1},
    {ANN_PARAM_PREPROCESS, "preprocess", 0.0, 3.0, ANN_PREPROCESS_NONE, 1, 0},
    {ANN_PARAM_WHITEN_EPSILON, "whiten_epsilon", 0.0, 1.0, 1e-12, 0, 1},
    {ANN_PARAM_TARGET_SCALING, "target_scaling", 0.0, 1.0, 0.0, 1, 0},
};

static const param_info *find(ann_param key)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].key == key)
            return &table[i];
    return NULL;
}

static int is_readonly(ann_param key)
{
    switch (key) {
    case ANN_PARAM_EPOCHS_RUN: case ANN_PARAM_TRAIN_LOSS:
    case ANN_PARAM_VALIDATION_LOSS: case ANN_PARAM_BEST_EPOCH:
    case ANN_PARAM_STEPS: case ANN_PARAM_N_INPUTS: case ANN_PARAM_N_OUTPUTS:
    case ANN_PARAM_N_LAYERS: case ANN_PARAM_N_PARAMETERS:
        return 1;
    default:
        return 0;
    }
}

/* Store a validated value.  The only place that maps keys to fields. */
static void store(ann__settings *s, ann_param key, double v)
{
    switch (key) {
    case ANN_PARAM_LEARNING_RATE: s->learning_rate = v; break;
    case ANN_PARAM_BATCH_SIZE: s->batch_size = (size_t)v; break;
    case ANN_PARAM_EPOCHS: s->epochs = (size_t)v; break;
    case ANN_PARAM_SHUFFLE: s->shuffle = (int)v; break;
    case ANN_PARAM_SEED: s->seed = (uint64_t)v; break;
    case ANN_PARAM_LOSS: s->loss = (int)v; break;
    case ANN_PARAM_INIT: s->init = (int)v; break;
    case ANN_PARAM_LEAKY_SLOPE: s->leaky_slope = v; break;
    case ANN_PARAM_PRECISION: s->precision = (int)v; break;
    case ANN_PARAM_OPTIMIZER: s->optimizer = (int)v; break;
    case ANN_PARAM_MOMENTUM: s->momentum = v; break;
    case ANN_PARAM_NESTEROV: s->nesterov = (int)v; break;
    case ANN_PARAM_ADAM_BETA1: s->beta1 = v; break;
    case ANN_PARAM_ADAM_BETA2: s->beta2 = v; break;
    case ANN_PARAM_ADAM_EPSILON: s->epsilon = v; break;
    case ANN_PARAM_L2: s->l2 = v; break;
    case ANN_PARAM_LR_DECAY: s->lr_decay = v; break;
    case ANN_PARAM_VALIDATION_FRACTION: s->validation_fraction = v; break;
    case ANN_PARAM_PATIENCE: s->patience = (size_t)v; break;
    case ANN_PARAM_INIT_GAIN: s->init_gain = v; break;
    case ANN_PARAM_LM_MU: s->lm_mu = v; break;
    case ANN_PARAM_LM_MU_FACTOR: s->lm_mu_factor = v; break;
    case ANN_PARAM_PREPROCESS: s->preprocess = (int)v; break;
    case ANN_PARAM_WHITEN_EPSILON: s->whiten_epsilon = v; break;
    case ANN_PARAM_TARGET_SCALING: s->target_scaling = (int)v; break;
    default: break;
    }
}

static double load(const ann__settings *s, ann_param key)
{
    switch (key) {
    case ANN_PARAM_LEARNING_RATE: return s->learning_rate;
    case ANN_PARAM_BATCH_SIZE: return (double)s->batch_size;
    case ANN_PARAM_EPOCHS: return (double)s->epochs;
    case ANN_PARAM_SHUFFLE: return s->shuffle;
    case ANN_PARAM_SEED: return (double)s->seed;
    case ANN_PARAM_LOSS: return s->loss;
    case ANN_PARAM_INIT: return s->init;
    case ANN_PARAM_LEAKY_SLOPE: return s->leaky_slope;
    case ANN_PARAM_PRECISION: return s->precision;
    case ANN_PARAM_OPTIMIZER: return s->optimizer;
    case ANN_PARAM_MOMENTUM: return s->momentum;
    case ANN_PARAM_NESTEROV: return s->nesterov;
    case ANN_PARAM_ADAM_BETA1: return s->beta1;
    case ANN_PARAM_ADAM_BETA2: return s->beta2;
    case ANN_PARAM_ADAM_EPSILON: return s->epsilon;
    case ANN_PARAM_L2: return s->l2;
    case ANN_PARAM_LR_DECAY: return s->lr_decay;
    case ANN_PARAM_VALIDATION_FRACTION: return s->validation_fraction;
    case ANN_PARAM_PATIENCE: return (double)s->patience;
    case ANN_PARAM_INIT_GAIN: return s->init_gain;
    case ANN_PARAM_LM_MU: return s->lm_mu;
    case ANN_PARAM_LM_MU_FACTOR: return s->lm_mu_factor;
    case ANN_PARAM_PREPROCESS: return s->preprocess;
    case ANN_PARAM_WHITEN_EPSILON: return s->whiten_epsilon;
    case ANN_PARAM_TARGET_SCALING: return s->target_scaling;
    default: return NAN;
    }
}

void ann__settings_default(ann__settings *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        store(s, table[i].key, table[i].def);
}

ann_status ann_param_bounds(ann_param key, double *min, double *max,
                            double *default_value)
{
    const param_info *p = find(key);
    if (!p)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT,
                         "ann_param_bounds: key %d is unknown or read-only",
                         (int)key);
    if (min) *min = p->min;
    if (max) *max = p->max;
    if (default_value) *default_value = p->def;
    return ANN_OK;
}

/* Convert the weights and optimizer state to another precision, all or
 * nothing. */
static ann_status convert_precision(ann *m, int to)
{
    if (to == m->s.precision)
        return ANN_OK;
    size_t n = m->n_params, es = ann__elem_size(to);
    void *bufs[3] = {m->params, m->opt_m, m->opt_v};
    void *nb[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        if (!bufs[k])
            continue;
        nb[k] = malloc(n * es);
        if (!nb[k]) {
            for (int j = 0; j < k; j++)
                free(nb[j]);
            return ann__fail(m, 1, ANN_ERR_OUT_OF_MEMORY,
                             "ann_set_param: out of memory converting precision");
        }
        if (to == ANN_PRECISION_F32) {
            const double *src = bufs[k];
            float *dst = nb[k];
            for (size_t i = 0; i < n; i++)
                dst[i] = (float)src[i];
        } else {
            const float *src = bufs[k];
            double *dst = nb[k];
            for (size_t i = 0; i < n; i++)
                dst[i] = src[i];
        }
    }
    for (int k = 0; k < 3; k++)
        free(bufs[k]);
    m->params = nb[0];
    m->opt_m = nb[1];
    m->opt_v = nb[2];
    m->s.precision = to;
    return ANN_OK;
}

static ann_status set_locked(ann *m, ann_param key, double value);

ann_status ann_set_param(ann *m, ann_param key, double value)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_set_param: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    st = set_locked(m, key, value);
    ann__unlock_mut(m);
    return st;
}

/* Validation and store, with the handle held (messages go to it). */
static ann_status set_locked(ann *m, ann_param key, double value)
{
    const param_info *p = find(key);
    if (!p)
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         is_readonly(key) ? "ann_set_param: key %d is read-only"
                                          : "ann_set_param: unknown key %d",
                         (int)key);
    if (isnan(value) || value < p->min || value > p->max ||
        (p->open_min && value == p->min))
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "ann_set_param: %s = %g is outside %s%g, %g]", p->name,
                         value, p->open_min ? "(" : "[", p->min, p->max);
    if (p->integer && value != floor(value))
        return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                         "ann_set_param: %s must be an integer, got %g", p->name, value);
    if (key == ANN_PARAM_LOSS && value == ANN_LOSS_CROSS_ENTROPY) {
        ann_activation out = m->acts[m->n_layers - 1];
        if (out != ANN_ACT_SOFTMAX && out != ANN_ACT_SIGMOID)
            return ann__fail(m, 1, ANN_ERR_INVALID_ARGUMENT,
                             "ann_set_param: loss = cross-entropy needs a softmax "
                             "or sigmoid output layer");
    }
    ann_status st = ANN_OK;
    switch (key) {
    case ANN_PARAM_PRECISION:
        st = convert_precision(m, (int)value);
        break;
    case ANN_PARAM_SEED:
    case ANN_PARAM_INIT: {
        /* All or nothing: a failed re-draw leaves settings and generator. */
        ann__settings old = m->s;
        uint64_t rng[4];
        memcpy(rng, m->rng, sizeof rng);
        store(&m->s, key, value);
        ann__rng_seed(m->rng, m->s.seed);
        st = ann__draw_weights(m);
        if (st != ANN_OK) {
            m->s = old;
            memcpy(m->rng, rng, sizeof rng);
            st = ann__fail(m, 1, st, "ann_set_param: re-drawing the weights failed (%s)",
                           ann_status_str(st));
        }
        break;
    }
    case ANN_PARAM_PREPROCESS:
        /* A transform fitted for another mode is meaningless: dropped. */
        if ((int)value != m->s.preprocess)
            ann__prep_free(&m->prep);
        store(&m->s, key, value);
        break;
    case ANN_PARAM_TARGET_SCALING:
        if ((int)value != m->s.target_scaling) {
            free(m->tgt);
            m->tgt = NULL;
        }
        store(&m->s, key, value);
        break;
    case ANN_PARAM_OPTIMIZER:
        /* A velocity is not an Adam moment: a new optimizer starts fresh. */
        if ((int)value != m->s.optimizer) {
            free(m->opt_m);
            free(m->opt_v);
            m->opt_m = m->opt_v = NULL;
            m->steps = 0;
        }
        store(&m->s, key, value);
        break;
    default:
        store(&m->s, key, value);
    }
    return st;
}

ann_status ann_get_param(const ann *m, ann_param key, double *value)
{
    if (!m || !value)
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "ann_get_param: %s is NULL",
                         m ? "value" : "model");
    if (find(key)) {
        *value = load(&m->s, key);
        return ANN_OK;
    }
    switch (key) {
    case ANN_PARAM_EPOCHS_RUN: *value = (double)m->epochs_run; return ANN_OK;
    case ANN_PARAM_TRAIN_LOSS: *value = m->train_loss; return ANN_OK;
    case ANN_PARAM_VALIDATION_LOSS: *value = m->val_loss; return ANN_OK;
    case ANN_PARAM_BEST_EPOCH: *value = (double)m->best_epoch; return ANN_OK;
    case ANN_PARAM_STEPS: *value = (double)m->steps; return ANN_OK;
    case ANN_PARAM_N_INPUTS: *value = (double)m->n_inputs; return ANN_OK;
    case ANN_PARAM_N_OUTPUTS: *value = (double)m->units[m->n_layers - 1]; return ANN_OK;
    case ANN_PARAM_N_LAYERS: *value = (double)m->n_layers; return ANN_OK;
    case ANN_PARAM_N_PARAMETERS: *value = (double)m->n_params; return ANN_OK;
    default:
        return ann__fail(m, 0, ANN_ERR_INVALID_ARGUMENT, "ann_get_param: unknown key %d",
                         (int)key);
    }
}

ann_status ann_reset_params(ann *m)
{
    if (!m)
        return ann__fail(NULL, 0, ANN_ERR_INVALID_ARGUMENT, "ann_reset_params: model is NULL");
    ann_status st = ann__lock_mut(m);
    if (st != ANN_OK)
        return st;
    ann__settings d;
    ann__settings_default(&d);
    d.seed = m->s.seed;
    d.init = m->s.init;
    d.precision = m->s.precision;
    if (d.preprocess != m->s.preprocess)
        ann__prep_free(&m->prep);
    if (d.target_scaling != m->s.target_scaling) {
        free(m->tgt);
        m->tgt = NULL;
    }
    m->s = d;
    ann__unlock_mut(m);
    return ANN_OK;
}
