/* mpi_scaling.c - samples/s of ann_mpi_fit (issue 9; docs/SCALING.md).
 *
 *   mpirun -np N ./mpi_scaling [width_factor=1] [rows=8192] [epochs=2] [batch=256]
 *
 * A Fashion-MNIST-shaped network 784-(256w)-(128w)-10 (relu, relu,
 * softmax, cross-entropy, SGD + momentum, float64) on synthetic data of the
 * same shape (10 classes); the global rows are split evenly over the ranks.
 * Rank 0 prints: ranks, parameters, samples/s of the timed epochs (one
 * warm-up epoch excluded), and the measured time of one MPI_Allreduce of
 * the gradient buffer.  Lives in examples/ because bench/ belongs to the
 * benchmark work; the numbers are for comparing rank counts, not engines. */
#include "ann_mpi.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    size_t w = argc > 1 ? (size_t)atol(argv[1]) : 1;
    size_t rows = argc > 2 ? (size_t)atol(argv[2]) : 8192;
    int epochs = argc > 3 ? atoi(argv[3]) : 2;
    size_t batch = argc > 4 ? (size_t)atol(argv[4]) : 256;
    if (w < 1 || rows < (size_t)n || epochs < 1 || batch < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: mpi_scaling [width_factor] [rows] [epochs] [batch]\n");
        MPI_Finalize();
        return 2;
    }
    size_t lo = rows * (size_t)rank / (size_t)n, hi = rows * (size_t)(rank + 1) / (size_t)n;
    size_t local = hi - lo;
    double *X = malloc((local ? local : 1) * 784 * sizeof *X);
    int32_t *lab = malloc((local ? local : 1) * sizeof *lab);
    uint64_t s = 88172645463325252ull + lo;
    for (size_t i = 0; i < local; i++) {
        lab[i] = (int32_t)((lo + i) % 10);
        for (size_t j = 0; j < 784; j++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            double noise = (double)(s >> 11) / 9007199254740992.0;
            X[i * 784 + j] = noise * 0.5 + (j % 10 == (size_t)lab[i] ? 0.5 : 0.0);
        }
    }
    size_t units[3] = {256 * w, 128 * w, 10};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m = NULL;
    if (ann_create(&m, 784, 3, units, acts) != ANN_OK) {
        fprintf(stderr, "ann_create: %s\n", ann_errmsg(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, (double)batch);
    ann_set_param(m, ANN_PARAM_EPOCHS, 1);
    ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_HE);
    double np;
    ann_get_param(m, ANN_PARAM_N_PARAMETERS, &np);

    /* warm-up epoch, then the timed ones */
    ann_status st = ann_mpi_fit_labels(m, MPI_COMM_WORLD, X, lab, local);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    ann_set_param(m, ANN_PARAM_EPOCHS, epochs);
    if (st == ANN_OK)
        st = ann_mpi_fit_labels(m, MPI_COMM_WORLD, X, lab, local);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0;

    /* one gradient-sized allreduce, as a step does */
    double *g = calloc((size_t)np + 1, sizeof *g);
    int reps = 20;
    MPI_Allreduce(MPI_IN_PLACE, g, (int)np + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double c0 = MPI_Wtime();
    for (int r = 0; r < reps; r++)
        MPI_Allreduce(MPI_IN_PLACE, g, (int)np + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double tc = (MPI_Wtime() - c0) / reps;
    if (rank == 0) {
        double loss;
        ann_get_param(m, ANN_PARAM_TRAIN_LOSS, &loss);
        printf("ranks %d  params %.0f  rows %zu  batch %zu  epochs %d  status %s  "
               "loss %.4f  time %.3f s  samples/s %.0f  steps/s %.1f  "
               "allreduce(grad) %.3f ms\n",
               n, np, rows, batch, epochs, ann_status_str(st), loss, t,
               (double)rows * epochs / t,
               (double)((rows + batch - 1) / batch) * epochs / t, tc * 1e3);
    }
    free(g);
    free(X);
    free(lab);
    ann_destroy(m);
    MPI_Finalize();
    return st == ANN_OK ? 0 : 1;
}
