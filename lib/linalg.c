/* linalg.c - the LAPACKE adapter: the only file that includes lapacke.h.
 *
 * Callers pass finite data of sizes that fit LAPACK's int (LAPACKE's own
 * NaN check does not catch Inf, so finiteness is the caller's job); the
 * info codes are mapped to libann statuses here. */
#include "ann_internal.h"

#include <lapacke.h>
#include <stdlib.h>

static ann_status map_info(lapack_int info)
{
    if (info == 0)
        return ANN_OK;
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        return ANN_ERR_OUT_OF_MEMORY;
    /* info < 0: an argument LAPACK rejected (a libann bug, or a NaN that
     * LAPACKE's check found); info > 0: the algorithm failed. */
    return ANN_ERR_NUMERIC;
}

ann_status ann__sym_eig(size_t n, double *A, double *w)
{
    if (n > ANN__BLAS_INT_MAX)
        return ANN_ERR_TOO_LARGE;
    ann__blas_enter();
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, A,
                                     (lapack_int)n, w);
    ann__blas_leave();
    return map_info(info);
}

ann_status ann__qr_q(size_t m, size_t n, double *A)
{
    if (m > ANN__BLAS_INT_MAX || n > m)
        return ANN_ERR_TOO_LARGE;
    double *tau = malloc((n ? n : 1) * sizeof *tau);
    double *sg = malloc((n ? n : 1) * sizeof *sg);
    if (!tau || !sg) {
        free(tau);
        free(sg);
        return ANN_ERR_OUT_OF_MEMORY;
    }
    lapack_int M = (lapack_int)m, N = (lapack_int)n;
    ann__blas_enter();
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, M, N, A, M, tau);
    if (info == 0) {
        for (size_t j = 0; j < n; j++)
            sg[j] = A[j + j * m] < 0 ? -1.0 : 1.0;
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, M, N, N, A, M, tau);
    }
    ann__blas_leave();
    if (info == 0)
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < m; i++)
                A[i + j * m] *= sg[j];
    free(tau);
    free(sg);
    return map_info(info);
}

ann_status ann__posv(size_t n, double *A, double *b)
{
    if (n > ANN__BLAS_INT_MAX)
        return ANN_ERR_TOO_LARGE;
    ann__blas_enter();
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)n, 1, A, (lapack_int)n,
                                    b, 1);
    ann__blas_leave();
    return map_info(info);
}
