/* fuzz_load.c - libFuzzer target: ann_load_buffer on arbitrary bytes.
 *
 * Each input is tried twice: as given, and with its envelope made
 * consistent (payload length, header CRC and trailer CRC recomputed), so
 * the fuzzer also reaches the section parser behind the checksums instead
 * of stopping at them.  A model that loads must predict, take one training
 * step, and re-save to bytes that load again and re-save identically.
 * Any violation aborts (a finding). */
#include "ann_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void exercise(const uint8_t *p, size_t n)
{
    ann *m = NULL;
    ann_status st = ann_load_buffer(&m, p, n);
    check(ann_errmsg(NULL) != NULL);
    if (st != ANN_OK) {
        check(m == NULL);
        check(st == ANN_ERR_BAD_FORMAT || st == ANN_ERR_UNSUPPORTED ||
              st == ANN_ERR_OUT_OF_MEMORY || st == ANN_ERR_TOO_LARGE);
        return;
    }
    double n_in, n_out;
    check(ann_get_param(m, ANN_PARAM_N_INPUTS, &n_in) == ANN_OK);
    check(ann_get_param(m, ANN_PARAM_N_OUTPUTS, &n_out) == ANN_OK);
    size_t ni = (size_t)n_in, no = (size_t)n_out;
    double *x = calloc(2 * ni, sizeof *x), *y = calloc(2 * no, sizeof *y);
    check(x && y);
    for (size_t i = 0; i < ni; i++)
        x[ni + i] = (double)(i % 7) * 0.25 - 0.5;
    check(ann_predict(m, x, 2, y) == ANN_OK);

    /* canonical re-save: load(save(m)) saves the same bytes */
    size_t need = 0, got = 0, got2 = 0;
    check(ann_save_buffer(m, NULL, 0, &need) == ANN_OK);
    uint8_t *b = malloc(need), *b2 = malloc(need);
    check(b && b2);
    check(ann_save_buffer(m, b, need, &got) == ANN_OK && got == need);
    ann *c = NULL;
    check(ann_load_buffer(&c, b, got) == ANN_OK);
    check(ann_save_buffer(c, b2, need, &got2) == ANN_OK && got2 == got);
    check(memcmp(b, b2, got) == 0);
    double *yc = calloc(2 * no, sizeof *yc);
    check(yc != NULL);
    check(ann_predict(c, x, 2, yc) == ANN_OK);
    check(memcmp(y, yc, 2 * no * sizeof *y) == 0);

    /* one optimizer step from whatever state the file holds (targets in
     * [0, 1] so cross-entropy accepts them); divergence is allowed */
    for (size_t i = 0; i < 2 * no; i++)
        y[i] = (double)(i & 1);
    st = ann_train_batch(m, x, y, 2);
    check(st == ANN_OK || st == ANN_ERR_DIVERGED);
    free(yc);
    free(b);
    free(b2);
    free(x);
    free(y);
    ann_destroy(c);
    ann_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exercise(data, size);
    if (size >= 28) {
        uint8_t *c = malloc(size);
        check(c != NULL);
        memcpy(c, data, size);
        uint64_t payload = size - 28;
        for (int i = 0; i < 8; i++)
            c[12 + i] = (uint8_t)(payload >> (8 * i));
        uint32_t h = ann__crc32c_update(0, c, 20);
        for (int i = 0; i < 4; i++)
            c[20 + i] = (uint8_t)(h >> (8 * i));
        uint32_t t = ann__crc32c_update(0, c, size - 4);
        for (int i = 0; i < 4; i++)
            c[size - 4 + i] = (uint8_t)(t >> (8 * i));
        exercise(c, size);
        free(c);
    }
    return 0;
}
