/* common.h - helpers shared by the cmocka tests: data sets made from fixed
 * formulas, weight snapshots.  Header-only so each test stays one file. */
#ifndef ANN_TEST_COMMON_H
#define ANN_TEST_COMMON_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ann.h"

#define ASSERT_OK(expr)                                                          \
    do {                                                                         \
        ann_status st_ = (expr);                                                 \
        if (st_ != ANN_OK)                                                       \
            fail_msg("%s -> %s: %s", #expr, ann_status_str(st_), ann_errmsg(NULL)); \
    } while (0)

/* A small deterministic generator for test data (not the library's). */
static inline uint64_t t_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline double t_unif(uint64_t *s) { return (double)(t_next(s) >> 11) * 0x1.0p-53; }
static inline double t_normal(uint64_t *s)
{
    double u1 = t_unif(s), u2 = t_unif(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The introductory text's house-price example, from a fixed formula:
 *   area      U(50, 250) m^2        bedrooms  1..5
 *   distance  U(1, 30) km to city   age       U(0, 60) years
 *   price (k) = 50 + 1.6 area + 15 bedrooms - 45 ln(1 + distance)
 *               - 0.9 age + 0.002 area^2 + noise,  noise ~ N(0, sigma^2)
 * X is returned raw; house_standardise() z-scores with the given stats. */
#define HOUSE_SIGMA 10.0
static inline double house_price_clean(const double *x)
{
    return 50 + 1.6 * x[0] + 15 * x[1] - 45 * log(1 + x[2]) - 0.9 * x[3] +
           0.002 * x[0] * x[0];
}
static inline void house_make(size_t n, uint64_t seed, double *X, double *y)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double *x = X + 4 * i;
        x[0] = 50 + 200 * t_unif(&s);
        x[1] = (double)(1 + (int)(5 * t_unif(&s)));
        x[2] = 1 + 29 * t_unif(&s);
        x[3] = 60 * t_unif(&s);
        y[i] = house_price_clean(x) + HOUSE_SIGMA * t_normal(&s);
    }
}
/* Column means and standard deviations of an n x d matrix. */
static inline void col_stats(const double *A, size_t n, size_t d, double *mu, double *sd)
{
    for (size_t j = 0; j < d; j++) {
        double s = 0, q = 0;
        for (size_t i = 0; i < n; i++) s += A[i * d + j];
        mu[j] = s / (double)n;
        for (size_t i = 0; i < n; i++) q += (A[i * d + j] - mu[j]) * (A[i * d + j] - mu[j]);
        sd[j] = sqrt(q / (double)n);
        if (sd[j] == 0) sd[j] = 1;
    }
}
static inline void standardise(double *A, size_t n, size_t d, const double *mu, const double *sd)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            A[i * d + j] = (A[i * d + j] - mu[j]) / sd[j];
}

/* All weights and biases of a model, layer after layer, as doubles. */
static inline double *weights_dump(const ann *m, size_t *count)
{
    double nl, np;
    ann_get_param(m, ANN_PARAM_N_LAYERS, &nl);
    ann_get_param(m, ANN_PARAM_N_PARAMETERS, &np);
    double *buf = malloc((size_t)np * sizeof *buf);
    size_t off = 0;
    for (size_t l = 0; l < (size_t)nl; l++) {
        size_t u, fan;
        ann_layer_info(m, l, &u, &fan, NULL);
        ann_get_weights(m, l, buf + off, buf + off + u * fan);
        off += u * fan + u;
    }
    if (count) *count = off;
    return buf;
}
static inline void weights_load(ann *m, const double *buf)
{
    double nl;
    ann_get_param(m, ANN_PARAM_N_LAYERS, &nl);
    size_t off = 0;
    for (size_t l = 0; l < (size_t)nl; l++) {
        size_t u, fan;
        ann_layer_info(m, l, &u, &fan, NULL);
        ann_set_weights(m, l, buf + off, buf + off + u * fan);
        off += u * fan + u;
    }
}
/* Bitwise equality of two models' weights. */
static inline int weights_same(const ann *a, const ann *b)
{
    size_t na, nb;
    double *wa = weights_dump(a, &na), *wb = weights_dump(b, &nb);
    int same = na == nb && memcmp(wa, wb, na * sizeof *wa) == 0;
    free(wa);
    free(wb);
    return same;
}
static inline int weights_equal_buf(const ann *a, const double *buf)
{
    size_t n;
    double *w = weights_dump(a, &n);
    int same = memcmp(w, buf, n * sizeof *w) == 0;
    free(w);
    return same;
}

static inline ann *make_net(size_t n_in, size_t L, const size_t *units, const ann_activation *acts)
{
    ann *m = NULL;
    ASSERT_OK(ann_create(&m, n_in, L, units, acts));
    return m;
}

/* The model's saved bytes (ann_save_buffer into a fresh heap buffer of
 * exactly the size it asks for); *n = their count.  Free with free(). */
static inline unsigned char *t_save_mem(const ann *m, size_t *n)
{
    size_t need = 0;
    ASSERT_OK(ann_save_buffer(m, NULL, 0, &need));
    unsigned char *b = malloc(need);
    assert_non_null(b);
    ASSERT_OK(ann_save_buffer(m, b, need, n));
    assert_int_equal(*n, need);
    return b;
}

/* The model saves to exactly these n bytes. */
static inline void t_assert_saves_as(const ann *m, const void *bytes, size_t n)
{
    size_t nb;
    unsigned char *b = t_save_mem(m, &nb);
    assert_int_equal(nb, n);
    assert_memory_equal(b, bytes, n);
    free(b);
}

#endif
