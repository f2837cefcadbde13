/* test_learning.c - the network learns what the introductory text says it
 * should: XOR through a hidden layer, AND/OR with a single step perceptron,
 * house prices to the noise floor with per-sample, mini-batch and
 * full-batch descent; seeds reproduce; float32 agrees with float64. */
#include "common.h"

#include <stdio.h>

static const double XOR_X[] = {0, 0, 0, 1, 1, 0, 1, 1};

static int accuracy4(const ann *m, const double *want)
{
    int32_t lab[4];
    ASSERT_OK(ann_predict_labels(m, XOR_X, 4, lab));
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += lab[i] == (int32_t)want[i];
    return ok;
}

static void xor_with(ann_activation hidden, ann_loss loss, double lr)
{
    size_t u[] = {4, 1};
    ann_activation a[] = {hidden, ANN_ACT_SIGMOID};
    ann *m = make_net(2, 2, u, a);
    double y[] = {0, 1, 1, 0};
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 3));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LOSS, loss));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, lr));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 1));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 10));
    int epochs = 0;
    while (accuracy4(m, y) < 4 && epochs < 20000) {
        ASSERT_OK(ann_fit(m, XOR_X, y, 4));
        epochs += 10;
    }
    assert_int_equal(accuracy4(m, y), 4);
    printf("XOR (hidden act %d, loss %d): 100%% accuracy after %d epochs\n", (int)hidden,
           (int)loss, epochs);
    ann_destroy(m);
}

static void test_xor(void **state)
{
    (void)state;
    xor_with(ANN_ACT_TANH, ANN_LOSS_SQUARED_ERROR, 0.5);
    xor_with(ANN_ACT_SIGMOID, ANN_LOSS_SQUARED_ERROR, 0.5);
    xor_with(ANN_ACT_TANH, ANN_LOSS_CROSS_ENTROPY, 0.1);
    xor_with(ANN_ACT_SIGMOID, ANN_LOSS_CROSS_ENTROPY, 0.1);
}

/* One step neuron trained with the straight-through rule is Rosenblatt's
 * perceptron: it learns any linearly separable function. */
static void test_perceptron(void **state)
{
    (void)state;
    static const double AND[] = {0, 0, 0, 1}, OR[] = {0, 1, 1, 1};
    const double *targets[] = {AND, OR};
    for (int t = 0; t < 2; t++) {
        size_t u[] = {1};
        ann_activation a[] = {ANN_ACT_STEP};
        ann *m = make_net(2, 1, u, a);
        ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.1));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, 1));
        ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
        int epochs = 0;
        while (accuracy4(m, targets[t]) < 4 && epochs < 1000) {
            ASSERT_OK(ann_fit(m, XOR_X, targets[t], 4));
            epochs++;
        }
        assert_int_equal(accuracy4(m, targets[t]), 4);
        /* at convergence the perceptron rule makes no more updates */
        size_t n;
        double *w = weights_dump(m, &n);
        ASSERT_OK(ann_fit(m, XOR_X, targets[t], 4));
        assert_true(weights_equal_buf(m, w));
        free(w);
        printf("perceptron %s: learned in %d epochs\n", t ? "OR" : "AND", epochs);
        ann_destroy(m);
    }
}

enum { H_TRAIN = 2000, H_TEST = 1000 };

typedef struct {
    double Xtr[H_TRAIN * 4], ytr[H_TRAIN], Xte[H_TEST * 4], yte[H_TEST];
    double noise_floor; /* 1/2 sigma^2 in standardised target units */
} house_data;

static house_data *house_prepare(void)
{
    house_data *d = malloc(sizeof *d);
    house_make(H_TRAIN, 1, d->Xtr, d->ytr);
    house_make(H_TEST, 2, d->Xte, d->yte);
    double mu[4], sd[4], my, sy;
    col_stats(d->Xtr, H_TRAIN, 4, mu, sd);
    standardise(d->Xtr, H_TRAIN, 4, mu, sd);
    standardise(d->Xte, H_TEST, 4, mu, sd);
    col_stats(d->ytr, H_TRAIN, 1, &my, &sy);
    standardise(d->ytr, H_TRAIN, 1, &my, &sy);
    standardise(d->yte, H_TEST, 1, &my, &sy);
    d->noise_floor = 0.5 * (HOUSE_SIGMA / sy) * (HOUSE_SIGMA / sy);
    return d;
}

static void house_train(const house_data *d, double batch, double lr, double epochs,
                        const char *what)
{
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 2, u, a);
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SEED, 5));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, batch));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_LEARNING_RATE, lr));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, epochs));
    double before, after;
    ASSERT_OK(ann_evaluate(m, d->Xte, d->yte, H_TEST, &before));
    ASSERT_OK(ann_fit(m, d->Xtr, d->ytr, H_TRAIN));
    ASSERT_OK(ann_evaluate(m, d->Xte, d->yte, H_TEST, &after));
    printf("house prices, %s: test loss %.4f -> %.4f, noise floor %.4f (ratio %.3f)\n", what,
           before, after, d->noise_floor, after / d->noise_floor);
    assert_true(after < before / 10);
    assert_true(after < 1.25 * d->noise_floor);
    ann_destroy(m);
}

static void test_house_prices(void **state)
{
    (void)state;
    house_data *d = house_prepare();
    house_train(d, 1, 0.005, 400, "per-sample SGD");
    house_train(d, 32, 0.1, 300, "mini-batch 32");
    house_train(d, 0, 0.5, 4000, "full-batch GD");
    free(d);
}

/* The contract: shuffle off, batch >= n, one epoch = one gradient step. */
static void test_fit_is_one_gd_step(void **state)
{
    (void)state;
    house_data *d = house_prepare();
    size_t u[] = {8, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = make_net(4, 2, u, a), *c;
    ASSERT_OK(ann_set_param(m, ANN_PARAM_SHUFFLE, 0));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_BATCH_SIZE, H_TRAIN + 5));
    ASSERT_OK(ann_set_param(m, ANN_PARAM_EPOCHS, 1));
    ASSERT_OK(ann_clone(m, &c));
    ASSERT_OK(ann_fit(m, d->Xtr, d->ytr, H_TRAIN));
    ASSERT_OK(ann_train_batch(c, d->Xtr, d->ytr, H_TRAIN));
    assert_true(weights_same(m, c));
    double steps;
    ASSERT_OK(ann_get_param(m, ANN_PARAM_STEPS, &steps));
    assert_true(steps == 1);
    ann_destroy(m);
    ann_destroy(c);
    free(d);
}

static void test_seed_reproducible(void **state)
{
    (void)state;
    house_data *d = house_prepare();
    size_t u[] = {16, 8, 1};
    ann_activation a[] = {ANN_ACT_RELU, ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = make_net(4, 3, u, a);
        ASSERT_OK(ann_set_param(m[i], ANN_PARAM_SEED, i < 2 ? 99 : 100));
        ASSERT_OK(ann_set_param(m[i], ANN_PARAM_BATCH_SIZE, 16));
        ASSERT_OK(ann_set_param(m[i], ANN_PARAM_EPOCHS, 3));
        ASSERT_OK(ann_fit(m[i], d->Xtr, d->ytr, H_TRAIN));
    }
    assert_true(weights_same(m[0], m[1]));
    assert_false(weights_same(m[0], m[2]));
    for (int i = 0; i < 3; i++)
        ann_destroy(m[i]);
    free(d);
}

static void test_f32_matches_f64(void **state)
{
    (void)state;
    house_data *d = house_prepare();
    size_t u[] = {32, 16, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_SIGMOID, ANN_ACT_IDENTITY};
    ann *m64 = make_net(4, 3, u, a), *m32 = NULL;
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_SEED, 4));
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_BATCH_SIZE, 64)); /* BLAS and direct paths */
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_EPOCHS, 5));
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_LEARNING_RATE, 0.05));
    /* identical starting point: float-representable weights */
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    ASSERT_OK(ann_set_param(m64, ANN_PARAM_PRECISION, ANN_PRECISION_F64));
    ASSERT_OK(ann_clone(m64, &m32));
    ASSERT_OK(ann_set_param(m32, ANN_PARAM_PRECISION, ANN_PRECISION_F32));
    ASSERT_OK(ann_fit(m64, d->Xtr, d->ytr, H_TRAIN));
    ASSERT_OK(ann_fit(m32, d->Xtr, d->ytr, H_TRAIN));
    double *p64 = malloc(H_TEST * sizeof *p64), *p32 = malloc(H_TEST * sizeof *p32);
    ASSERT_OK(ann_predict(m64, d->Xte, H_TEST, p64));
    ASSERT_OK(ann_predict(m32, d->Xte, H_TEST, p32));
    double worst = 0;
    for (int i = 0; i < H_TEST; i++)
        worst = fmax(worst, fabs(p64[i] - p32[i]));
    printf("float32 vs float64 after 5 epochs: max |diff| of predictions %.3g\n", worst);
    assert_true(worst < 1e-3);
    double l64, l32;
    ASSERT_OK(ann_evaluate(m64, d->Xte, d->yte, H_TEST, &l64));
    ASSERT_OK(ann_evaluate(m32, d->Xte, d->yte, H_TEST, &l32));
    assert_true(fabs(l64 - l32) < 1e-4 * fmax(1, l64));
    free(p64);
    free(p32);
    ann_destroy(m64);
    ann_destroy(m32);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor),
        cmocka_unit_test(test_perceptron),
        cmocka_unit_test(test_house_prices),
        cmocka_unit_test(test_fit_is_one_gd_step),
        cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_f32_matches_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
