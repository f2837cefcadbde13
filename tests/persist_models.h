/* persist_models.h - deterministic models for the persistence tests, the
 * fuzz seed-corpus generator and the golden files.  Header-only; needs
 * ann.h and <stdlib.h>. */
#ifndef ANN_PERSIST_MODELS_H
#define ANN_PERSIST_MODELS_H

#include <stdint.h>
#include <stdlib.h>

#include "ann.h"

/* The golden model: its weights come from a formula, not from training, so
 * the committed file tests/fuzz/corpus/load/golden_f64.ann (and _f32)
 * pins the format independently of the training code.  Every value is
 * exact in float32. */
static inline double pm_golden_weight(size_t i)
{
    return (double)((int)((i * 37u) % 17u) - 8) / 16.0;
}

static inline ann *pm_golden(int precision)
{
    static const size_t units[] = {4, 3, 2};
    static const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_LEAKY_RELU,
                                          ANN_ACT_SOFTMAX};
    ann *m = NULL;
    if (ann_create(&m, 3, 3, units, acts) != ANN_OK)
        return NULL;
    /* seed and init re-draw the weights: set them before the weights */
    ann_set_param(m, ANN_PARAM_SEED, 7);
    ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER);
    ann_set_param(m, ANN_PARAM_PRECISION, precision);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.05);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 4);
    ann_set_param(m, ANN_PARAM_EPOCHS, 3);
    ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY);
    ann_set_param(m, ANN_PARAM_LEAKY_SLOPE, 0.125);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM);
    ann_set_param(m, ANN_PARAM_MOMENTUM, 0.5);
    ann_set_param(m, ANN_PARAM_NESTEROV, 1);
    ann_set_param(m, ANN_PARAM_L2, 0.25);
    ann_set_param(m, ANN_PARAM_LR_DECAY, 0.5);
    ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.25);
    ann_set_param(m, ANN_PARAM_PATIENCE, 2);
    size_t idx = 0;
    for (size_t l = 0; l < 3; l++) {
        size_t u, fan;
        ann_layer_info(m, l, &u, &fan, NULL);
        double *W = malloc(u * fan * sizeof *W), *b = malloc(u * sizeof *b);
        for (size_t i = 0; i < u * fan; i++)
            W[i] = pm_golden_weight(idx++);
        for (size_t i = 0; i < u; i++)
            b[i] = pm_golden_weight(idx++);
        ann_set_weights(m, l, W, b);
        free(W);
        free(b);
    }
    return m;
}

/* A small data set for a model with n_in inputs and n_out outputs (targets
 * in [0, 1], one-hot when n_out > 1). */
static inline void pm_data(size_t n, size_t n_in, size_t n_out, uint64_t seed,
                           double *X, double *Y)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        double acc = 0;
        for (size_t j = 0; j < n_in; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double v = (double)(s >> 11) * 0x1.0p-53 * 2 - 1;
            X[i * n_in + j] = v;
            acc += v * (double)(j + 1);
        }
        size_t cls = (size_t)(acc > 0) % n_out;
        for (size_t k = 0; k < n_out; k++)
            Y[i * n_out + k] = n_out == 1 ? (acc > 0 ? 1.0 : 0.0) : (k == cls ? 1.0 : 0.0);
    }
}

#endif
