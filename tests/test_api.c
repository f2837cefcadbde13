/* test_api.c - lifecycle, parameters, weights, errors, and every rejected
 * input leaving the model bit-for-bit unchanged.  Black-box: links the
 * shared library. */
#include "common.h"

#include <stdio.h>

static const size_t U3[] = {5, 4, 3};
static const ann_activation A3[] = {ANN_ACT_TANH, ANN_ACT_RELU, ANN_ACT_SOFTMAX};

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(ann_version_number(), ANN_VERSION_NUMBER);
    assert_string_equal(ann_version_string(), ANN_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", ANN_VERSION_MAJOR, ANN_VERSION_MINOR, ANN_VERSION_PATCH);
    assert_string_equal(ann_version_string(), buf);
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = 0; s <= 12; s++) {
        const char *a = ann_status_str((ann_status)s);
        assert_non_null(a);
        assert_true(strlen(a) > 0);
        assert_string_not_equal(a, "unknown status");
        for (int t = 0; t < s; t++)
            assert_string_not_equal(a, ann_status_str((ann_status)t));
    }
    assert_string_equal(ann_status_str((ann_status)999), "unknown status");
}

static void test_create_errors(void **state)
{
    (void)state;
    ann *m = (ann *)0x1;
    size_t u1[] = {3, 2};
    ann_activation a1[] = {ANN_ACT_RELU, ANN_ACT_IDENTITY};
    assert_int_equal(ann_create(NULL, 2, 2, u1, a1), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_create(&m, 2, 2, NULL, a1), ANN_ERR_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(ann_errmsg(NULL), "units"));
    assert_int_equal(ann_create(&m, 2, 2, u1, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(NULL), "activations"));
    assert_int_equal(ann_create(&m, 0, 2, u1, a1), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(NULL), "n_inputs"));
    assert_int_equal(ann_create(&m, 2, 0, u1, a1), ANN_ERR_INVALID_ARGUMENT);
    size_t uz[] = {3, 0};
    assert_int_equal(ann_create(&m, 2, 2, uz, a1), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(NULL), "units[1]"));
    ann_activation bad[] = {ANN_ACT_RELU, (ann_activation)42};
    assert_int_equal(ann_create(&m, 2, 2, u1, bad), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(NULL), "activations[1]"));
    ann_activation hs[] = {ANN_ACT_SOFTMAX, ANN_ACT_IDENTITY};
    assert_int_equal(ann_create(&m, 2, 2, u1, hs), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(NULL), "hidden"));
    size_t one[] = {1};
    ann_activation sm[] = {ANN_ACT_SOFTMAX};
    assert_int_equal(ann_create(&m, 2, 1, one, sm), ANN_ERR_INVALID_ARGUMENT);
    size_t huge[] = {SIZE_MAX / 2, 2};
    assert_int_equal(ann_create(&m, 2, 2, huge, a1), ANN_ERR_TOO_LARGE);
    size_t big[] = {70000, 70000};
    assert_int_equal(ann_create(&m, 2, 2, big, a1), ANN_ERR_TOO_LARGE);
    assert_int_equal(ann_create(&m, (size_t)1 << 40, 2, u1, a1), ANN_ERR_TOO_LARGE);
    assert_null(m);
    ann_destroy(NULL);
}

static void test_params(void **state)
{
    (void)state;
    ann *m = make_net(3, 3, U3, A3);
    static const ann_param keys[] = {
        ANN_PARAM_LEARNING_RATE, ANN_PARAM_BATCH_SIZE, ANN_PARAM_EPOCHS, ANN_PARAM_SHUFFLE,
        ANN_PARAM_SEED, ANN_PARAM_LOSS, ANN_PARAM_INIT, ANN_PARAM_LEAKY_SLOPE,
        ANN_PARAM_PRECISION, ANN_PARAM_OPTIMIZER, ANN_PARAM_MOMENTUM, ANN_PARAM_NESTEROV,
        ANN_PARAM_ADAM_BETA1, ANN_PARAM_ADAM_BETA2, ANN_PARAM_ADAM_EPSILON, ANN_PARAM_L2,
        ANN_PARAM_LR_DECAY, ANN_PARAM_VALIDATION_FRACTION, ANN_PARAM_PATIENCE};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double lo, hi, def, v;
        ASSERT_OK(ann_param_bounds(keys[i], &lo, &hi, &def));
        assert_true(lo <= def && def <= hi);
        ASSERT_OK(ann_get_param(m, keys[i], &v));
        assert_true(v == def);
        /* out of range on both sides, NaN: rejected, value unchanged */
        assert_int_equal(ann_set_param(m, keys[i], hi + 1 + fabs(hi)), ANN_ERR_INVALID_ARGUMENT);
        assert_int_equal(ann_set_param(m, keys[i], lo - 1), ANN_ERR_INVALID_ARGUMENT);
        assert_int_equal(ann_set_param(m, keys[i], NAN), ANN_ERR_INVALID_ARGUMENT);
        ASSERT_OK(ann_get_param(m, keys[i], &v));
        assert_true(v == def);
    }
    /* the message names the parameter */
    assert_int_equal(ann_set_param(m, ANN_PARAM_LEARNING_RATE, -1), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "learning_rate"));
    assert_int_equal(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_param(m, ANN_PARAM_EPOCHS, 2.5), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "integer"));
    assert_int_equal(ann_set_param(m, ANN_PARAM_EPOCHS_RUN, 1), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "read-only"));
    assert_int_equal(ann_set_param(m, (ann_param)12345, 1), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_param_bounds((ann_param)12345, NULL, NULL, NULL), ANN_ERR_INVALID_ARGUMENT);
    double v;
    assert_int_equal(ann_get_param(m, (ann_param)12345, &v), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_get_param(m, ANN_PARAM_EPOCHS, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_param(NULL, ANN_PARAM_EPOCHS, 1), ANN_ERR_INVALID_ARGUMENT);

    /* round trip */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.125));
    ASSERT_OK(ann_get_param(m, ANN_PARAM_LEARNING_RATE, &v));
    assert_true(v == 0.125);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    /* read-only facts */
    ASSERT_OK(ann_get_param(m, ANN_PARAM_N_INPUTS, &v));
    assert_true(v == 3);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_N_OUTPUTS, &v));
    assert_true(v == 3);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_N_LAYERS, &v));
    assert_true(v == 3);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_N_PARAMETERS, &v));
    assert_true(v == 5 * 3 + 5 + 4 * 5 + 4 + 3 * 4 + 3);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_VALIDATION_LOSS, &v));
    assert_true(isnan(v));
    /* reset keeps the weight-shaping keys */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 7));
    ASSERT_OK(ann_reset_params(m));
    ASSERT_OK(ann_get_param(m, ANN_PARAM_LEARNING_RATE, &v));
    assert_true(v == 0.01);
    ASSERT_OK(ann_get_param(m, ANN_PARAM_SEED, &v));
    assert_true(v == 7);
    ann_destroy(m);

    /* cross-entropy needs a probability output */
    size_t u[] = {2};
    ann_activation a[] = {ANN_ACT_IDENTITY};
    m = make_net(2, 1, u, a);
    assert_int_equal(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "cross-entropy"));
    ann_destroy(m);
}

static void test_layer_info_and_weights(void **state)
{
    (void)state;
    ann *m = make_net(3, 3, U3, A3);
    size_t u, fan;
    ann_activation act;
    ASSERT_OK(ann_layer_info(m, 1, &u, &fan, &act));
    assert_int_equal(u, 4);
    assert_int_equal(fan, 5);
    assert_int_equal(act, ANN_ACT_RELU);
    assert_int_equal(ann_layer_info(m, 3, &u, NULL, NULL), ANN_ERR_INVALID_ARGUMENT);

    /* default init: small, non-zero, within 1/sqrt(fan_in) */
    double W[20], b[4];
    ASSERT_OK(ann_get_weights(m, 1, W, b));
    for (int i = 0; i < 20; i++) {
        assert_true(W[i] != 0);
        assert_true(fabs(W[i]) <= 1 / sqrt(5.0));
    }
    for (int i = 0; i < 20; i++)
        W[i] = i * 0.25 - 2;
    for (int i = 0; i < 4; i++)
        b[i] = -i;
    ASSERT_OK(ann_set_weights(m, 1, W, b));
    double W2[20], b2[4];
    ASSERT_OK(ann_get_weights(m, 1, W2, b2));
    assert_memory_equal(W, W2, sizeof W);
    assert_memory_equal(b, b2, sizeof b);
    /* only biases */
    b[0] = 42;
    ASSERT_OK(ann_set_weights(m, 1, NULL, b));
    ASSERT_OK(ann_get_weights(m, 1, W2, b2));
    assert_memory_equal(W, W2, sizeof W);
    assert_true(b2[0] == 42);

    size_t n;
    double *before = weights_dump(m, &n);
    W[7] = NAN;
    assert_int_equal(ann_set_weights(m, 1, W, b), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "W[1][2]"));
    b[3] = INFINITY;
    W[7] = 0;
    assert_int_equal(ann_set_weights(m, 1, W, b), ANN_ERR_NON_FINITE);
    assert_int_equal(ann_set_weights(m, 1, NULL, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_set_weights(m, 9, W, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_get_weights(m, 0, NULL, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_get_weights(m, 3, W, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_true(weights_equal_buf(m, before));
    free(before);
    ann_destroy(m);
}

static void test_seed_init_precision(void **state)
{
    (void)state;
    ann *a = make_net(3, 3, U3, A3), *b = make_net(3, 3, U3, A3);
    assert_true(weights_same(a, b));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_SEED, 11));
    assert_false(weights_same(a, b));
    ASSERT_OK(ann_set_param(b, ANN_PARAM_SEED, 11));
    assert_true(weights_same(a, b));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_INIT, ANN_INIT_HE));
    assert_false(weights_same(a, b));
    ASSERT_OK(ann_set_param(a, ANN_PARAM_INIT, ANN_INIT_XAVIER));
    double bb[5];
    ASSERT_OK(ann_get_weights(a, 0, NULL, bb));
    for (int i = 0; i < 5; i++)
        assert_true(bb[i] == 0);

    /* precision: F64 -> F32 rounds each weight to float; back is exact */
    size_t n;
    double *w64 = weights_dump(b, &n);
    ASSERT_OK(ann_set_param(b, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    double *w32 = weights_dump(b, NULL);
    for (size_t i = 0; i < n; i++)
        assert_true(w32[i] == (double)(float)w64[i]);
    ASSERT_OK(ann_set_param(b, ANN_PARAM_PRECISION, ANN_PRECISION_F64));
    assert_true(weights_equal_buf(b, w32));
    free(w64);
    free(w32);
    ann_destroy(a);
    ann_destroy(b);
}

static void test_clone(void **state)
{
    (void)state;
    ann *a = make_net(3, 3, U3, A3), *c = NULL;
    ASSERT_OK(ann_set_param(a, ANN_PARAM_LEARNING_RATE, 0.3));
    ASSERT_OK(ann_clone(a, &c));
    assert_true(weights_same(a, c));
    double v;
    ASSERT_OK(ann_get_param(c, ANN_PARAM_LEARNING_RATE, &v));
    assert_true(v == 0.3);
    /* independent: changing the clone leaves the original */
    double b[5] = {1, 2, 3, 4, 5};
    ASSERT_OK(ann_set_weights(c, 0, NULL, b));
    assert_false(weights_same(a, c));
    ann *d = (ann *)0x1;
    assert_int_equal(ann_clone(NULL, &d), ANN_ERR_INVALID_ARGUMENT);
    assert_null(d); /* *out is cleared on failure */
    assert_int_equal(ann_clone(a, NULL), ANN_ERR_INVALID_ARGUMENT);
    ann_destroy(a);
    ann_destroy(c);
}

/* Every rejected training/prediction input: the right status, a message
 * naming the argument, and weights, parameters and results untouched. */
static void test_rejected_inputs(void **state)
{
    (void)state;
    ann *m = make_net(3, 3, U3, A3);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, ANN_LOSS_CROSS_ENTROPY));
    enum { N = 6 };
    double X[N * 3], Y[N * 3], out[N * 3];
    int32_t lab[N];
    for (int i = 0; i < N * 3; i++) {
        X[i] = sin(i);
        Y[i] = (i % 3) == (i / 3) % 3;
    }
    for (int i = 0; i < N; i++)
        lab[i] = i % 3;
    size_t n;
    double *before = weights_dump(m, &n);
    double steps0;
    ann_get_param(m, ANN_PARAM_STEPS, &steps0);

    assert_int_equal(ann_fit(NULL, X, Y, N), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_fit(m, NULL, Y, N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "X is NULL"));
    assert_int_equal(ann_fit(m, X, NULL, N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "Y is NULL"));
    assert_int_equal(ann_fit(m, X, Y, 0), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "n_rows"));
    assert_int_equal(ann_fit(m, X, Y, SIZE_MAX / 2), ANN_ERR_TOO_LARGE);

    X[2 * 3 + 1] = NAN;
    assert_int_equal(ann_fit(m, X, Y, N), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "X[2][1] is NaN"));
    assert_int_equal(ann_predict(m, X, N, out), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "X[2][1]"));
    assert_int_equal(ann_fit_labels(m, X, lab, N), ANN_ERR_NON_FINITE);
    assert_int_equal(ann_train_batch(m, X, Y, N), ANN_ERR_NON_FINITE);
    X[2 * 3 + 1] = -INFINITY;
    assert_int_equal(ann_fit(m, X, Y, N), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "infinite"));
    X[2 * 3 + 1] = 0.5;

    Y[4 * 3 + 2] = INFINITY;
    assert_int_equal(ann_fit(m, X, Y, N), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(m), "Y[4][2]"));
    double loss;
    assert_int_equal(ann_evaluate(m, X, Y, N, &loss), ANN_ERR_NON_FINITE);
    Y[4 * 3 + 2] = 1.5; /* cross-entropy target outside [0, 1] */
    assert_int_equal(ann_fit(m, X, Y, N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "Y[4][2]"));
    Y[4 * 3 + 2] = 0;

    lab[3] = 3;
    assert_int_equal(ann_fit_labels(m, X, lab, N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "labels[3]"));
    lab[3] = -1;
    assert_int_equal(ann_fit_labels(m, X, lab, N), ANN_ERR_INVALID_ARGUMENT);
    lab[3] = 0;
    assert_int_equal(ann_fit_labels(m, X, NULL, N), ANN_ERR_INVALID_ARGUMENT);

    assert_int_equal(ann_predict(m, X, N, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_predict(m, NULL, N, out), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_predict(m, X, 0, out), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_predict(NULL, X, N, out), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_predict(m, X, SIZE_MAX / 2, out), ANN_ERR_TOO_LARGE);
    assert_int_equal(ann_predict_labels(m, X, N, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_evaluate(m, X, Y, N, NULL), ANN_ERR_INVALID_ARGUMENT);
    assert_int_equal(ann_evaluate(m, X, NULL, N, &loss), ANN_ERR_INVALID_ARGUMENT);

    /* validation fraction leaving nothing to validate on */
    ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0.1));
    assert_int_equal(ann_fit(m, X, Y, N), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(m), "validation"));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_VALIDATION_FRACTION, 0));

    assert_true(weights_equal_buf(m, before));
    double steps1;
    ann_get_param(m, ANN_PARAM_STEPS, &steps1);
    assert_true(steps0 == steps1);
    /* and the valid call still works afterwards */
    ASSERT_OK(ann_fit(m, X, Y, N));
    assert_false(weights_equal_buf(m, before));
    free(before);
    ann_destroy(m);
}

/* The thread's message and the handle's message. */
/* ann_predict with Y overlapping X (in place, one row and several) gives
 * what separate buffers give: the one-row path for small double nets
 * writes the last layer straight into Y, which must not be read after. */
static void test_predict_in_place(void **state)
{
    (void)state;
    for (int p = 0; p < 2; p++)
        for (size_t L = 1; L <= 3; L++) {
            size_t units[3] = {3, 5, 2};
            ann_activation acts[3] = {ANN_ACT_TANH, ANN_ACT_SIGMOID, ANN_ACT_IDENTITY};
            units[L - 1] = 2;
            acts[L - 1] = ANN_ACT_IDENTITY;
            ann *m;
            ASSERT_OK(ann_create(&m, 4, L, units, acts));
            ASSERT_OK(ann_set_param(m, ANN_PARAM_PRECISION,
                                    p ? ANN_PRECISION_F32 : ANN_PRECISION_F64));
            ASSERT_OK(ann_reinit(m));
            uint64_t s = 5 + L;
            double x[3 * 4], buf[3 * 4], ref[3 * 2];
            for (size_t i = 0; i < 12; i++)
                x[i] = t_normal(&s);
            for (size_t n = 1; n <= 3; n += 2) {
                ASSERT_OK(ann_predict(m, x, n, ref));
                memcpy(buf, x, sizeof x);
                /* row r of Y at buf + 2r overlaps X (rows at buf + 4r) */
                ASSERT_OK(ann_predict(m, buf, n, buf));
                assert_memory_equal(buf, ref, n * 2 * sizeof(double));
            }
            ann_destroy(m);
        }
}

static void test_errmsg_routing(void **state)
{
    (void)state;
    ann *a = make_net(3, 3, U3, A3), *b = make_net(3, 3, U3, A3);
    assert_string_equal(ann_errmsg(a), "");
    assert_int_equal(ann_set_param(a, ANN_PARAM_EPOCHS, 0), ANN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ann_errmsg(a), "epochs"));
    assert_non_null(strstr(ann_errmsg(NULL), "epochs"));
    double out[3];
    double x[3] = {NAN, 0, 0};
    assert_int_equal(ann_predict(b, x, 1, out), ANN_ERR_NON_FINITE);
    assert_non_null(strstr(ann_errmsg(b), "X[0][0]"));
    /* a's message is still a's */
    assert_non_null(strstr(ann_errmsg(a), "epochs"));
    ann_destroy(a);
    ann_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_layer_info_and_weights),
        cmocka_unit_test(test_seed_init_precision),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_rejected_inputs),
        cmocka_unit_test(test_errmsg_routing),
        cmocka_unit_test(test_predict_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
