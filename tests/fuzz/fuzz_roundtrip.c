/* fuzz_roundtrip.c - libFuzzer target: the input is a recipe for a model
 * (architecture, precision, optimizer, settings, a few training steps); the
 * model must survive save -> load bitwise: same bytes on re-save, same
 * parameters, same predictions, and the same weights after one more
 * training step on both.  Any difference aborts (a finding). */
#include "ann.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

typedef struct {
    const uint8_t *p;
    size_t n, i;
} recipe;
static unsigned take(recipe *r) { return r->i < r->n ? r->p[r->i++] : 0u; }

static int same_weights(const ann *a, const ann *b, size_t n_par)
{
    double *wa = malloc(n_par * sizeof *wa), *wb = malloc(n_par * sizeof *wb);
    double nl;
    ann_get_param(a, ANN_PARAM_N_LAYERS, &nl);
    size_t off = 0;
    for (size_t l = 0; l < (size_t)nl; l++) {
        size_t u, fan;
        ann_layer_info(a, l, &u, &fan, NULL);
        ann_get_weights(a, l, wa + off, wa + off + u * fan);
        ann_get_weights(b, l, wb + off, wb + off + u * fan);
        off += u * fan + u;
    }
    int same = memcmp(wa, wb, n_par * sizeof *wa) == 0;
    free(wa);
    free(wb);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recipe r = {data, size, 0};
    size_t n_in = 1 + take(&r) % 6, L = 1 + take(&r) % 3;
    size_t units[3];
    ann_activation acts[3];
    for (size_t l = 0; l < L; l++) {
        units[l] = 1 + take(&r) % 6;
        acts[l] = (ann_activation)(take(&r) % 7);
        if (acts[l] == ANN_ACT_SOFTMAX && (l + 1 < L || units[l] < 2))
            acts[l] = ANN_ACT_SIGMOID;
    }
    ann *m = NULL;
    check(ann_create(&m, n_in, L, units, acts) == ANN_OK);
    unsigned flags = take(&r);
    ann_set_param(m, ANN_PARAM_SEED, (double)(take(&r) | take(&r) << 8));
    ann_set_param(m, ANN_PARAM_INIT, take(&r) % 3);
    ann_set_param(m, ANN_PARAM_PRECISION, flags & 1);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, (flags >> 1) % 3);
    ann_set_param(m, ANN_PARAM_NESTEROV, (flags >> 3) & 1);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.001 * (1 + take(&r)));
    ann_set_param(m, ANN_PARAM_L2, 0.001 * take(&r));
    ann_set_param(m, ANN_PARAM_LR_DECAY, 0.01 * take(&r));
    ann_set_param(m, ANN_PARAM_LEAKY_SLOPE, take(&r) / 256.0);
    if (flags & 16)
        ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY); /* may be refused */
    size_t n_out = units[L - 1], rows = 3;
    double X[3 * 6], Y[3 * 6];
    for (size_t i = 0; i < rows * n_in; i++)
        X[i] = take(&r) / 32.0 - 4.0;
    for (size_t i = 0; i < rows * n_out; i++)
        Y[i] = take(&r) / 255.0;
    unsigned steps = take(&r) % 4;
    for (unsigned s = 0; s < steps; s++) {
        ann_status st = ann_train_batch(m, X, Y, rows);
        check(st == ANN_OK || st == ANN_ERR_DIVERGED);
    }

    size_t need = 0, got = 0;
    check(ann_save_buffer(m, NULL, 0, &need) == ANN_OK);
    uint8_t *b = malloc(need), *b2 = malloc(need);
    check(b && b2);
    check(ann_save_buffer(m, b, need, &got) == ANN_OK && got == need);
    ann *c = NULL;
    check(ann_load_buffer(&c, b, got) == ANN_OK);
    check(ann_save_buffer(c, b2, need, &got) == ANN_OK && got == need);
    check(memcmp(b, b2, need) == 0);
    for (int k = 0; k < 1000; k++) {
        double va, vc;
        if (ann_param_bounds((ann_param)k, NULL, NULL, NULL) != ANN_OK)
            continue;
        check(ann_get_param(m, (ann_param)k, &va) == ANN_OK);
        check(ann_get_param(c, (ann_param)k, &vc) == ANN_OK);
        check(memcmp(&va, &vc, sizeof va) == 0);
    }
    double ya[3 * 6], yc[3 * 6];
    check(ann_predict(m, X, rows, ya) == ANN_OK);
    check(ann_predict(c, X, rows, yc) == ANN_OK);
    check(memcmp(ya, yc, rows * n_out * sizeof *ya) == 0);
    /* training resumes identically */
    ann_status sa = ann_train_batch(m, X, Y, rows), sc = ann_train_batch(c, X, Y, rows);
    check(sa == sc);
    double np;
    ann_get_param(m, ANN_PARAM_N_PARAMETERS, &np);
    check(same_weights(m, c, (size_t)np));
    free(b);
    free(b2);
    ann_destroy(c);
    ann_destroy(m);
    return 0;
}
