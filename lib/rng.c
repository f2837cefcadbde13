/* rng.c - the per-handle generator: xoshiro256** seeded by splitmix64.
 * Per handle, never global, so two models never disturb each other and a
 * seed fully determines weights and shuffles. */
#include "ann_internal.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ann__rng_seed(uint64_t st[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        st[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ann__rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double ann__rng_uniform(uint64_t st[4])
{
    return (double)(ann__rng_next(st) >> 11) * 0x1.0p-53;
}

double ann__rng_normal(uint64_t st[4])
{
    /* Box-Muller; one value per call keeps the stream simple to reason about. */
    double u1;
    do
        u1 = ann__rng_uniform(st);
    while (u1 <= 0.0);
    double u2 = ann__rng_uniform(st);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

size_t ann__rng_below(uint64_t st[4], size_t n)
{
    /* Lemire's rejection on the 64-bit range: unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % (uint64_t)n;
    uint64_t r;
    do
        r = ann__rng_next(st);
    while (r >= limit);
    return (size_t)(r % (uint64_t)n);
}

void ann__shuffle(uint64_t st[4], size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = ann__rng_below(st, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

void ann__sort_indices(size_t *idx, size_t n) { qsort(idx, n, sizeof *idx, cmp_size); }
