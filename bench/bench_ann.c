/* bench_ann.c - libann side of the peer benchmark.  One subcommand per
 * workload; each prints one JSON object per line on stdout (bench/run.sh
 * collects them, bench/report.py turns them into the table).
 *
 *   bench_ann gen-tiny OUTDIR
 *   bench_ann fmnist DATADIR f32|f64 sgd|momentum|adam EPOCHS [TRAIN_ROWS]
 *   bench_ann tiny OUTDIR f32|f64 BATCH EPOCHS
 *   bench_ann sweep-width WIDTH BATCH ROWS        (f32, 256-W-W-10)
 *   bench_ann sweep-rows ROWS                     (f64, 16-64-64-1, 1 epoch)
 *
 * Threads: the process's OpenBLAS thread count, from OPENBLAS_NUM_THREADS
 * (the one setting libann leaves to the caller).
 *
 * GEMM accounting: this executable defines cblas_sgemm/cblas_dgemm itself
 * and forwards them to OpenBLAS (dlsym RTLD_NEXT), so every GEMM libann
 * makes is timed: "gemm_frac" is the share of the libann call spent inside
 * GEMM, the rest is libann's own work (activations, loss, update, copies).
 * BENCH_EPOCH_LOG=1 prints each fmnist epoch's time, GEMM and non-GEMM
 * seconds to stderr (the first epoch also pays the fit's setup and its
 * check of X). */
#define _GNU_SOURCE
#include <ann.h>
#include <cblas.h>
#include <dlfcn.h>

#include "bench_floor.h"

/* The adjacent floors (bench_floor.h): 5 blocks of >= 10 ms per shape,
 * about a second per epoch floor. */
#define FLOOR_ADJ_BLOCK_S 0.01
#define FLOOR_ADJ_BLOCKS 5

/* ---- GEMM interposition ------------------------------------------------ */
static double gemm_seconds;
static unsigned long gemm_calls;

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE,
                         blasint, blasint, blasint, float, const float *, blasint,
                         const float *, blasint, float, float *, blasint);
typedef void (*dgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE,
                         blasint, blasint, blasint, double, const double *, blasint,
                         const double *, blasint, double, double *, blasint);

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER o, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint M,
                 OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K,
                 OPENBLAS_CONST float alpha, OPENBLAS_CONST float *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *C,
                 OPENBLAS_CONST blasint ldc)
{
    static sgemm_fn real;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    double t0 = bench_now();
    real(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm_seconds += bench_now() - t0;
    gemm_calls++;
}

void cblas_dgemm(OPENBLAS_CONST enum CBLAS_ORDER o, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint M,
                 OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K,
                 OPENBLAS_CONST double alpha, OPENBLAS_CONST double *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST double *B,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST double beta, double *C,
                 OPENBLAS_CONST blasint ldc)
{
    static dgemm_fn real;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "cblas_dgemm");
    double t0 = bench_now();
    real(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm_seconds += bench_now() - t0;
    gemm_calls++;
}

#define CHECK(call)                                                            \
    do {                                                                       \
        ann_status st_ = (call);                                               \
        if (st_ != ANN_OK) {                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,     \
                    ann_errmsg(NULL));                                         \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* A field of a /proc file such as /proc/self/status, in KiB (0 if absent). */
static double proc_kib(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    char line[256];
    double v = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = atof(line + strlen(key));
    if (f)
        fclose(f);
    return v;
}

static double vm_kib(const char *key) { return proc_kib("/proc/self/status", key); }

static ann *make_net(size_t n_in, size_t L, const size_t *units,
                     const ann_activation *acts, int f32)
{
    ann *m;
    CHECK(ann_create(&m, n_in, L, units, acts));
    CHECK(ann_set_param(m, ANN_PARAM_PRECISION, f32 ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
    /* BENCH_INIT=xavier|he|orthogonal: another initialisation than the
     * default (U(+-1/sqrt(fan_in)), PyTorch's nn.Linear default). */
    const char *init = getenv("BENCH_INIT");
    if (init && !strcmp(init, "xavier"))
        CHECK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER));
    else if (init && !strcmp(init, "he"))
        CHECK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_HE));
    else if (init && !strcmp(init, "orthogonal"))
        CHECK(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_ORTHOGONAL));
    return m;
}

/* A row-major view of rows x cols elements of the model's precision. */
static ann_matrix row_view(void *data, size_t rows, size_t cols, int f32)
{
    ann_matrix v = {f32 ? ANN_DTYPE_F32 : ANN_DTYPE_F64, rows, cols, (ptrdiff_t)cols, 1, data};
    return v;
}

/* The data in the model's precision, as the peers hold it (PyTorch and
 * scikit-learn get float32 arrays for their float32 runs): a float32 copy
 * replaces the doubles, which are freed, so the caller's data is what a
 * float32 user would hold. */
static void *as_prec(double *X, size_t n, int f32)
{
    if (!f32)
        return X;
    float *F = bench_xmalloc(n * sizeof *F);
    for (size_t i = 0; i < n; i++)
        F[i] = (float)X[i];
    free(X);
    return F;
}

/* One-row latency, in ns: the median of 9 blocks of 20000 predictions of
 * consecutive rows of X, through the double API (view = 0: the small nets'
 * fast path) or through row views in the model's precision (view = 1). */
static double one_row_ns(const ann *m, void *X, size_t n_in, size_t n_rows, int view, int f32)
{
    double y[16], t[9];
    size_t per = 20000, esz = f32 ? sizeof(float) : sizeof(double);
    for (int r = 0; r < 9; r++) {
        double t0 = bench_now();
        for (size_t i = 0; i < per; i++) {
            void *row = (char *)X + (i % n_rows) * n_in * esz;
            if (view) {
                ann_matrix xv = row_view(row, 1, n_in, f32), yv = row_view(y, 1, 10, f32);
                ann_predict_view(m, &xv, &yv);
            } else {
                ann_predict(m, row, 1, y);
            }
        }
        t[r] = (bench_now() - t0) / (double)per * 1e9;
    }
    return bench_median(t, 9);
}

/* Linux: reset the peak-RSS mark (clear_refs "5"). */
static void hwm_reset(void)
{
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr) {
        fputs("5", cr);
        fclose(cr);
    }
}

/* The momentum step sequence next to a momentum fit (bench_floor.h), with
 * the least element-wise work (ew), on the fit's rows: after a warm-up
 * epoch of each, MSEQ_ROUNDS rounds of one epoch of SGD's sequence (way
 * 0) and one of each exact momentum way, interleaved so that each way's
 * epoch has an SGD epoch seconds away; run before and after the fit.
 * Per epoch: seconds, and the gather's and one-thread passes' shares. */
#define MSEQ_ROUNDS 3
typedef struct {
    double t[4][2 * MSEQ_ROUNDS], g[4][2 * MSEQ_ROUNDS], p[4][2 * MSEQ_ROUNDS];
    int n;
} mseq_t;

static const char *const floor_way_name[4] = {"sgd", "carried", "beta", "axpy"};

static void mom_seq(int f32, const void *X, size_t rows, mseq_t *ms)
{
    floor_seq q;
    floor_seq_init(&q, f32, X, rows, 128, 1);
    for (int w = FLOOR_SGD; w <= FLOOR_MOM_AXPY; w++)
        floor_seq_run(&q, w, NULL, NULL);
    for (int r = 0; r < MSEQ_ROUNDS; r++, ms->n++)
        for (int w = FLOOR_SGD; w <= FLOOR_MOM_AXPY; w++)
            ms->t[w][ms->n] = floor_seq_run(&q, w, &ms->g[w][ms->n], &ms->p[w][ms->n]);
    floor_seq_free(&q);
}

/* Epoch i of a way, at more than one thread with its gather and
 * one-thread pass split perfectly over two (the least an implementation
 * with a helper thread could take). */
static double mom_seq_at(const mseq_t *ms, int w, int i, int split)
{
    return ms->t[w][i] - (split ? 0.5 * (ms->g[w][i] + ms->p[w][i]) : 0);
}

/* The median over the epochs of a way, or (diff) of its epoch minus the
 * SGD epoch of the same round. */
static double mom_seq_med(const mseq_t *ms, int w, int split, int diff)
{
    double v[2 * MSEQ_ROUNDS];
    for (int i = 0; i < ms->n; i++)
        v[i] = mom_seq_at(ms, w, i, split) - (diff ? mom_seq_at(ms, FLOOR_SGD, i, split) : 0);
    return bench_median(v, (size_t)ms->n);
}

/* cmd_fmnist's timing of one fit, epoch by epoch, from its progress
 * callback. */
typedef struct {
    int f32, adj;
    size_t rows;
    double t_mark, t_train, g_train, hwm, rss0, fl_prev, floor_sum;
} epoch_clock;

/* Add the fit's time, GEMM time and peak memory since the last mark. */
static void clock_stop(epoch_clock *c)
{
    c->t_train += bench_now() - c->t_mark;
    c->g_train += gemm_seconds;
    double h = vm_kib("VmHWM:") / 1024.0;
    c->hwm = h > c->hwm ? h : c->hwm;
}

/* Set the mark: the fit's time, GEMM time and peak memory count again. */
static void clock_start(epoch_clock *c)
{
    hwm_reset();
    gemm_seconds = 0;
    c->t_mark = bench_now();
}

/* After each epoch: the floor next to it, outside the fit's time. */
static int epoch_tick(void *user, size_t epoch, double tl, double vl)
{
    (void)tl, (void)vl;
    epoch_clock *c = user;
    double t0 = c->t_train, g0 = c->g_train;
    clock_stop(c);
    if (getenv("BENCH_EPOCH_LOG"))
        fprintf(stderr, "epoch %zu: %.4f s, gemm %.4f, non-gemm %.4f\n", epoch,
                c->t_train - t0, c->g_train - g0, (c->t_train - t0) - (c->g_train - g0));
    if (c->adj) {
        double fl = floor_epoch(c->f32, c->rows, 128, FLOOR_ADJ_BLOCK_S, FLOOR_ADJ_BLOCKS);
        c->floor_sum += 0.5 * (c->fl_prev + fl);
        c->fl_prev = fl;
    }
    clock_start(c);
    return 0;
}

static int cmd_fmnist(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *dir = argv[2];
    int f32 = !strcmp(argv[3], "f32");
    const char *opt = argv[4];
    size_t epochs = (size_t)atol(argv[5]);
    size_t max_rows = argc > 6 ? (size_t)atol(argv[6]) : 0;
    bench_set tr = bench_load_fmnist(dir, "train", max_rows);
    bench_set te = bench_load_fmnist(dir, "t10k", 0);
    size_t esz = f32 ? sizeof(float) : sizeof(double);
    void *Xtr = as_prec(tr.X, tr.n * tr.d, f32), *Xte = as_prec(te.X, te.n * te.d, f32);
    tr.X = te.X = NULL;
    ann_matrix vtr = row_view(Xtr, tr.n, tr.d, f32), vte = row_view(Xte, te.n, te.d, f32);

    size_t units[3] = {256, 128, 10};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m = make_net(tr.d, 3, units, acts, f32);
    CHECK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    CHECK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 128));
    CHECK(ann_set_param(m, ANN_PARAM_EPOCHS, (double)epochs));
    CHECK(ann_set_param(m, ANN_PARAM_SEED, (double)bench_env_seed()));
    if (!strcmp(opt, "adam")) {
        CHECK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM));
        CHECK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e-3));
    } else if (!strcmp(opt, "momentum")) {
        CHECK(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_MOMENTUM));
        CHECK(ann_set_param(m, ANN_PARAM_MOMENTUM, 0.9));
        CHECK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.01));
    } else {
        CHECK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.1));
    }
    /* Another initialisation (BENCH_INIT) is run for its accuracy only:
     * impl "libann-<init>", no floor or inference timing. */
    const char *init = getenv("BENCH_INIT");
    /* One ann_fit of all epochs, with the GEMM floor measured in this
     * process before the fit and in the progress callback after each
     * epoch (its time is not the fit's); an epoch's floor is
     * the mean of the two next to it ("floor_epoch_s"), so the ratio to
     * the floor compares measurements seconds apart.  Epoch 1's time
     * includes the fit's setup (its buffers), as a user's fit of this
     * many epochs pays it once. */
    /* SGD's step sequence (bench_floor.h) on these rows, before the fit and
     * after it: the epoch's least time without libann's own work. */
    int seq_on = !init && !strcmp(opt, "sgd");
    double seq_g0 = 0, seq_g1 = 0;
    double seq0 = seq_on ? floor_seq_epoch(f32, Xtr, tr.n, 128, 1, &seq_g0) : 0;
    /* Next to a momentum fit: the momentum sequence, the fastest of the
     * exact ways (bench_floor.h), and SGD's sequence beside it. */
    int mseq_on = !init && !strcmp(opt, "momentum");
    mseq_t ms = {0};
    if (mseq_on)
        mom_seq(f32, Xtr, tr.n, &ms);
    epoch_clock ck = {0};
    ck.f32 = f32;
    ck.rows = tr.n;
    ck.adj = !init;
    ck.fl_prev = ck.adj ? floor_epoch(f32, tr.n, 128, FLOOR_ADJ_BLOCK_S, FLOOR_ADJ_BLOCKS) : 0;
    CHECK(ann_set_progress(m, epoch_tick, &ck));
    /* Peak memory of the fit alone: reset the high-water mark (Linux
     * clear_refs "5") before each epoch, then compare VmHWM after it with
     * VmRSS before the fit (the floor's buffers are freed in between). */
    ck.rss0 = vm_kib("VmRSS:") / 1024.0;
    /* How much of the process (mostly the training rows) the kernel backs
     * with transparent huge pages (bench_xmalloc asks for them): a
     * shuffled gather from 4 KiB pages misses the TLB on most rows. */
    double thp_mib = proc_kib("/proc/self/smaps_rollup", "AnonHugePages:") / 1024.0;
    clock_start(&ck);
    CHECK(ann_fit_labels_view(m, &vtr, tr.y));
    clock_stop(&ck); /* the fit's return after its last callback */
    double seq1 = seq_on ? floor_seq_epoch(f32, Xtr, tr.n, 128, 1, &seq_g1) : 0;
    int mway = FLOOR_MOM_CARRIED; /* the fastest way, by its median epoch */
    int split = atoi(bench_threads_env()) > 1;
    if (mseq_on) {
        mom_seq(f32, Xtr, tr.n, &ms);
        for (int w = FLOOR_MOM_CARRIED; w <= FLOOR_MOM_AXPY; w++)
            if (mom_seq_med(&ms, w, split, 0) < mom_seq_med(&ms, mway, split, 0))
                mway = w;
    }
    CHECK(ann_set_progress(m, NULL, NULL));
    double t_train = ck.t_train, g_train = ck.g_train, hwm = ck.hwm;
    double floor_sum = ck.floor_sum, rss0 = ck.rss0;
    double data_mib = (double)(tr.n * (tr.d * esz + sizeof(int32_t))) / 1048576.0;

    int32_t *pred = bench_xmalloc(te.n * sizeof *pred);
    CHECK(ann_predict_labels_view(m, &vte, pred));
    size_t ok = 0;
    for (size_t i = 0; i < te.n; i++)
        ok += pred[i] == te.y[i];

    char impl[64];
    snprintf(impl, sizeof impl, "libann%s%s", init ? "-" : "", init ? init : "");
    double infer = 0, infer_gf = 0, lat = 0, infer_floor = 0, infer_stream = 0;
    double infer_ew = 0, relu_frac = 0, infer_ceil = 0, infer_ceil_split = 0;
    if (!init) {
        double floor_before = floor_infer_1000(f32, FLOOR_ADJ_BLOCK_S, FLOOR_ADJ_BLOCKS);
        double stream_before = floor_infer_stream_1000(f32, Xte, te.n, 5);
        /* the ceiling with bias rows and ReLU, paired (bench_floor.h) */
        double cs0, ew0, relu0, c0 = floor_infer_ceiling(f32, Xte, te.n, 5, &cs0, &ew0, &relu0);
        /* Inference at batch 1024: ann_predict on 1024-row slices of the
         * test set, several passes, median pass rate. */
        void *out = bench_xmalloc(1024 * 10 * esz);
        size_t nb = te.n / 1024;
        double rates[5], gfr[5];
        for (int r = 0; r < 5; r++) {
            gemm_seconds = 0;
            double s0 = bench_now();
            for (size_t b = 0; b < nb; b++) {
                ann_matrix xv = row_view((char *)Xte + b * 1024 * te.d * esz, 1024, te.d, f32);
                ann_matrix yv = row_view(out, 1024, 10, f32);
                CHECK(ann_predict_view(m, &xv, &yv));
            }
            double dt = bench_now() - s0;
            rates[r] = (double)(nb * 1024) / dt;
            gfr[r] = gemm_seconds / dt;
        }
        double cs1, ew1, relu1, c1 = floor_infer_ceiling(f32, Xte, te.n, 5, &cs1, &ew1, &relu1);
        double stream_after = floor_infer_stream_1000(f32, Xte, te.n, 5);
        double floor_after = floor_infer_1000(f32, FLOOR_ADJ_BLOCK_S, FLOOR_ADJ_BLOCKS);
        /* samples/s at the mean of the floors before and after */
        infer_floor = 1000.0 / (0.5 * (floor_before + floor_after));
        infer_stream = 1000.0 / (0.5 * (stream_before + stream_after));
        infer_ew = 1000.0 / (0.5 * (ew0 + ew1));
        relu_frac = (relu0 + relu1) / (ew0 + ew1);
        infer_ceil = 0.5 * (c0 + c1);
        infer_ceil_split = 0.5 * (cs0 + cs1);
        infer = bench_median(rates, 5);
        infer_gf = bench_median(gfr, 5);
        lat = one_row_ns(m, Xte, te.d, te.n, 1, f32) / 1000.0;
        free(out);
    }
    printf("{\"impl\":\"%s\",\"work\":\"fmnist\",\"prec\":\"%s\",\"opt\":\"%s\","
           "\"threads\":\"%s\",\"epochs\":%zu,\"rows\":%zu,\"train_s\":%.4f,"
           "\"train_sps\":%.1f,\"train_gemm_frac\":%.4f,\"acc\":%.4f,"
           "\"infer_sps\":%.1f,\"infer_gemm_frac\":%.4f,\"lat1_us\":%.3f,"
           "\"train_data_mib\":%.1f,\"fit_extra_mib\":%.1f,\"floor_epoch_s\":%.5f,"
           "\"floor_infer_sps\":%.1f,\"floor_infer_stream_sps\":%.1f,"
           "\"seq_epoch_s\":%.5f,\"seq_gather_s\":%.5f,\"thp_mib\":%.1f,"
           "\"mseq_epoch_s\":%.5f,\"mseq_sgd_s\":%.5f,\"mseq_way\":\"%s\","
           "\"mseq_raw_s\":%.5f,\"mseq_sgd_raw_s\":%.5f,\"mseq_diff_s\":%.5f,"
           "\"floor_infer_ew_sps\":%.1f,\"infer_ew_relu_frac\":%.4f,"
           "\"infer_ceiling\":%.4f,\"infer_ceiling_split\":%.4f,\"seq_t0\":%d}\n",
           impl, argv[3], opt, bench_threads_env(), epochs, tr.n, t_train,
           (double)(epochs * tr.n) / t_train, g_train / t_train,
           (double)ok / (double)te.n, infer, infer_gf, lat, data_mib, hwm - rss0,
           floor_sum / (double)epochs, infer_floor, infer_stream, 0.5 * (seq0 + seq1),
           0.5 * (seq_g0 + seq_g1), thp_mib, mseq_on ? mom_seq_med(&ms, mway, split, 0) : 0,
           mseq_on ? mom_seq_med(&ms, FLOOR_SGD, split, 0) : 0,
           mseq_on ? floor_way_name[mway] : "", mseq_on ? mom_seq_med(&ms, mway, 0, 0) : 0,
           mseq_on ? mom_seq_med(&ms, FLOOR_SGD, 0, 0) : 0,
           mseq_on ? mom_seq_med(&ms, mway, split, 1) : 0,
           infer_ew, relu_frac, infer_ceil, infer_ceil_split, floor_t0(f32, 128));
    ann_destroy(m);
    free(Xtr);
    free(Xte);
    free(tr.y);
    free(te.y);
    free(pred);
    return 0;
}

/* ---- tiny regression ---------------------------------------------------- */
static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53;
}

/* House-price-like: 4 standardised features (area, rooms, age, distance),
 * a smooth non-linear price with noise, scaled to unit variance. */
static int cmd_gen_tiny(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    uint64_t s = 42;
    const char *names[2] = {"tiny_train.f64", "tiny_test.f64"};
    size_t rows[2] = {20000, 5000};
    for (int f = 0; f < 2; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", argv[2], names[f]);
        FILE *o = fopen(path, "wb");
        if (!o)
            return 1;
        for (size_t i = 0; i < rows[f]; i++) {
            double r[5];
            for (int k = 0; k < 4; k++)
                r[k] = 2 * sqrt(3.0) * (urand(&s) - 0.5);
            double noise = 0.1 * (urand(&s) + urand(&s) + urand(&s) - 1.5);
            r[4] = 0.6 * r[0] + 0.3 * r[1] - 0.4 * tanh(r[2]) - 0.2 * r[3] * r[3] +
                   0.2 * r[0] * r[1] + noise;
            fwrite(r, sizeof(double), 5, o);
        }
        fclose(o);
    }
    return 0;
}

/* Timed fits per tiny run (median reported); bench_fann does the same. */
#define TINY_FITS 7

static int cmd_tiny(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    char p[1024];
    size_t ntr, nte;
    snprintf(p, sizeof p, "%s/tiny_train.f64", argv[2]);
    double *tr = bench_load_rows(p, 5, &ntr);
    snprintf(p, sizeof p, "%s/tiny_test.f64", argv[2]);
    double *te = bench_load_rows(p, 5, &nte);
    int f32 = !strcmp(argv[3], "f32");
    size_t batch = (size_t)atol(argv[4]), epochs = (size_t)atol(argv[5]);
    double *Xtr = bench_xmalloc(ntr * 4 * sizeof(double)), *ytr = bench_xmalloc(ntr * sizeof(double));
    double *Xte = bench_xmalloc(nte * 4 * sizeof(double)), *yte = bench_xmalloc(nte * sizeof(double));
    for (size_t i = 0; i < ntr; i++) {
        memcpy(Xtr + 4 * i, tr + 5 * i, 4 * sizeof(double));
        ytr[i] = tr[5 * i + 4];
    }
    for (size_t i = 0; i < nte; i++) {
        memcpy(Xte + 4 * i, te + 5 * i, 4 * sizeof(double));
        yte[i] = te[5 * i + 4];
    }
    size_t units[2] = {8, 1};
    ann_activation acts[2] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 2, units, acts, f32);
    CHECK(ann_set_param(m, ANN_PARAM_SEED, (double)bench_env_seed()));
    CHECK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, (double)batch));
    CHECK(ann_set_param(m, ANN_PARAM_EPOCHS, (double)epochs));
    CHECK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, batch == 1 ? 0.01 : 0.05));
    /* A fit here takes milliseconds, so one timing is mostly noise: the
     * same fit from the same untrained model, TINY_FITS times (clones),
     * median time.  The first trained copy is the one evaluated. */
    double ts[TINY_FITS];
    ann *trained = NULL;
    for (int k = 0; k < TINY_FITS; k++) {
        ann *c;
        CHECK(ann_clone(m, &c));
        double t0 = bench_now();
        CHECK(ann_fit(c, Xtr, ytr, ntr));
        ts[k] = bench_now() - t0;
        if (trained)
            ann_destroy(c);
        else
            trained = c;
    }
    ann_destroy(m);
    m = trained;
    double dt = bench_median(ts, TINY_FITS);
    double *yh = bench_xmalloc(nte * sizeof(double));
    CHECK(ann_predict(m, Xte, nte, yh));
    double mse = 0;
    for (size_t i = 0; i < nte; i++)
        mse += (yh[i] - yte[i]) * (yh[i] - yte[i]);
    mse /= (double)nte;
    double lat = one_row_ns(m, Xte, 4, nte, 0, 0);
    printf("{\"impl\":\"libann\",\"work\":\"tiny\",\"prec\":\"%s\",\"batch\":%zu,"
           "\"threads\":\"%s\",\"epochs\":%zu,\"train_sps\":%.1f,\"mse\":%.6f,"
           "\"lat1_ns\":%.1f}\n",
           argv[3], batch, bench_threads_env(), epochs, (double)(epochs * ntr) / dt, mse, lat);
    ann_destroy(m);
    return 0;
}

/* ---- sweeps --------------------------------------------------------------- */
static double *rand_matrix(size_t n, uint64_t seed)
{
    double *X = bench_xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        X[i] = urand(&seed) - 0.5;
    return X;
}

static int cmd_sweep_width(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    size_t W = (size_t)atol(argv[2]), B = (size_t)atol(argv[3]), n = (size_t)atol(argv[4]);
    size_t n_in = 256;
    double *X = rand_matrix(n * n_in, 7);
    int32_t *y = bench_xmalloc(n * sizeof *y);
    uint64_t s = 9;
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t)(urand(&s) * 10);
    size_t units[3] = {W, W, 10};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m = make_net(n_in, 3, units, acts, 1);
    CHECK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    CHECK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, (double)B));
    CHECK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    CHECK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 1e-3));
    gemm_seconds = 0;
    double t0 = bench_now();
    CHECK(ann_fit_labels(m, X, y, n));
    double dt = bench_now() - t0;
    /* multiply-adds per sample: 3 products per layer, minus layer 0's
     * input gradient */
    double macs = 3.0 * (double)(n_in * W + W * W + W * 10) - (double)(n_in * W);
    printf("{\"impl\":\"libann\",\"work\":\"sweep-width\",\"width\":%zu,\"batch\":%zu,"
           "\"threads\":\"%s\",\"rows\":%zu,\"train_sps\":%.1f,\"gflops\":%.3f,"
           "\"train_gemm_frac\":%.4f}\n",
           W, B, bench_threads_env(), n, (double)n / dt, 2 * macs * (double)n / dt * 1e-9,
           gemm_seconds / dt);
    ann_destroy(m);
    return 0;
}

static int cmd_sweep_rows(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    size_t n = (size_t)atol(argv[2]), n_in = 16;
    double *X = rand_matrix(n * n_in, 3);
    double *Y = bench_xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        Y[i] = X[i * n_in] * X[i * n_in + 1] + X[i * n_in + 2];
    size_t units[3] = {64, 64, 1};
    ann_activation acts[3] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_IDENTITY};
    ann *m = make_net(n_in, 3, units, acts, 0);
    CHECK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 64));
    CHECK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    double t0 = bench_now();
    CHECK(ann_fit(m, X, Y, n));
    double dt = bench_now() - t0;
    printf("{\"impl\":\"libann\",\"work\":\"sweep-rows\",\"rows\":%zu,\"threads\":\"%s\","
           "\"train_s\":%.4f,\"train_sps\":%.1f,\"data_mib\":%.2f}\n",
           n, bench_threads_env(), dt, (double)n / dt,
           (double)(n * (n_in + 1) * sizeof(double)) / 1048576.0);
    ann_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        goto usage;
    int r = 2;
    if (!strcmp(argv[1], "fmnist"))
        r = cmd_fmnist(argc, argv);
    else if (!strcmp(argv[1], "gen-tiny"))
        r = cmd_gen_tiny(argc, argv);
    else if (!strcmp(argv[1], "tiny"))
        r = cmd_tiny(argc, argv);
    else if (!strcmp(argv[1], "sweep-width"))
        r = cmd_sweep_width(argc, argv);
    else if (!strcmp(argv[1], "sweep-rows"))
        r = cmd_sweep_rows(argc, argv);
    if (r != 2)
        return r;
usage:
    fprintf(stderr, "usage: see the comment at the top of bench/bench_ann.c\n");
    return 2;
}
