/* fashion_mnist.c - a 784-256-128-10 ReLU/softmax network on Fashion-MNIST
 * (Xiao, Rasul & Vollgraf 2017; Debian package dataset-fashion-mnist),
 * trained with Adam on mini-batches, float32.  Prints the loss and test
 * accuracy of every epoch and the final confusion matrix; optionally
 * writes the per-epoch curve as CSV (examples/fashion_mnist.sh plots it).
 *
 * Usage: fashion_mnist [EPOCHS [DATA_DIR [CURVE_CSV]]]
 *   EPOCHS    default 15
 *   DATA_DIR  default /usr/share/datasets/fashion-mnist (the gz IDX files)
 * Exits 0 if the final test accuracy is at least 0.89.
 * Not part of the test suite (about a minute on two cores). */
#include <ann.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static const char *const class_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read a gzipped IDX file: magic 0x0801 (labels) or 0x0803 (images). */
static unsigned char *read_idx(const char *dir, const char *file, uint32_t magic,
                               size_t *count, size_t *item_size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fashion_mnist: cannot open %s (install dataset-fashion-mnist)\n", path);
        return NULL;
    }
    unsigned char hdr[16];
    size_t hlen = magic == 0x0803 ? 16 : 8;
    unsigned char *data = NULL;
    if (gzread(f, hdr, (unsigned)hlen) != (int)hlen || be32(hdr) != magic) {
        fprintf(stderr, "fashion_mnist: %s: not an IDX file of the expected kind\n", path);
        goto out;
    }
    *count = be32(hdr + 4);
    *item_size = magic == 0x0803 ? (size_t)be32(hdr + 8) * be32(hdr + 12) : 1;
    if (*count == 0 || *count > 1000000 || *item_size > 4096) {
        fprintf(stderr, "fashion_mnist: %s: implausible sizes\n", path);
        goto out;
    }
    size_t n = *count * *item_size;
    data = malloc(n);
    if (!data || gzread(f, data, (unsigned)n) != (int)n) {
        fprintf(stderr, "fashion_mnist: %s: short read\n", path);
        free(data);
        data = NULL;
    }
out:
    gzclose(f);
    return data;
}

/* Pixels scaled to [0, 1] as float32; labels as int32. */
static int load_set(const char *dir, const char *images, const char *labels, float **X,
                    int32_t **y, size_t *n)
{
    size_t ni, npix, nl, one;
    unsigned char *img = read_idx(dir, images, 0x0803, &ni, &npix);
    unsigned char *lab = read_idx(dir, labels, 0x0801, &nl, &one);
    if (!img || !lab || ni != nl || npix != 784) {
        free(img);
        free(lab);
        return -1;
    }
    *X = malloc(ni * 784 * sizeof **X);
    *y = malloc(ni * sizeof **y);
    if (!*X || !*y) {
        free(img);
        free(lab);
        return -1;
    }
    for (size_t k = 0; k < ni * 784; k++)
        (*X)[k] = (float)img[k] / 255.0f;
    for (size_t k = 0; k < ni; k++)
        (*y)[k] = lab[k];
    *n = ni;
    free(img);
    free(lab);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check(ann_status st, const ann *m, const char *what)
{
    if (st != ANN_OK)
        fprintf(stderr, "fashion_mnist: %s: %s\n", what, ann_errmsg(m));
    return st != ANN_OK;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 15;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    FILE *curve = NULL;
    if (epochs < 1)
        epochs = 15;
    float *Xtr, *Xte;
    int32_t *ytr, *yte;
    size_t ntr, nte;
    if (load_set(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", &Xtr, &ytr,
                 &ntr) ||
        load_set(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", &Xte, &yte,
                 &nte))
        return 1;
    if (argc > 3 && !(curve = fopen(argv[3], "w"))) {
        perror(argv[3]);
        return 1;
    }
    printf("Fashion-MNIST: %zu training and %zu test images, 784 pixels\n", ntr, nte);

    const size_t units[] = {256, 128, 10};
    const ann_activation acts[] = {ANN_ACT_RELU, ANN_ACT_RELU, ANN_ACT_SOFTMAX};
    ann *m;
    if (check(ann_create(&m, 784, 3, units, acts), NULL, "create"))
        return 1;
    if (check(ann_set_param(m, ANN_PARAM_PRECISION, ANN_PRECISION_F32), m, "precision") ||
        check(ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_HE), m, "init") ||
        check(ann_set_param(m, ANN_PARAM_SEED, 42), m, "seed") ||
        check(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY), m, "loss") ||
        check(ann_set_param(m, ANN_PARAM_OPTIMIZER, ANN_OPTIMIZER_ADAM), m, "optimizer") ||
        check(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.001), m, "lr") ||
        check(ann_set_param(m, ANN_PARAM_LR_DECAY, 0.3), m, "lr decay") ||
        check(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 64), m, "batch") ||
        check(ann_set_param(m, ANN_PARAM_EPOCHS, 1), m, "epochs"))
        return 1;

    /* float32 row-major views: read in place by the float32 model */
    ann_matrix Vtr = {ANN_DTYPE_F32, ntr, 784, 784, 1, Xtr};
    ann_matrix Vte = {ANN_DTYPE_F32, nte, 784, 784, 1, Xte};
    int32_t *pred = malloc(nte * sizeof *pred);
    if (!pred)
        return 1;
    double t0 = now(), acc = 0;
    if (curve)
        fprintf(curve, "epoch,train_loss,test_accuracy,seconds\n");
    printf("epoch  train loss  test accuracy  seconds\n");
    for (int e = 1; e <= epochs; e++) {
        /* one epoch per call: a warm start continues exactly */
        if (check(ann_fit_labels_view(m, &Vtr, ytr), m, "fit") ||
            check(ann_predict_labels_view(m, &Vte, pred), m, "predict"))
            return 1;
        double loss;
        ann_get_param(m, ANN_PARAM_TRAIN_LOSS, &loss);
        size_t right = 0;
        for (size_t i = 0; i < nte; i++)
            right += pred[i] == yte[i];
        acc = (double)right / (double)nte;
        printf("%5d  %10.4f  %13.4f  %7.1f\n", e, loss, acc, now() - t0);
        fflush(stdout);
        if (curve)
            fprintf(curve, "%d,%.6f,%.6f,%.2f\n", e, loss, acc, now() - t0);
    }
    if (curve)
        fclose(curve);

    size_t conf[10][10] = {{0}};
    for (size_t i = 0; i < nte; i++)
        conf[yte[i]][pred[i]]++;
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n%12s", "");
    for (int c = 0; c < 10; c++)
        printf(" %5d", c);
    printf("\n");
    for (int a = 0; a < 10; a++) {
        printf("%d %-10s", a, class_names[a]);
        for (int c = 0; c < 10; c++)
            printf(" %5zu", conf[a][c]);
        printf("\n");
    }
    printf("\ntest accuracy %.4f after %d epochs in %.1f s (target >= 0.89)\n", acc, epochs,
           now() - t0);
    ann_destroy(m);
    free(pred);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    return acc >= 0.89 ? 0 : 2;
}
