/* blas.c - the BLAS adapter: the only file that includes cblas.h.
 *
 * Every argument reaching here has been validated by the caller (sizes fit
 * in BLAS's int, pointers valid): OpenBLAS's xerbla prints and CBLAS's may
 * exit, so it must never run. */
#include "ann_internal.h"

#include <cblas.h>
#include <pthread.h>
#include <string.h>

/* ---- the concurrency gate ----------------------------------------------
 * OpenBLAS keeps a fixed table of per-thread work buffers; about 150
 * threads inside it at once exhaust it and the process dies ("too many
 * memory regions").  libann lets at most ANN__BLAS_SLOTS of its callers in
 * at a time; the rest wait.  The uncontended path is one atomic add, which
 * matters for one-row predictions that take well under a microsecond. */
#define ANN__BLAS_SLOTS 32

static atomic_int active;
static atomic_int waiters;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;

void ann__blas_enter(void)
{
    if (atomic_fetch_add(&active, 1) < ANN__BLAS_SLOTS)
        return;
    atomic_fetch_sub(&active, 1);
    pthread_mutex_lock(&gate_mu);
    atomic_fetch_add(&waiters, 1);
    for (;;) {
        int cur = atomic_load(&active);
        if (cur < ANN__BLAS_SLOTS && atomic_compare_exchange_strong(&active, &cur, cur + 1))
            break;
        if (cur >= ANN__BLAS_SLOTS)
            pthread_cond_wait(&gate_cv, &gate_mu);
    }
    atomic_fetch_sub(&waiters, 1);
    pthread_mutex_unlock(&gate_mu);
}

void ann__blas_leave(void)
{
    atomic_fetch_sub(&active, 1);
    if (atomic_load(&waiters) > 0) {
        pthread_mutex_lock(&gate_mu);
        pthread_cond_broadcast(&gate_cv);
        pthread_mutex_unlock(&gate_mu);
    }
}

/* ---- products ------------------------------------------------------------ */
static inline enum CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

void ann__dgemm(int ta, int tb, size_t M, size_t N, size_t K, double alpha,
                const double *A, size_t lda, const double *B, size_t ldb,
                double beta, double *C, size_t ldc)
{
    cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), (blasint)M, (blasint)N, (blasint)K,
                alpha, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void ann__sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha,
                const float *A, size_t lda, const float *B, size_t ldb,
                float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), (blasint)M, (blasint)N, (blasint)K,
                alpha, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void ann__dgemv(int ta, size_t M, size_t N, double alpha, const double *A,
                size_t lda, const double *x, double beta, double *y)
{
    cblas_dgemv(CblasRowMajor, tr(ta), (blasint)M, (blasint)N, alpha, A,
                (blasint)lda, x, 1, beta, y, 1);
}

void ann__sgemv(int ta, size_t M, size_t N, float alpha, const float *A,
                size_t lda, const float *x, float beta, float *y)
{
    cblas_sgemv(CblasRowMajor, tr(ta), (blasint)M, (blasint)N, alpha, A,
                (blasint)lda, x, 1, beta, y, 1);
}

/* y += a x over n elements, in pieces that fit BLAS's int.  OpenBLAS
 * splits a long axpy between its threads. */
void ann__daxpy(size_t n, double a, const double *x, double *y)
{
    for (size_t o = 0; o < n; o += (size_t)1 << 30) {
        size_t k = n - o < (size_t)1 << 30 ? n - o : (size_t)1 << 30;
        cblas_daxpy((blasint)k, a, x + o, 1, y + o, 1);
    }
}

void ann__saxpy(size_t n, float a, const float *x, float *y)
{
    for (size_t o = 0; o < n; o += (size_t)1 << 30) {
        size_t k = n - o < (size_t)1 << 30 ? n - o : (size_t)1 << 30;
        cblas_saxpy((blasint)k, a, x + o, 1, y + o, 1);
    }
}

/* OpenBLAS's thread count (read, never set). */
int ann__blas_threads(void)
{
    return openblas_get_num_threads();
}

int ann__t0_mode;

/* OpenBLAS's core name is fixed for the process (DYNAMIC_ARCH picks it at
 * load time, or OPENBLAS_CORETYPE does), so it is read once. */
int ann__blas_t0_kernels(void)
{
    static atomic_int known; /* 0 unknown, 1 no, 2 yes */
    int k = atomic_load(&known);
    if (!k) {
        const char *c = openblas_get_corename();
        k = c && (!strcmp(c, "SkylakeX") || !strcmp(c, "Cooperlake") ||
                  !strcmp(c, "SapphireRapids"))
                ? 2
                : 1;
        atomic_store(&known, k);
    }
    return k == 2;
}

/* C (N x N, upper triangle) += A^T A, A is K x N row-major. */
void ann__dsyrk_tn(size_t N, size_t K, const double *A, double *C)
{
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)N, (blasint)K, 1.0, A,
                (blasint)N, 1.0, C, (blasint)N);
}
