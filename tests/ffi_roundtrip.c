/* ffi_roundtrip - the C side of the Python binding's persistence tests.
 *
 *   ffi_roundtrip predict MODEL ROWS   load MODEL, predict ROWS rows of the
 *                                      fixed input below, print outputs
 *   ffi_roundtrip save MODEL ROWS      train a fixed 3-5-2 network, save it
 *                                      to MODEL, print its outputs
 *
 * Input row i, column j is ((i*31 + j*17) % 97) / 97.0 - 0.5 (exactly
 * reproducible in NumPy).  Outputs are printed one per line in C99 hex
 * ("%a") so the comparison is bitwise.  Exit status 0 on success. */
#include <ann.h>
#include <stdio.h>
#include <stdlib.h>

static double input(size_t i, size_t j)
{
    return (double)((i * 31 + j * 17) % 97) / 97.0 - 0.5;
}

static int fail(const char *what, ann_status st, const ann *m)
{
    fprintf(stderr, "ffi_roundtrip: %s: %s (%s)\n", what, ann_status_str(st),
            ann_errmsg(m));
    return 1;
}

static int print_predictions(const ann *m, size_t rows)
{
    double n_in = 0, n_out = 0;
    ann_get_param(m, ANN_PARAM_N_INPUTS, &n_in);
    ann_get_param(m, ANN_PARAM_N_OUTPUTS, &n_out);
    size_t ni = (size_t)n_in, no = (size_t)n_out;
    double *X = malloc(rows * ni * sizeof *X), *Y = malloc(rows * no * sizeof *Y);
    if (!X || !Y) {
        free(X);
        free(Y);
        return 1;
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < ni; j++)
            X[i * ni + j] = input(i, j);
    ann_status st = ann_predict(m, X, rows, Y);
    if (st == ANN_OK)
        for (size_t k = 0; k < rows * no; k++)
            printf("%a\n", Y[k]);
    free(X);
    free(Y);
    return st == ANN_OK ? 0 : fail("predict", st, m);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ffi_roundtrip predict|save MODEL ROWS\n");
        return 2;
    }
    size_t rows = (size_t)strtoul(argv[3], NULL, 10);
    ann *m = NULL;
    ann_status st;
    if (argv[1][0] == 'p') {
        st = ann_load(&m, argv[2]);
        if (st != ANN_OK)
            return fail("load", st, NULL);
    } else {
        const size_t units[] = {5, 2};
        const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
        double X[20 * 3], Y[20 * 2];
        for (size_t i = 0; i < 20; i++) {
            for (size_t j = 0; j < 3; j++)
                X[i * 3 + j] = input(i, j);
            Y[i * 2] = X[i * 3] - X[i * 3 + 1];
            Y[i * 2 + 1] = X[i * 3 + 2] * 0.5;
        }
        if ((st = ann_create(&m, 3, 2, units, acts)) != ANN_OK)
            return fail("create", st, NULL);
        ann_set_param(m, ANN_PARAM_SEED, 7);
        ann_set_param(m, ANN_PARAM_EPOCHS, 5);
        ann_set_param(m, ANN_PARAM_BATCH_SIZE, 4);
        if ((st = ann_fit(m, X, Y, 20)) != ANN_OK || (st = ann_save(m, argv[2])) != ANN_OK) {
            int r = fail("fit/save", st, m);
            ann_destroy(m);
            return r;
        }
    }
    int r = print_predictions(m, rows);
    ann_destroy(m);
    return r;
}
