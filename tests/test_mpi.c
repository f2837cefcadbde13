/* test_mpi.c - ann_mpi_fit under mpirun -np N (N = 1, 2, 4; meson test).
 *
 * Every rank builds the same global data set, keeps an unequal shard of
 * it (rank r holds a share growing with r), and trains two models from the
 * same settings: one with ann_mpi_fit on its shard, one with ann_fit on
 * the whole data in one process (the reference).  Checks:
 *   - the distributed weights equal the reference within TOL_F64 / TOL_F32
 *     relative (max |a-b| / max(1, |b|)); bitwise with one rank (f64);
 *   - the ranks' weights are bitwise identical (Allgather of a hash);
 *   - the same holds for labels + softmax cross-entropy + Adam + L2 +
 *     validation/early stopping, and for a float32 model;
 *   - a NaN in the last rank's shard makes EVERY rank return
 *     ANN_ERR_NON_FINITE (the meson timeout bounds a hang).
 * Exit status 0 on success; rank 0 prints the measured differences. */
#include "ann_mpi.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_F64 1e-12
#define TOL_F32 1e-5

static int rank, nranks, failures;

#define CHECK(c, ...)                                                         \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed: ", rank,       \
                    __FILE__, __LINE__, #c);                                  \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            failures++;                                                       \
        }                                                                     \
    } while (0)

enum { N_ROWS = 203, N_IN = 5, N_OUT = 3 };

/* Rank r's shard [lo, hi) of the global rows: sizes grow with r. */
static void shard(size_t n, size_t *lo, size_t *hi)
{
    size_t tot = (size_t)nranks * (size_t)(nranks + 1) / 2;
    size_t r = (size_t)rank;
    *lo = n * (r * (r + 1) / 2) / tot;
    *hi = n * ((r + 1) * (r + 2) / 2) / tot;
}

static void make_data(double *X, double *Y, int32_t *lab)
{
    uint64_t s = 12345;
    for (size_t i = 0; i < N_ROWS; i++) {
        double acc = 0;
        for (size_t j = 0; j < N_IN; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double v = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
            X[i * N_IN + j] = v;
            acc += v * (double)(j + 1);
        }
        for (size_t k = 0; k < N_OUT; k++)
            Y[i * N_OUT + k] = sin(acc * (double)(k + 1)) * 0.5;
        lab[i] = acc < -1 ? 0 : acc < 1 ? 1 : 2;
    }
}

static size_t n_params(const ann *m)
{
    double v;
    ann_get_param(m, ANN_PARAM_N_PARAMETERS, &v);
    return (size_t)v;
}

/* All weights and biases as doubles. */
static double *weights(const ann *m)
{
    double *w = malloc(n_params(m) * sizeof *w), *p = w, nl;
    ann_get_param(m, ANN_PARAM_N_LAYERS, &nl);
    for (size_t l = 0; l < (size_t)nl; l++) {
        size_t u, fan;
        ann_activation a;
        ann_layer_info(m, l, &u, &fan, &a);
        ann_get_weights(m, l, p, p + u * fan);
        p += u * fan + u;
    }
    return w;
}

static uint64_t fnv(const double *w, size_t n)
{
    const unsigned char *b = (const unsigned char *)w;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n * sizeof *w; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static ann *make_model(int act_out, int prec)
{
    size_t units[3] = {16, 8, N_OUT};
    ann_activation acts[3] = {ANN_ACT_TANH, ANN_ACT_RELU, (ann_activation)act_out};
    ann *m = NULL;
    if (ann_create(&m, N_IN, 3, units, acts) != ANN_OK)
        return NULL;
    ann_set_param(m, ANN_PARAM_SEED, 7);
    if (prec)
        ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32);
    return m;
}

/* One configuration: distributed vs single-process. */
static void run_case(const char *name, int labels, int prec, const double *X,
                     const double *Y, const int32_t *lab, void (*cfg)(ann *))
{
    ann *ref = make_model(labels ? ANN_ACT_SOFTMAX : ANN_ACT_IDENTITY, prec);
    ann *dist = make_model(labels ? ANN_ACT_SOFTMAX : ANN_ACT_IDENTITY, prec);
    CHECK(ref && dist, "create");
    if (!ref || !dist)
        return;
    cfg(ref);
    cfg(dist);
    /* Only rank 0's weights count: scramble the others' to prove it. */
    if (rank != 0)
        ann_set_param(dist, ANN_PARAM_SEED, 1000 + rank);
    size_t lo, hi;
    shard(N_ROWS, &lo, &hi);
    ann_status rs = labels ? ann_fit_labels(ref, X, lab, N_ROWS) : ann_fit(ref, X, Y, N_ROWS);
    ann_status ds = labels ? ann_mpi_fit_labels(dist, MPI_COMM_WORLD, X + lo * N_IN,
                                                lab + lo, hi - lo)
                           : ann_mpi_fit(dist, MPI_COMM_WORLD, X + lo * N_IN,
                                         Y + lo * N_OUT, hi - lo);
    CHECK(rs == ANN_OK, "%s: ann_fit: %s", name, ann_errmsg(ref));
    CHECK(ds == ANN_OK, "%s: ann_mpi_fit: %s", name, ann_mpi_errmsg(dist));
    size_t n = n_params(ref);
    double *a = weights(dist), *b = weights(ref), worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1, fabs(b[i]));
        if (!(d <= worst))
            worst = d;
    }
    double tol = prec ? TOL_F32 : TOL_F64;
    if (nranks == 1 && !prec)
        tol = 0;
    CHECK(worst <= tol, "%s: max rel diff %.3g > %.3g", name, worst, tol);
    double e1, e2, s1, s2;
    ann_get_param(ref, ANN_PARAM_EPOCHS_RUN, &e1);
    ann_get_param(dist, ANN_PARAM_EPOCHS_RUN, &e2);
    ann_get_param(ref, ANN_PARAM_STEPS, &s1);
    ann_get_param(dist, ANN_PARAM_STEPS, &s2);
    CHECK(e1 == e2 && s1 == s2, "%s: epochs %g/%g steps %g/%g", name, e1, e2, s1, s2);

    uint64_t h = fnv(a, n), *all = malloc((size_t)nranks * sizeof *all);
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int r = 1; r < nranks; r++)
        CHECK(all[r] == all[0], "%s: rank %d's weights differ from rank 0's", name, r);
    double wmax = worst;
    MPI_Allreduce(&worst, &wmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("np=%d %-28s max rel diff vs single process %.3g (tol %.0e), "
               "epochs %g, ranks bitwise identical: %s\n", nranks, name, wmax,
               tol, e2, failures ? "?" : "yes");
    free(all);
    free(a);
    free(b);
    ann_destroy(ref);
    ann_destroy(dist);
}

static void cfg_sgd(ann *m)
{
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 16);
    ann_set_param(m, ANN_PARAM_EPOCHS, 8);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.05);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM);
    ann_set_param(m, ANN_PARAM_L2, 1e-3);
}

static void cfg_adam(ann *m)
{
    ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 24);
    ann_set_param(m, ANN_PARAM_EPOCHS, 60);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.05);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM);
    ann_set_param(m, ANN_PARAM_L2, 1e-4);
    ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.2);
    ann_set_param(m, ANN_PARAM_PATIENCE, 2);
}

static void cfg_noshuffle(ann *m)
{
    cfg_sgd(m);
    ann_set_param(m, ANN_PARAM_SHUFFLE, 0);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 0); /* full batch */
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    double *X = malloc(N_ROWS * N_IN * sizeof *X), *Y = malloc(N_ROWS * N_OUT * sizeof *Y);
    int32_t *lab = malloc(N_ROWS * sizeof *lab);
    make_data(X, Y, lab);

    run_case("sgd-momentum-l2", 0, 0, X, Y, lab, cfg_sgd);
    run_case("full-batch-no-shuffle", 0, 0, X, Y, lab, cfg_noshuffle);
    run_case("labels-adam-ce-val-early", 1, 0, X, Y, lab, cfg_adam);
    run_case("f32-sgd-momentum-l2", 0, 1, X, Y, lab, cfg_sgd);

    /* Epoch by epoch (fit(1) eight times == fit(8)): the ranks' weights are
     * bitwise identical after every epoch, and end where one process ends. */
    {
        ann *ref = make_model(ANN_ACT_IDENTITY, 0), *m = make_model(ANN_ACT_IDENTITY, 0);
        cfg_sgd(ref);
        cfg_sgd(m);
        ann_set_param(m, ANN_PARAM_EPOCHS, 1);
        size_t lo, hi, n = n_params(m);
        shard(N_ROWS, &lo, &hi);
        CHECK(ann_fit(ref, X, Y, N_ROWS) == ANN_OK, "per-epoch: reference fit");
        uint64_t *all = malloc((size_t)nranks * sizeof *all);
        int same = 1;
        for (int e = 1; e <= 8; e++) {
            ann_status st = ann_mpi_fit(m, MPI_COMM_WORLD, X + lo * N_IN, Y + lo * N_OUT,
                                        hi - lo);
            CHECK(st == ANN_OK, "per-epoch %d: %s", e, ann_mpi_errmsg(m));
            double *w = weights(m);
            uint64_t h = fnv(w, n);
            free(w);
            MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
            for (int r = 1; r < nranks; r++)
                if (all[r] != all[0])
                    same = 0;
        }
        CHECK(same, "per-epoch: ranks' weights differ after some epoch");
        double *a = weights(m), *b = weights(ref), worst = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs(a[i] - b[i]) / fmax(1, fabs(b[i]));
            if (!(d <= worst))
                worst = d;
        }
        CHECK(worst <= (nranks == 1 ? 0 : TOL_F64), "per-epoch: max rel diff %.3g", worst);
        if (rank == 0)
            printf("np=%d 8 x fit(1 epoch): ranks bitwise identical after every epoch: %s, "
                   "max rel diff vs fit(8) in one process %.3g\n", nranks,
                   same ? "yes" : "NO", worst);
        free(a);
        free(b);
        free(all);
        ann_destroy(ref);
        ann_destroy(m);
    }

    /* Different architectures across ranks: everyone gets INVALID_ARGUMENT. */
    if (nranks > 1) {
        size_t units[2] = {rank == 1 ? 9u : 8u, N_OUT};
        ann_activation acts[2] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
        ann *m = NULL;
        ann_create(&m, N_IN, 2, units, acts);
        size_t lo, hi;
        shard(N_ROWS, &lo, &hi);
        ann_status st = ann_mpi_fit(m, MPI_COMM_WORLD, X + lo * N_IN, Y + lo * N_OUT, hi - lo);
        CHECK(st == ANN_ERR_INVALID_ARGUMENT, "mismatch: status %d", (int)st);
        if (rank == 0)
            printf("np=%d models differ on rank 1: %s (\"%s\")\n", nranks,
                   ann_status_str(st), ann_mpi_errmsg(m));
        ann_destroy(m);
    }

    /* Bad data on the last rank: everyone fails the same way. */
    {
        ann *m = make_model(ANN_ACT_IDENTITY, 0);
        cfg_sgd(m);
        size_t lo, hi;
        shard(N_ROWS, &lo, &hi);
        double *Xs = malloc((hi - lo) * N_IN * sizeof *Xs);
        memcpy(Xs, X + lo * N_IN, (hi - lo) * N_IN * sizeof *Xs);
        if (rank == nranks - 1)
            Xs[N_IN + 2] = NAN;
        ann_status st = ann_mpi_fit(m, MPI_COMM_WORLD, Xs, Y + lo * N_OUT, hi - lo);
        CHECK(st == ANN_ERR_NON_FINITE, "NaN case: status %d (%s)", (int)st,
              ann_mpi_errmsg(m));
        double steps;
        ann_get_param(m, ANN_PARAM_STEPS, &steps);
        CHECK(steps == 0, "NaN case: %g steps taken", steps);
        if (rank == 0)
            printf("np=%d NaN on rank %d: rank 0 returned %s (\"%s\")\n", nranks,
                   nranks - 1, ann_status_str(st), ann_mpi_errmsg(m));
        free(Xs);
        ann_destroy(m);
    }

    /* Preprocessing needs global statistics: refused on every rank. */
    {
        ann *m = make_model(ANN_ACT_IDENTITY, 0);
        cfg_sgd(m);
        ann_set_param(m, ANN_PARAM_PREPROCESS, ANN_PREPROCESS_STANDARDIZE);
        size_t lo, hi;
        shard(N_ROWS, &lo, &hi);
        ann_status st = ann_mpi_fit(m, MPI_COMM_WORLD, X + lo * N_IN, Y + lo * N_OUT, hi - lo);
        CHECK(st == ANN_ERR_UNSUPPORTED, "preprocess case: status %d (%s)", (int)st,
              ann_mpi_errmsg(m));
        ann_destroy(m);
    }

    int all_fail = 0;
    MPI_Allreduce(&failures, &all_fail, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("np=%d: %s (%d failed checks)\n", nranks, all_fail ? "FAIL" : "ok", all_fail);
    free(X);
    free(Y);
    free(lab);
    MPI_Finalize();
    return all_fail ? 1 : 0;
}
