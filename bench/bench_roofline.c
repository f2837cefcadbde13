/* bench_roofline.c - the GEMM floor: OpenBLAS timed alone at exactly the
 * products libann makes for the Fashion-MNIST net, turned into the least
 * possible time per epoch and per 1000 predictions.
 *
 *   bench_roofline f32|f64 THREADS [TRAIN_ROWS] [BATCH]
 *
 * The products of a step are listed in bench_floor.h (shared with
 * bench_ann, which measures the same floor next to each of its runs).
 * The epoch is 60000/128 full batches plus the remainder batch, each
 * shape timed separately.  Inference: forward
 * products at B = 1024.  Each shape is timed in 7 blocks of >= 20 ms and
 * the median block is used.  The thread count is set with
 * openblas_set_num_threads in this process only; each shape is also timed
 * at 1 thread so the best per-product choice is visible.
 *
 * The optimizer floor: one step's update pass over the net's parameters
 * alone (plain C loops, the same arithmetic as libann's: SGD w -= lr g;
 * momentum v = mu v + g, w -= lr v; Adam m, v and w with one correctly
 * rounded square root and one division per parameter), compiled for AVX2
 * when the CPU has it, times the steps of an epoch.  Plain SGD needs no
 * pass of its own: its step can be the weight-gradient GEMM itself
 * (W <- W - lr D^T A, as libann does it), so (GEMM floor + Adam's pass) /
 * GEMM floor is the least Adam ÷ SGD epoch ratio any implementation that
 * runs its GEMMs at the floor and updates Adam exactly, in one pass on one
 * thread, can reach; likewise for momentum.  SGD's own pass is still
 * reported (upd_sgd_s): what an unfused SGD step costs.  So is the pass
 * of momentum's carried velocity (upd_momentum_carried_s: w -= lr v,
 * v = mu v, on a v fresh from the GEMM; 4 streams over the parameters
 * against the one-pass update's 5): what libann's bit-exact momentum step
 * adds to SGD's GEMMs (a GEMM can write only one of v and w, and both
 * change at every step).
 *
 * Each product is also timed as its transpose (C^T = op(B)^T op(A)^T:
 * the same sums with OpenBLAS packing the other operand first), and
 * epoch_orient_s is the floor with each product in the faster of the two:
 * libann computes layer 0 that way round where it measured faster
 * (float32, one thread, SkylakeX kernels; lib/engine_tmpl.h t0_use), so
 * this is the floor for an implementation free to pick each product's
 * order (a lower bound: not every combination of orders is a consistent
 * layout). */
#include "bench_floor.h"

void openblas_set_num_threads(int);

static int f32;

/* ---- the optimizer passes ---------------------------------------------- */
#define UPD_FUNCS(T, SQRT, SFX)                                                  \
    __attribute__((target_clones("avx2", "default"))) static void    \
    upd_sgd_##SFX(size_t n, T *restrict w, T *restrict g, T lr)                \
    {                                                                          \
        for (size_t i = 0; i < n; i++) {                                       \
            w[i] -= lr * g[i];                                                 \
            g[i] = 0;                                                          \
        }                                                                      \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void    \
    upd_mom_##SFX(size_t n, T *restrict w, T *restrict g, T *restrict v, T lr, T mu) \
    {                                                                          \
        for (size_t i = 0; i < n; i++) {                                       \
            v[i] = mu * v[i] + g[i];                                           \
            w[i] -= lr * v[i];                                                 \
            g[i] = 0;                                                          \
        }                                                                      \
    }                                                                          \
    __attribute__((target_clones("avx2", "default"))) static void    \
    upd_adam_##SFX(size_t n, T *restrict w, T *restrict g, T *restrict mo,     \
                   T *restrict ve, T step, T eps)                              \
    {                                                                          \
        for (size_t i = 0; i < n; i++) {                                       \
            T gi = g[i];                                                       \
            mo[i] = (T)0.9 * mo[i] + (T)0.1 * gi;                              \
            ve[i] = (T)0.999 * ve[i] + (T)0.001 * gi * gi;                     \
            w[i] -= step * mo[i] / (SQRT(ve[i]) + eps);                        \
            g[i] = 0;                                                          \
        }                                                                      \
    }
UPD_FUNCS(float, sqrtf, f)
UPD_FUNCS(double, sqrt, d)

/* Seconds per step of each pass over n parameters (median of 7 blocks of
 * >= 20 ms; the gradient is refilled outside the clock). */
static void time_updates(size_t n, double out[4])
{
    size_t es = f32 ? 4 : 8;
    char *w = bench_xmalloc(n * es), *g = bench_xmalloc(n * es), *a = bench_xmalloc(n * es),
         *b = bench_xmalloc(n * es);
    for (int k = 0; k < 4; k++) {
        double blk[7];
        for (size_t i = 0; i < n; i++) {
            double gi = 1e-3 * (double)(i % 7) - 2e-3, wi = 0.01 * (double)(i % 13);
            if (f32)
                ((float *)w)[i] = (float)wi, ((float *)a)[i] = 0, ((float *)b)[i] = 1e-6f,
                ((float *)g)[i] = (float)gi;
            else
                ((double *)w)[i] = wi, ((double *)a)[i] = 0, ((double *)b)[i] = 1e-6,
                ((double *)g)[i] = gi;
        }
        for (int r = 0; r < 7; r++) {
            size_t reps = 0;
            double t = 0;
            while (t < 0.02) {
                /* a gradient in cache, as after the weight-gradient GEMM */
                if (f32)
                    memset(g, 0x3a, n * es);
                else
                    memset(g, 0x3f, n * es);
                double t0 = bench_now();
                if (k == 0)
                    f32 ? upd_sgd_f(n, (float *)w, (float *)g, 0.1f)
                        : upd_sgd_d(n, (double *)w, (double *)g, 0.1);
                else if (k == 1)
                    f32 ? upd_mom_f(n, (float *)w, (float *)g, (float *)a, 0.01f, 0.9f)
                        : upd_mom_d(n, (double *)w, (double *)g, (double *)a, 0.01, 0.9);
                else if (k == 3)
                    /* momentum's carried pass (bench_floor.h: FLOOR_MOM_CARRIED);
                     * g's refill above stands in for v's, written by the GEMM */
                    f32 ? floor_momc_f(n, (float *)w, (float *)g, 0.01f, 0.9f)
                        : floor_momc_d(n, (double *)w, (double *)g, 0.01, 0.9);
                else
                    f32 ? upd_adam_f(n, (float *)w, (float *)g, (float *)a, (float *)b, 1e-3f, 1e-8f)
                        : upd_adam_d(n, (double *)w, (double *)g, (double *)a, (double *)b, 1e-3, 1e-8);
                t += bench_now() - t0;
                reps++;
            }
            blk[r] = t / (double)reps;
        }
        out[k] = bench_median(blk, 7);
    }
    free(w);
    free(g);
    free(a);
    free(b);
}

/* one shape at the process's current thread count: 7 blocks of >= 20 ms */
static double time_gemm(int ta, int tb, size_t M, size_t N, size_t K)
{
    return floor_time_gemm(f32, ta, tb, M, N, K, 0.02, 7);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_roofline f32|f64 THREADS [TRAIN_ROWS] [BATCH]\n");
        return 2;
    }
    f32 = !strcmp(argv[1], "f32");
    int threads = atoi(argv[2]);
    size_t rows = argc > 3 ? (size_t)atol(argv[3]) : 60000;
    size_t Bt = argc > 4 ? (size_t)atol(argv[4]) : 128;
    const size_t L = FLOOR_L, *fan = floor_fan, *units = floor_units;
    size_t nfull = rows / Bt, rem = rows % Bt;

    double epoch_all = 0, epoch_nodx0 = 0, epoch_best = 0, infer = 0, infer_best = 0;
    double epoch_orient = 0; /* each product in the faster of its two orientations */
    double dx0 = 0;
    for (int pass = 0; pass < 2; pass++) { /* full batches, then the remainder */
        size_t B = pass ? rem : Bt, count = pass ? (rem ? 1 : 0) : nfull;
        if (!count)
            continue;
        for (size_t l = 0; l < L; l++) {
            size_t u = units[l], k = fan[l];
            size_t shp[3][5] = {{0, 1, B, u, k}, {1, 0, u, k, B}, {0, 0, B, k, u}};
            const char *nm[3] = {"fwd", "dW", "dX"};
            for (int p = 0; p < 3; p++) {
                openblas_set_num_threads(threads);
                double tt = time_gemm((int)shp[p][0], (int)shp[p][1], shp[p][2], shp[p][3], shp[p][4]);
                openblas_set_num_threads(1);
                double t1 = threads > 1 ? time_gemm((int)shp[p][0], (int)shp[p][1], shp[p][2],
                                                    shp[p][3], shp[p][4])
                                        : tt;
                double best = tt < t1 ? tt : t1;
                /* the same product as its transpose, C^T = op(B)^T op(A)^T
                 * (the output in the other order, at the thread count) */
                openblas_set_num_threads(threads);
                double ts = time_gemm(!(int)shp[p][1], !(int)shp[p][0], shp[p][3], shp[p][2],
                                      shp[p][4]);
                epoch_all += (double)count * tt;
                if (!(l == 0 && p == 2))
                    epoch_nodx0 += (double)count * tt, epoch_best += (double)count * best,
                        epoch_orient += (double)count * (ts < tt ? ts : tt);
                else
                    dx0 += (double)count * tt;
                printf("{\"work\":\"roofline-shape\",\"prec\":\"%s\",\"threads\":%d,"
                       "\"layer\":%zu,\"product\":\"%s\",\"M\":%zu,\"N\":%zu,\"K\":%zu,"
                       "\"us\":%.3f,\"us_1thread\":%.3f,\"us_transposed\":%.3f,\"gflops\":%.2f}\n",
                       argv[1], threads, l, nm[p], shp[p][2], shp[p][3], shp[p][4], tt * 1e6,
                       t1 * 1e6, ts * 1e6, 2e-9 * (double)(shp[p][2] * shp[p][3] * shp[p][4]) / tt);
            }
        }
    }
    for (size_t l = 0; l < L; l++) {
        openblas_set_num_threads(threads);
        double tt = time_gemm(0, 1, 1024, units[l], fan[l]);
        openblas_set_num_threads(1);
        double t1 = threads > 1 ? time_gemm(0, 1, 1024, units[l], fan[l]) : tt;
        infer += tt * 1000.0 / 1024.0;
        infer_best += (tt < t1 ? tt : t1) * 1000.0 / 1024.0;
        printf("{\"work\":\"roofline-shape\",\"prec\":\"%s\",\"threads\":%d,\"layer\":%zu,"
               "\"product\":\"infer\",\"M\":1024,\"N\":%zu,\"K\":%zu,\"us\":%.3f,"
               "\"us_1thread\":%.3f,\"gflops\":%.2f}\n",
               argv[1], threads, l, units[l], fan[l], tt * 1e6, t1 * 1e6,
               2e-9 * 1024.0 * (double)(units[l] * fan[l]) / tt);
    }
    openblas_set_num_threads(threads);
    double seq_gather, seq = floor_seq_epoch(f32, NULL, rows, Bt, 3, &seq_gather);
    size_t n_params = 0;
    for (size_t l = 0; l < L; l++)
        n_params += units[l] * (fan[l] + 1);
    double upd[4];
    time_updates(n_params, upd);
    double steps = (double)(nfull + (rem ? 1 : 0));
    printf("{\"work\":\"roofline\",\"prec\":\"%s\",\"threads\":\"%d\",\"rows\":%zu,\"batch\":%zu,"
           "\"epoch_all_s\":%.5f,\"epoch_s\":%.5f,\"epoch_best_s\":%.5f,\"dx0_s\":%.5f,"
           "\"train_sps\":%.1f,\"infer_1000_s\":%.6f,\"infer_best_1000_s\":%.6f,"
           "\"infer_sps\":%.1f,\"params\":%zu,\"upd_sgd_s\":%.5f,\"upd_momentum_s\":%.5f,"
           "\"upd_adam_s\":%.5f,\"min_momentum_ratio\":%.4f,\"min_adam_ratio\":%.4f,"
           "\"seq_epoch_s\":%.5f,\"seq_gather_s\":%.5f,\"seq_ceiling\":%.4f,"
           "\"upd_momentum_carried_s\":%.5f,\"epoch_orient_s\":%.5f,\"seq_t0\":%d}\n",
           argv[1], threads, rows, Bt, epoch_all, epoch_nodx0, epoch_best, dx0,
           (double)rows / epoch_nodx0, infer, infer_best, 1000.0 / infer, n_params,
           upd[0] * steps, upd[1] * steps, upd[2] * steps,
           (epoch_nodx0 + upd[1] * steps) / epoch_nodx0,
           (epoch_nodx0 + upd[2] * steps) / epoch_nodx0, seq, seq_gather, epoch_nodx0 / seq,
           upd[3] * steps, epoch_orient, floor_t0(f32, Bt));
    return 0;
}
