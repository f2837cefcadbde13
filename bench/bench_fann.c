/* bench_fann.c - the FANN 2.2 peer, through its C API.  Built twice:
 * bench_fann_f (floatfann) and bench_fann_d (doublefann, -DBENCH_FANN_DOUBLE).
 *
 *   bench_fann_X fmnist DATADIR EPOCHS [TRAIN_ROWS]
 *   bench_fann_X tiny OUTDIR EPOCHS
 *   bench_fann_X tiny-pair OUTDIR EPOCHS
 *
 * tiny-pair runs libann (same precision, linked in) and FANN in one
 * process, alternating: 7 fits each and 9 blocks of one-row predictions
 * each, one after the other, so every ratio compares two measurements
 * taken moments apart (the tiny workloads last milliseconds, and this
 * machine's speed moves by 2x between processes).
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

#include <ann.h>

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

/* The tiny net, seeded: weights and (through rand) the shuffles. */
static struct fann *tiny_net(void)
{
    struct fann *ann = fann_create_standard(3, 4, 8, 1);
    fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
    fann_set_activation_function_output(ann, FANN_LINEAR);
    fann_set_activation_steepness_hidden(ann, 1.0);
    fann_set_activation_steepness_output(ann, 1.0);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_learning_rate(ann, 0.01f);
    srand(bench_env_seed());
    fann_randomize_weights(ann, -0.5f, 0.5f);
    return ann;
}

/* The tiny data set's files (rows of 4 inputs + target): train and test
 * rows, and the training rows as FANN data. */
static struct fann_train_data *tiny_load(const char *dir, double **tr, size_t *ntr, double **te,
                                         size_t *nte)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tiny_train.f64", dir);
    *tr = bench_load_rows(p, 5, ntr);
    snprintf(p, sizeof p, "%s/tiny_test.f64", dir);
    *te = bench_load_rows(p, 5, nte);
    struct fann_train_data *d = make_data(*ntr, 4, 1);
    for (size_t i = 0; i < *ntr; i++) {
        for (size_t j = 0; j < 4; j++)
            d->input[i][j] = (fann_type)(*tr)[5 * i + j];
        d->output[i][0] = (fann_type)(*tr)[5 * i + 4];
    }
    return d;
}

/* Train a fresh tiny net for `epochs` epochs; returns the seconds taken.
 * The first trained net is kept in *keep, later ones destroyed. */
static double fit_fann(struct fann_train_data *d, size_t epochs, struct fann **keep)
{
    struct fann *c = tiny_net();
    double t0 = bench_now();
    for (size_t e = 0; e < epochs; e++) {
        fann_shuffle_train_data(d);
        fann_train_epoch(c, d);
    }
    double dt = bench_now() - t0;
    if (*keep)
        fann_destroy(c);
    else
        *keep = c;
    return dt;
}

static int cmd_tiny(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    double *tr, *te;
    size_t ntr, nte, epochs = (size_t)atol(argv[3]);
    struct fann_train_data *d = tiny_load(argv[2], &tr, &ntr, &te, &nte);
    /* As bench_ann: the same training from the same untrained net (built
     * afresh: FANN 2.2's fann_copy loses state the training needs), 7
     * times, median time; the first trained net is evaluated. */
    double ts[7];
    struct fann *ann = NULL;
    for (int k = 0; k < 7; k++)
        ts[k] = fit_fann(d, epochs, &ann);
    double dt = bench_median(ts, 7);
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

/* ---- tiny-pair: libann and FANN alternating in one process ------------ */
static double fit_libann(ann *proto, const double *X, const double *Y, size_t n, ann **keep)
{
    ann *c;
    if (ann_clone(proto, &c) != ANN_OK)
        exit(2);
    double t0 = bench_now();
    if (ann_fit(c, X, Y, n) != ANN_OK)
        exit(2);
    double dt = bench_now() - t0;
    if (*keep)
        ann_destroy(c);
    else
        *keep = c;
    return dt;
}

static int cmd_tiny_pair(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    double *tr, *te;
    size_t ntr, nte, epochs = (size_t)atol(argv[3]);
    struct fann_train_data *d = tiny_load(argv[2], &tr, &ntr, &te, &nte);
    double *X = bench_xmalloc(ntr * 4 * sizeof(double)), *Y = bench_xmalloc(ntr * sizeof(double));
    for (size_t i = 0; i < ntr; i++) {
        memcpy(X + 4 * i, tr + 5 * i, 4 * sizeof(double));
        Y[i] = tr[5 * i + 4];
    }
    /* libann exactly as bench_ann tiny (batch 1) */
    size_t units[2] = {8, 1};
    ann_activation acts[2] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *proto;
    if (ann_create(&proto, 4, 2, units, acts) != ANN_OK ||
        ann_set_param(proto, ANN_PARAM_PRECISION,
                      !strcmp(PREC, "f32") ? ANN_PRECISION_F32 : ANN_PRECISION_F64) != ANN_OK ||
        ann_set_param(proto, ANN_PARAM_SEED, (double)bench_env_seed()) != ANN_OK ||
        ann_set_param(proto, ANN_PARAM_BATCH_SIZE, 1) != ANN_OK ||
        ann_set_param(proto, ANN_PARAM_EPOCHS, (double)epochs) != ANN_OK ||
        ann_set_param(proto, ANN_PARAM_LEARNING_RATE, 0.01) != ANN_OK)
        return 2;
    double tl[7], tf[7], rt[7];
    ann *lm = NULL;
    struct fann *fm = NULL;
    for (int k = 0; k < 7; k++) {
        tl[k] = fit_libann(proto, X, Y, ntr, &lm);
        tf[k] = fit_fann(d, epochs, &fm);
        rt[k] = tf[k] / tl[k];
    }
    /* one-row prediction: alternating blocks of 20000 calls */
    fann_type *fin = bench_xmalloc(nte * 4 * sizeof(fann_type));
    double *lin = bench_xmalloc(nte * 4 * sizeof(double));
    for (size_t i = 0; i < nte; i++)
        for (size_t j = 0; j < 4; j++) {
            lin[4 * i + j] = te[5 * i + j];
            fin[4 * i + j] = (fann_type)te[5 * i + j];
        }
    double ll[9], lf[9], rl[9];
    size_t per = 20000;
    volatile double sink = 0;
    for (int b = 0; b < 9; b++) {
        double y, t0 = bench_now();
        for (size_t i = 0; i < per; i++) {
            if (ann_predict(lm, lin + 4 * (i % nte), 1, &y) != ANN_OK)
                return 2;
            sink += y;
        }
        ll[b] = (bench_now() - t0) / (double)per * 1e9;
        t0 = bench_now();
        for (size_t i = 0; i < per; i++)
            sink += fann_run(fm, fin + 4 * (i % nte))[0];
        lf[b] = (bench_now() - t0) / (double)per * 1e9;
        rl[b] = lf[b] / ll[b];
    }
    (void)sink;
    double n_s = (double)(epochs * ntr);
    printf("{\"impl\":\"pair\",\"work\":\"tiny-pair\",\"prec\":\"" PREC "\",\"batch\":1,"
           "\"threads\":\"1\",\"epochs\":%zu,\"libann_sps\":%.1f,\"fann_sps\":%.1f,"
           "\"train_ratio\":%.4f,\"libann_ns\":%.1f,\"fann_ns\":%.1f,\"lat_ratio\":%.4f}\n",
           epochs, n_s / bench_median(tl, 7), n_s / bench_median(tf, 7), bench_median(rt, 7),
           bench_median(ll, 9), bench_median(lf, 9), bench_median(rl, 9));
    ann_destroy(lm);
    ann_destroy(proto);
    fann_destroy(fm);
    fann_destroy_train(d);
    free(fin);
    free(lin);
    free(X);
    free(Y);
    free(tr);
    free(te);
    return 0;
}

int main(int argc, char **argv)
{
    int r = 2;
    if (argc > 1 && !strcmp(argv[1], "fmnist"))
        r = cmd_fmnist(argc, argv);
    else if (argc > 1 && !strcmp(argv[1], "tiny"))
        r = cmd_tiny(argc, argv);
    else if (argc > 1 && !strcmp(argv[1], "tiny-pair"))
        r = cmd_tiny_pair(argc, argv);
    if (r == 2)
        fprintf(stderr, "usage: see the comment at the top of bench/bench_fann.c\n");
    return r;
}
