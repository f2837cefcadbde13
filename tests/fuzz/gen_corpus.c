/* gen_corpus.c - writes the seed corpus in tests/fuzz/corpus/ (committed;
 * rerun only to refresh it):  gen_corpus tests/fuzz/corpus
 *   load/golden_f64.ann, golden_f32.ann  formula weights (pin the format;
 *                                        test_persist checks them byte for
 *                                        byte)
 *   load/NAME.ann                         small trained models: every
 *                                        optimizer state, both precisions,
 *                                        every activation
 *   roundtrip/N.bin                      recipes for fuzz_roundtrip */
#include "ann.h"
#include "persist_models.h"

#include <stdio.h>
#include <stdlib.h>

static int save(const ann *m, const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/load/%s", dir, name);
    if (ann_save(m, p) != ANN_OK) {
        fprintf(stderr, "%s: %s\n", p, ann_errmsg(NULL));
        return 1;
    }
    return 0;
}

static ann *trained(size_t n_in, size_t L, const size_t *u, const ann_activation *a,
                    int precision, int optimizer, int ce)
{
    ann *m = NULL;
    if (ann_create(&m, n_in, L, u, a) != ANN_OK)
        return NULL;
    ann_set_param(m, ANN_PARAM_SEED, 3);
    ann_set_param(m, ANN_PARAM_PRECISION, precision);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, optimizer);
    if (ce)
        ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY);
    ann_set_param(m, ANN_PARAM_EPOCHS, 2);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 4);
    ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.25);
    size_t n_out = u[L - 1];
    double X[16 * 8], Y[16 * 8];
    pm_data(16, n_in, n_out, 9, X, Y);
    ann_fit(m, X, Y, 16);
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int err = 0;
    for (int p = 0; p <= 1; p++) {
        ann *g = pm_golden(p);
        err |= save(g, dir, p ? "golden_f32.ann" : "golden_f64.ann");
        ann_destroy(g);
    }
    static const size_t u1[] = {3, 2};
    static const ann_activation a1[] = {ANN_ACT_SIGMOID, ANN_ACT_SOFTMAX};
    static const size_t u2[] = {4, 3, 3, 2, 1};
    static const ann_activation a2[] = {ANN_ACT_RELU, ANN_ACT_LEAKY_RELU, ANN_ACT_STEP,
                                        ANN_ACT_IDENTITY, ANN_ACT_SIGMOID};
    static const size_t u3[] = {1};
    static const ann_activation a3[] = {ANN_ACT_TANH};
    struct { const char *name; size_t n_in, L; const size_t *u; const ann_activation *a;
             int prec, opt, ce; } jobs[] = {
        {"sgd_f64.ann", 2, 2, u1, a1, 0, 0, 1},
        {"momentum_f64.ann", 2, 2, u1, a1, 0, 1, 0},
        {"adam_f64.ann", 2, 2, u1, a1, 0, 2, 1},
        {"adam_f32.ann", 2, 2, u1, a1, 1, 2, 0},
        {"deep_momentum_f32.ann", 3, 5, u2, a2, 1, 1, 1},
        {"single_f64.ann", 1, 1, u3, a3, 0, 0, 0},
    };
    for (size_t j = 0; j < sizeof jobs / sizeof jobs[0]; j++) {
        ann *m = trained(jobs[j].n_in, jobs[j].L, jobs[j].u, jobs[j].a, jobs[j].prec,
                         jobs[j].opt, jobs[j].ce);
        if (!m)
            return 1;
        err |= save(m, dir, jobs[j].name);
        ann_destroy(m);
    }
    /* fuzz_roundtrip recipes: a few fixed byte strings */
    for (int k = 0; k < 6; k++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/roundtrip/recipe%d.bin", dir, k);
        FILE *f = fopen(p, "wb");
        if (!f)
            return 1;
        uint64_t s = 0x1234567u + (uint64_t)k * 977u;
        for (int i = 0; i < 96; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            fputc((int)(s >> 56), f);
        }
        fclose(f);
    }
    return err;
}
