/* bench_fann.c - the FANN 2.2 peer, through its C API.  Built twice:
 * bench_fann_f (floatfann) and bench_fann_d (doublefann, -DBENCH_FANN_DOUBLE).
 *
 *   bench_fann_X fmnist DATADIR EPOCHS [TRAIN_ROWS]
 *   bench_fann_X tiny OUTDIR EPOCHS
 *
 * FANN has no ReLU, softmax or mini-batches in 2.2: Fashion-MNIST uses
 * symmetric-sigmoid (tanh) hidden layers and sigmoid outputs trained per
 * sample (FANN_TRAIN_INCREMENTAL), the closest it offers; the tiny net is
 * exactly 4-8(tanh)-1 (steepness 1 makes FANN's symmetric sigmoid tanh). */
#ifdef BENCH_FANN_DOUBLE
#include <doublefann.h>
#define PREC "f64"
#else
#include <floatfann.h>
#define PREC "f32"
#endif

#include "bench_common.h"

static struct fann_train_data *make_data(size_t n, size_t ni, size_t no)
{
    struct fann_train_data *d = fann_create_train(n, ni, no);
    if (!d)
        exit(2);
    return d;
}

static double one_row_ns(struct fann *ann, fann_type **in, size_t n)
{
    double t[9];
    size_t per = 20000;
    volatile fann_type sink = 0;
    for (int r = 0; r < 9; r++) {
        double t0 = bench_now();
        for (size_t i = 0; i < per; i++)
            sink += fann_run(ann, in[i % n])[0];
        t[r] = (bench_now() - t0) / (double)per * 1e9;
    }
    (void)sink;
    return bench_median(t, 9);
}

static int cmd_fmnist(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    size_t epochs = (size_t)atol(argv[3]), max_rows = argc > 4 ? (size_t)atol(argv[4]) : 0;
    bench_set tr = bench_load_fmnist(argv[2], "train", max_rows);
    bench_set te = bench_load_fmnist(argv[2], "t10k", 0);
    struct fann_train_data *d = make_data(tr.n, tr.d, 10);
    for (size_t i = 0; i < tr.n; i++) {
        for (size_t j = 0; j < tr.d; j++)
            d->input[i][j] = (fann_type)tr.X[i * tr.d + j];
        for (size_t k = 0; k < 10; k++)
            d->output[i][k] = (fann_type)(tr.y[i] == (int32_t)k);
    }
    struct fann *ann = fann_create_standard(4, (unsigned)tr.d, 256, 128, 10);
    fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
    fann_set_activation_function_output(ann, FANN_SIGMOID);
    fann_set_activation_steepness_hidden(ann, 1.0);
    fann_set_activation_steepness_output(ann, 1.0);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_learning_rate(ann, 0.01f);
    srand(bench_env_seed());
    fann_randomize_weights(ann, -0.05f, 0.05f);
    double t0 = bench_now();
    for (size_t e = 0; e < epochs; e++) {
        fann_shuffle_train_data(d);
        fann_train_epoch(ann, d);
    }
    double dt = bench_now() - t0;
    fann_type *tin = bench_xmalloc(te.n * te.d * sizeof(fann_type));
    fann_type **rows = bench_xmalloc(te.n * sizeof(fann_type *));
    for (size_t i = 0; i < te.n; i++) {
        rows[i] = tin + i * te.d;
        for (size_t j = 0; j < te.d; j++)
            rows[i][j] = (fann_type)te.X[i * te.d + j];
    }
    size_t ok = 0;
    double s0 = bench_now();
    for (size_t i = 0; i < te.n; i++) {
        fann_type *o = fann_run(ann, rows[i]);
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (o[k] > o[best])
                best = k;
        ok += best == te.y[i];
    }
    double infer = (double)te.n / (bench_now() - s0);
    double lat = one_row_ns(ann, rows, te.n) / 1000.0;
    printf("{\"impl\":\"fann\",\"work\":\"fmnist\",\"prec\":\"" PREC "\",\"opt\":\"sgd-per-sample\","
           "\"threads\":\"1\",\"epochs\":%zu,\"rows\":%zu,\"train_s\":%.4f,\"train_sps\":%.1f,"
           "\"acc\":%.4f,\"infer_sps\":%.1f,\"lat1_us\":%.3f}\n",
           epochs, tr.n, dt, (double)(epochs * tr.n) / dt, (double)ok / (double)te.n, infer, lat);
    fann_destroy(ann);
    return 0;
}

static int cmd_tiny(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    char p[1024];
    size_t ntr, nte, epochs = (size_t)atol(argv[3]);
    snprintf(p, sizeof p, "%s/tiny_train.f64", argv[2]);
    double *tr = bench_load_rows(p, 5, &ntr);
    snprintf(p, sizeof p, "%s/tiny_test.f64", argv[2]);
    double *te = bench_load_rows(p, 5, &nte);
    struct fann_train_data *d = make_data(ntr, 4, 1);
    for (size_t i = 0; i < ntr; i++) {
        for (size_t j = 0; j < 4; j++)
            d->input[i][j] = (fann_type)tr[5 * i + j];
        d->output[i][0] = (fann_type)tr[5 * i + 4];
    }
    struct fann *ann = fann_create_standard(3, 4, 8, 1);
    fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
    fann_set_activation_function_output(ann, FANN_LINEAR);
    fann_set_activation_steepness_hidden(ann, 1.0);
    fann_set_activation_steepness_output(ann, 1.0);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_learning_rate(ann, 0.01f);
    srand(bench_env_seed());
    fann_randomize_weights(ann, -0.5f, 0.5f);
    double t0 = bench_now();
    for (size_t e = 0; e < epochs; e++) {
        fann_shuffle_train_data(d);
        fann_train_epoch(ann, d);
    }
    double dt = bench_now() - t0;
    fann_type *tin = bench_xmalloc(nte * 4 * sizeof(fann_type));
    fann_type **rows = bench_xmalloc(nte * sizeof(fann_type *));
    double mse = 0;
    for (size_t i = 0; i < nte; i++) {
        rows[i] = tin + 4 * i;
        for (size_t j = 0; j < 4; j++)
            rows[i][j] = (fann_type)te[5 * i + j];
        double e = (double)fann_run(ann, rows[i])[0] - te[5 * i + 4];
        mse += e * e;
    }
    mse /= (double)nte;
    double lat = one_row_ns(ann, rows, nte);
    printf("{\"impl\":\"fann\",\"work\":\"tiny\",\"prec\":\"" PREC "\",\"batch\":1,"
           "\"threads\":\"1\",\"epochs\":%zu,\"train_sps\":%.1f,\"mse\":%.6f,\"lat1_ns\":%.1f}\n",
           epochs, (double)(epochs * ntr) / dt, mse, lat);
    fann_destroy(ann);
    return 0;
}

int main(int argc, char **argv)
{
    int r = 2;
    if (argc > 1 && !strcmp(argv[1], "fmnist"))
        r = cmd_fmnist(argc, argv);
    else if (argc > 1 && !strcmp(argv[1], "tiny"))
        r = cmd_tiny(argc, argv);
    if (r == 2)
        fprintf(stderr, "usage: see the comment at the top of bench/bench_fann.c\n");
    return r;
}
