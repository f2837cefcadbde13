/*
 * ann_mpi.h - data-parallel training of libann models over MPI.
 * SPDX-License-Identifier: MIT
 *
 * WHAT IT DOES
 *   Every rank of a communicator holds one shard of the training data (its
 *   own rows of X and Y).  ann_mpi_fit trains one model as if
 *   ann_fit had been called on the concatenation of all shards, in rank
 *   order, with the same settings: every optimizer step sums the ranks'
 *   gradient shares with ONE MPI_Allreduce over one contiguous buffer
 *   (the gradient block with the batch loss appended) and every rank then
 *   applies the identical optimizer update, so the weights stay identical
 *   on every rank without being broadcast again.
 *
 * DATA ORDER AND EQUIVALENCE
 *   The global row r is row r - offset(k) of rank k's shard, where
 *   offset(k) is the sum of the shard sizes of ranks 0..k-1; shards may
 *   have different sizes (also 0).  The held-out validation rows, the
 *   per-epoch shuffle and the global mini-batches of ANN_PARAM_BATCH_SIZE
 *   rows are drawn exactly as ann_fit draws them over the global rows;
 *   each rank computes the gradient sum over the rows of the current global
 *   batch that it holds, scaled by 1 / (global batch rows).  The result
 *   equals ann_fit on the concatenated data up to floating-point
 *   summation order (bitwise with one rank, except on a layer of more
 *   than 4096 weights for plain SGD and for momentum: ann_fit folds
 *   those steps into the weight-gradient GEMM, here the summed gradient
 *   is applied afterwards, so the roundings differ).
 *
 * COLLECTIVE SEMANTICS
 *   ann_mpi_fit is collective over comm: every rank must call it (the same
 *   function, the same comm).  Rank 0's settings (ann_set_param), weights,
 *   optimizer state and random-generator state are broadcast first, so all
 *   ranks start identical; the other ranks' settings and weights are
 *   overwritten.  The models must have the same architecture and precision.
 *   Argument and data checks (NULL pointers, NaN/Inf, labels out of range,
 *   a busy handle, mismatched models, out of memory) are agreed before
 *   training: if any rank fails, EVERY rank returns the same status (the
 *   largest status code among the failing ranks) and no rank trains; a
 *   rank that was itself fine gets the message "another rank failed".
 *   Divergence, early stopping and the progress callback's stop request
 *   are decided on reduced values, so all ranks return the same status.
 *   A float32 model reduces in float (the loss sum travels as a float too).
 *   Each rank's progress callback (if set) runs after every epoch with the
 *   global losses; a stop request from any rank stops all ranks.
 *   Every rank keeps an index of the GLOBAL row order (8 bytes per global
 *   row) besides work buffers for one global batch; the data is never
 *   copied or exchanged, only gradients.
 *
 *   Bitwise identity of the ranks' weights relies on MPI_Allreduce giving
 *   every rank the same result, which Open MPI's reduction algorithms do
 *   for MPI_SUM (and which the MPI standard recommends); the tests check it.
 *
 * WHICH libann THE MODELS COME FROM
 *   libann_mpi.so contains its own private copy of the libann engine (the
 *   internal static library of the same source tree, linked whole and
 *   hidden: it exports only ann_mpi_*) and works directly on the model
 *   handle's internals.  Create, configure, save and destroy models with
 *   the public API of libann.so (link both: pkg-config ann-mpi does), and
 *   use a libann.so and a libann_mpi.so from the SAME build / version: the
 *   handle layout is shared between them (not checked at run time).  Keeps
 *   libann.so free of any MPI dependency and its exported symbols unchanged.
 *
 * ERRORS
 *   On failure the message is stored on the handle; ann_mpi_errmsg(model)
 *   returns it (ann_errmsg(model) from libann.so usually does too, but may
 *   prefer an older failure of libann.so on the same thread and handle).
 */
#ifndef ANN_MPI_H
#define ANN_MPI_H

#include "ann.h"

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ANN_MPI_BUILDING_LIBRARY) && defined(__GNUC__)
#define ANN_MPI_API __attribute__((visibility("default")))
#else
#define ANN_MPI_API
#endif

/* Train `model` (a handle created with libann.so) on this rank's shard:
 * X is local_rows x n_inputs, Y is local_rows x n_outputs, row-major
 * doubles; local_rows may be 0 (then X and Y may be NULL) but the global
 * row count must not.  Collective over comm (see above).  Runs
 * ANN_PARAM_EPOCHS epochs of rank 0's settings, with validation and
 * early stopping as ann_fit.  Returns ANN_OK, ANN_ERR_INVALID_ARGUMENT,
 * ANN_ERR_NON_FINITE, ANN_ERR_BUSY, ANN_ERR_OUT_OF_MEMORY,
 * ANN_ERR_TOO_LARGE, ANN_ERR_DIVERGED, ANN_STOPPED, ANN_ERR_UNSUPPORTED (input
 * preprocessing, target scaling or Levenberg-Marquardt set on the model);
 * the same on every rank.  @since 1.0 */
ANN_MPI_API ann_status ann_mpi_fit(ann *model, MPI_Comm comm, const double *X,
                                   const double *Y, size_t local_rows);

/* ann_mpi_fit with class labels in [0, n_outputs-1] (0/1 for a single
 * output) instead of Y, one per local row.  @since 1.0 */
ANN_MPI_API ann_status ann_mpi_fit_labels(ann *model, MPI_Comm comm, const double *X,
                                         const int32_t *labels, size_t local_rows);

/* The message of the last failure of an ann_mpi_* call on this thread for
 * `model` (or the model's stored message); never NULL.  @since 1.0 */
ANN_MPI_API const char *ann_mpi_errmsg(const ann *model);

#ifdef __cplusplus
}
#endif

#endif
