/* consumer_mpi.c - built by tests/run.sh against an installed libann_mpi
 * with `pkg-config --cflags --libs ann-mpi` and run under mpirun -np 2. */
#include <ann_mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    size_t u[1] = {1};
    ann_activation a[1] = {ANN_ACT_IDENTITY};
    ann *m = NULL;
    ann_create(&m, 2, 1, u, a);
    double X[4] = {0, 1, 1, 0}, Y[2] = {1, 2};
    ann_status st = ann_mpi_fit(m, MPI_COMM_WORLD, X, Y, 2);
    printf("consumer: %s\n", ann_status_str(st));
    ann_destroy(m);
    MPI_Finalize();
    return st != ANN_OK;
}
