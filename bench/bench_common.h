/* bench_common.h - shared by the C benchmark drivers: clocks, statistics,
 * the Fashion-MNIST IDX reader (zlib) and the tiny regression data set.
 * Header-only on purpose: each driver is one translation unit. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <zlib.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* BENCH_SEED in the environment (default 1): run.sh gives repeat r seed r. */
static inline unsigned bench_env_seed(void)
{
    const char *e = getenv("BENCH_SEED");
    return e ? (unsigned)atol(e) : 1u;
}

static inline int bench_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Memory as a numpy user's arrays get it: NumPy (1.24 here) asks the
 * kernel for transparent huge pages (madvise MADV_HUGEPAGE) on every
 * allocation of 4 MiB or more, and this machine grants them only on such
 * advice (/sys/kernel/mm/transparent_hugepage/enabled: madvise).  It
 * matters for shuffled mini-batches: each row of a 188 MB training set
 * is a TLB miss on 4 KiB pages (a 128-row gather: 81 -> 55 us, mean over
 * an epoch's batches).  scikit-learn reads numpy arrays, so its data has
 * them; BENCH_NO_HUGEPAGE=1 gives plain malloc'd memory instead. */
static inline void *bench_xmalloc(size_t n)
{
    void *p = NULL;
#ifdef MADV_HUGEPAGE
    const size_t huge = (size_t)2 << 20;
    if (n >= ((size_t)4 << 20) && !getenv("BENCH_NO_HUGEPAGE")) {
        size_t len = (n + huge - 1) / huge * huge;
        p = aligned_alloc(huge, len);
        if (p)
            madvise(p, len, MADV_HUGEPAGE);
    } else
#endif
        p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

/* ---- Fashion-MNIST ------------------------------------------------------ */
static inline unsigned char *bench_read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (apt-get install dataset-fashion-mnist)\n", path);
        exit(2);
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = bench_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                exit(2);
        }
        int r = gzread(f, buf + n, (unsigned)(cap - n));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    *len = n;
    return buf;
}

static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* X: n x 784 doubles scaled to [0, 1]; labels: n int32. */
typedef struct {
    size_t n, d;
    double *X;
    int32_t *y;
} bench_set;

static inline bench_set bench_load_fmnist(const char *dir, const char *prefix, size_t max_rows)
{
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(p2, sizeof p2, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    size_t l1, l2;
    unsigned char *im = bench_read_gz(p1, &l1), *lb = bench_read_gz(p2, &l2);
    if (l1 < 16 || be32(im) != 2051 || l2 < 8 || be32(lb) != 2049) {
        fprintf(stderr, "bad IDX files in %s\n", dir);
        exit(2);
    }
    bench_set s;
    s.n = be32(im + 4);
    s.d = (size_t)be32(im + 8) * be32(im + 12);
    if (max_rows && max_rows < s.n)
        s.n = max_rows;
    s.X = bench_xmalloc(s.n * s.d * sizeof(double));
    s.y = bench_xmalloc(s.n * sizeof(int32_t));
    for (size_t i = 0; i < s.n * s.d; i++)
        s.X[i] = im[16 + i] / 255.0;
    for (size_t i = 0; i < s.n; i++)
        s.y[i] = lb[8 + i];
    free(im);
    free(lb);
    return s;
}

/* ---- tiny regression data (written by `bench_ann gen-tiny`) ------------- */
/* A binary file of rows x 5 little-endian doubles: 4 features, 1 target. */
static inline double *bench_load_rows(const char *path, size_t cols, size_t *rows)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *rows = (size_t)sz / (cols * sizeof(double));
    double *d = bench_xmalloc(*rows * cols * sizeof(double));
    if (fread(d, sizeof(double), *rows * cols, f) != *rows * cols)
        exit(2);
    fclose(f);
    return d;
}

static inline const char *bench_threads_env(void)
{
    const char *t = getenv("OPENBLAS_NUM_THREADS");
    return t ? t : "default";
}

#endif
