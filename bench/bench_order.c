/* bench_order.c - layer 0 in feature-major order (lib/engine_tmpl.h
 * t0_use) against row-major, in one process: 1-epoch fits of the
 * Fashion-MNIST net, alternating between two clones of one model, one
 * with the order never taken and one with it taken by the rule (or, with
 * FORCE, wherever the shapes allow), in the order ABBA... so that drift
 * hits both.  Prints the medians, the median of the paired differences,
 * and whether the two models ended with the same weights (bits).
 *
 *   bench_order DIR f32|f64 sgd|momentum|adam ROUNDS [BATCH] [FORCE]
 *
 * The thread count is OpenBLAS's (OPENBLAS_NUM_THREADS).  White-box: it
 * links the internal library for the switch ann__t0_mode. */
#include <string.h>

#include "../lib/ann_internal.h"
#include "bench_common.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_order DIR f32|f64 sgd|momentum|adam ROUNDS [BATCH] [FORCE]\n");
        return 2;
    }
    int f32 = !strcmp(argv[2], "f32"), R = atoi(argv[4]);
    const char *opt = argv[3];
    double batch = argc > 5 ? atof(argv[5]) : 128;
    int on_mode = argc > 6 && atoi(argv[6]) ? 2 : 0;
    if (R < 1 || R > 64)
        R = 64;
    bench_set tr = bench_load_fmnist(argv[1], "train", 0);
    void *X = tr.X;
    if (f32) {
        float *F = bench_xmalloc(tr.n * tr.d * sizeof *F);
        for (size_t i = 0; i < tr.n * tr.d; i++)
            F[i] = (float)tr.X[i];
        free(tr.X);
        X = F;
    }
    size_t units[3] = {256, 128, 10};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m0;
    if (ann_create(&m0, tr.d, 3, units, acts) != ANN_OK)
        return 1;
    ann_set_param(m0, ANN_PARAM_PRECISION, f32 ? ANN_PRECISION_F32 : ANN_PRECISION_F64);
    ann_set_param(m0, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY);
    ann_set_param(m0, ANN_PARAM_BATCH_SIZE, batch);
    ann_set_param(m0, ANN_PARAM_EPOCHS, 1);
    ann_set_param(m0, ANN_PARAM_SEED, 1);
    if (!strcmp(opt, "momentum")) {
        ann_set_param(m0, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM);
        ann_set_param(m0, ANN_PARAM_MOMENTUM, 0.9);
        ann_set_param(m0, ANN_PARAM_LEARNING_RATE, 0.01);
    } else if (!strcmp(opt, "adam")) {
        ann_set_param(m0, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM);
        ann_set_param(m0, ANN_PARAM_LEARNING_RATE, 1e-3);
    } else {
        ann_set_param(m0, ANN_PARAM_LEARNING_RATE, 0.1);
    }
    ann_matrix v = {f32 ? ANN_DTYPE_F32 : ANN_DTYPE_F64, tr.n, tr.d, (ptrdiff_t)tr.d, 1, X};
    ann *m[2];
    if (ann_clone(m0, &m[0]) != ANN_OK || ann_clone(m0, &m[1]) != ANN_OK)
        return 1;
    double t[2][64], d[64];
    for (int r = 0; r <= R; r++) /* round 0: warm-up */
        for (int i = 0; i < 2; i++) {
            int k = (r & 1) ? 1 - i : i;
            ann__t0_mode = k ? on_mode : 1;
            double t0 = bench_now();
            if (ann_fit_labels_view(m[k], &v, tr.y) != ANN_OK) {
                fprintf(stderr, "fit: %s\n", ann_errmsg(m[k]));
                return 1;
            }
            if (r)
                t[k][r - 1] = bench_now() - t0;
        }
    int same = 1;
    for (size_t l = 0; l < 3; l++) {
        size_t nw = units[l] * (l ? units[l - 1] : tr.d);
        double *a = bench_xmalloc((nw + units[l]) * sizeof *a);
        double *b = bench_xmalloc((nw + units[l]) * sizeof *b);
        ann_get_weights(m[0], l, a, a + nw);
        ann_get_weights(m[1], l, b, b + nw);
        same &= !memcmp(a, b, (nw + units[l]) * sizeof *a);
        free(a);
        free(b);
    }
    for (int r = 0; r < R; r++)
        d[r] = t[1][r] - t[0][r];
    printf("{\"work\":\"order\",\"prec\":\"%s\",\"threads\":\"%s\",\"opt\":\"%s\",\"batch\":%g,"
           "\"force\":%d,\"rounds\":%d,\"row_major_s\":%.4f,\"by_rule_s\":%.4f,"
           "\"median_diff_ms\":%.2f,\"same_bits\":%d}\n",
           argv[2], bench_threads_env(), opt, batch, on_mode == 2, R,
           bench_median(t[0], (size_t)R), bench_median(t[1], (size_t)R),
           bench_median(d, (size_t)R) * 1e3, same);
    ann_destroy(m[0]);
    ann_destroy(m[1]);
    ann_destroy(m0);
    free(X);
    free(tr.y);
    return 0;
}
