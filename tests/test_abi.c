/* test_abi.c - pins the ABI: every enum value, the enum size, the version
 * macros.  A failure here means a released value changed: never "fix" the
 * test, fix the header. */
#include "common.h"

#include <stddef.h>

static void test_enum_values(void **state)
{
    (void)state;
    assert_int_equal(sizeof(ann_status), sizeof(int));
    assert_int_equal(sizeof(ann_param), sizeof(int));
    assert_int_equal(sizeof(ann_activation), sizeof(int));

    assert_int_equal(ANN_OK, 0);
    assert_int_equal(ANN_ERR_INVALID_ARGUMENT, 1);
    assert_int_equal(ANN_ERR_OUT_OF_MEMORY, 2);
    assert_int_equal(ANN_ERR_IO, 3);
    assert_int_equal(ANN_ERR_BAD_FORMAT, 4);
    assert_int_equal(ANN_ERR_NON_FINITE, 5);
    assert_int_equal(ANN_ERR_DIVERGED, 6);
    assert_int_equal(ANN_ERR_TOO_LARGE, 7);
    assert_int_equal(ANN_STOPPED, 8);
    assert_int_equal(ANN_ERR_BUSY, 9);
    assert_int_equal(ANN_ERR_BUFFER_TOO_SMALL, 10);
    assert_int_equal(ANN_ERR_UNSUPPORTED, 11);
    assert_int_equal(ANN_ERR_NUMERIC, 12);

    assert_int_equal(ANN_ACT_IDENTITY, 0);
    assert_int_equal(ANN_ACT_STEP, 1);
    assert_int_equal(ANN_ACT_SIGMOID, 2);
    assert_int_equal(ANN_ACT_TANH, 3);
    assert_int_equal(ANN_ACT_RELU, 4);
    assert_int_equal(ANN_ACT_LEAKY_RELU, 5);
    assert_int_equal(ANN_ACT_SOFTMAX, 6);

    assert_int_equal(ANN_LOSS_SQUARED_ERROR, 0);
    assert_int_equal(ANN_LOSS_CROSS_ENTROPY, 1);
    assert_int_equal(ANN_INIT_SMALL_UNIFORM, 0);
    assert_int_equal(ANN_INIT_XAVIER, 1);
    assert_int_equal(ANN_INIT_HE, 2);
    assert_int_equal(ANN_INIT_ORTHOGONAL, 3);
    assert_int_equal(ANN_PREPROCESS_NONE, 0);
    assert_int_equal(ANN_PREPROCESS_STANDARDIZE, 1);
    assert_int_equal(ANN_PREPROCESS_PCA, 2);
    assert_int_equal(ANN_PREPROCESS_ZCA, 3);
    assert_int_equal(ANN_PRECISION_F64, 0);
    assert_int_equal(ANN_PRECISION_F32, 1);
    assert_int_equal(ANN_OPTIMIZER_SGD, 0);
    assert_int_equal(ANN_OPTIMIZER_MOMENTUM, 1);
    assert_int_equal(ANN_OPTIMIZER_ADAM, 2);
    assert_int_equal(ANN_OPTIMIZER_LEVENBERG_MARQUARDT, 3);

    assert_int_equal(ANN_PARAM_LEARNING_RATE, 100);
    assert_int_equal(ANN_PARAM_BATCH_SIZE, 101);
    assert_int_equal(ANN_PARAM_EPOCHS, 102);
    assert_int_equal(ANN_PARAM_SHUFFLE, 103);
    assert_int_equal(ANN_PARAM_SEED, 104);
    assert_int_equal(ANN_PARAM_LOSS, 105);
    assert_int_equal(ANN_PARAM_INIT, 200);
    assert_int_equal(ANN_PARAM_LEAKY_SLOPE, 201);
    assert_int_equal(ANN_PARAM_PRECISION, 202);
    assert_int_equal(ANN_PARAM_INIT_GAIN, 203);
    assert_int_equal(ANN_PARAM_OPTIMIZER, 300);
    assert_int_equal(ANN_PARAM_MOMENTUM, 301);
    assert_int_equal(ANN_PARAM_NESTEROV, 302);
    assert_int_equal(ANN_PARAM_ADAM_BETA1, 303);
    assert_int_equal(ANN_PARAM_ADAM_BETA2, 304);
    assert_int_equal(ANN_PARAM_ADAM_EPSILON, 305);
    assert_int_equal(ANN_PARAM_L2, 306);
    assert_int_equal(ANN_PARAM_LR_DECAY, 307);
    assert_int_equal(ANN_PARAM_LM_MU, 308);
    assert_int_equal(ANN_PARAM_LM_MU_FACTOR, 309);
    assert_int_equal(ANN_PARAM_VALIDATION_FRACTION, 400);
    assert_int_equal(ANN_PARAM_PATIENCE, 401);
    assert_int_equal(ANN_PARAM_PREPROCESS, 500);
    assert_int_equal(ANN_PARAM_WHITEN_EPSILON, 501);
    assert_int_equal(ANN_PARAM_TARGET_SCALING, 502);
    assert_int_equal(ANN_PARAM_EPOCHS_RUN, 900);
    assert_int_equal(ANN_PARAM_TRAIN_LOSS, 901);
    assert_int_equal(ANN_PARAM_VALIDATION_LOSS, 902);
    assert_int_equal(ANN_PARAM_BEST_EPOCH, 903);
    assert_int_equal(ANN_PARAM_STEPS, 904);
    assert_int_equal(ANN_PARAM_N_INPUTS, 910);
    assert_int_equal(ANN_PARAM_N_OUTPUTS, 911);
    assert_int_equal(ANN_PARAM_N_LAYERS, 912);
    assert_int_equal(ANN_PARAM_N_PARAMETERS, 913);
}

/* ann_matrix is frozen: its layout is part of the ABI (FFI users build it). */
static void test_matrix_layout(void **state)
{
    (void)state;
    assert_int_equal(ANN_DTYPE_F64, 0);
    assert_int_equal(ANN_DTYPE_F32, 1);
    assert_int_equal(offsetof(ann_matrix, dtype), 0);
    assert_int_equal(offsetof(ann_matrix, rows), sizeof(size_t));
    assert_int_equal(offsetof(ann_matrix, cols), 2 * sizeof(size_t));
    assert_int_equal(offsetof(ann_matrix, row_stride), 3 * sizeof(size_t));
    assert_int_equal(offsetof(ann_matrix, col_stride), 4 * sizeof(size_t));
    assert_int_equal(offsetof(ann_matrix, data), 5 * sizeof(size_t));
    assert_int_equal(sizeof(ann_matrix), 6 * sizeof(size_t));
}

static void test_version_macros(void **state)
{
    (void)state;
    assert_int_equal(ANN_VERSION_MAJOR, 1);
    assert_true(ANN_VERSION_NUMBER >= 10000);
    /* the runtime library is at least as new as the header it was built with */
    assert_true(ann_version_number() / 10000 == ANN_VERSION_MAJOR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_matrix_layout),
        cmocka_unit_test(test_version_macros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
