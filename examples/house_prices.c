/* house_prices.c - the introductory text's worked example with libann.
 *
 * A network learns a house's price from its area, number of bedrooms,
 * distance to the city and age.  The data come from a fixed formula plus
 * noise, so the best possible error (the noise floor) is known:
 *
 *   area      uniform 50..250 m^2        bedrooms  1..5
 *   distance  uniform 1..30 km           age       uniform 0..60 years
 *   price (thousands) = 50 + 1.6 area + 15 bedrooms - 45 ln(1 + distance)
 *                       - 0.9 age + 0.002 area^2 + noise,  noise ~ N(0, 10^2)
 *
 * The recipe: standardise the inputs, start from small random weights,
 * then for every training row in turn run the forward pass, measure the
 * error, run the backward pass and move each weight a little against its
 * gradient (per-sample stochastic gradient descent), for several epochs.
 *
 * Usage: house_prices [epochs] [hidden_units]     (defaults: 100, 8)
 * Uses only the public header, as any program would. */
#include <ann.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N_TRAIN 4000
#define N_TEST 1000
#define SIGMA 10.0

static uint64_t rng_state = 2024;
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double normal(void)
{
    double u1 = uniform(), u2 = uniform();
    return sqrt(-2 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
}

static void make_houses(size_t n, double *X, double *price)
{
    for (size_t i = 0; i < n; i++) {
        double *x = X + 4 * i;
        x[0] = 50 + 200 * uniform();
        x[1] = (double)(1 + (int)(5 * uniform()));
        x[2] = 1 + 29 * uniform();
        x[3] = 60 * uniform();
        price[i] = 50 + 1.6 * x[0] + 15 * x[1] - 45 * log(1 + x[2]) - 0.9 * x[3] +
                   0.002 * x[0] * x[0] + SIGMA * normal();
    }
}

/* Per-column mean and standard deviation of the training set; the same
 * transform is then applied to the test set. */
static void fit_scaler(const double *A, size_t n, size_t d, double *mu, double *sd)
{
    for (size_t j = 0; j < d; j++) {
        double s = 0, q = 0;
        for (size_t i = 0; i < n; i++) s += A[i * d + j];
        mu[j] = s / (double)n;
        for (size_t i = 0; i < n; i++) q += (A[i * d + j] - mu[j]) * (A[i * d + j] - mu[j]);
        sd[j] = q > 0 ? sqrt(q / (double)n) : 1;
    }
}
static void scale(double *A, size_t n, size_t d, const double *mu, const double *sd)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) A[i * d + j] = (A[i * d + j] - mu[j]) / sd[j];
}

static int on_epoch(void *user, size_t epoch, double train_loss, double val_loss)
{
    (void)user;
    (void)val_loss;
    printf("epoch %3zu  training loss %.5f\n", epoch, train_loss);
    return 0;
}

#define CHECK(call)                                                                 \
    do {                                                                            \
        ann_status st_ = (call);                                                    \
        if (st_ != ANN_OK) {                                                        \
            fprintf(stderr, "%s: %s (%s)\n", #call, ann_status_str(st_),           \
                    ann_errmsg(net));                                               \
            return 1;                                                               \
        }                                                                           \
    } while (0)

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 100;
    int hidden = argc > 2 ? atoi(argv[2]) : 8;
    if (epochs < 1 || hidden < 1) {
        fprintf(stderr, "usage: %s [epochs >= 1] [hidden_units >= 1]\n", argv[0]);
        return 2;
    }
    static double Xtr[N_TRAIN * 4], ytr[N_TRAIN], Xte[N_TEST * 4], yte[N_TEST], pred[N_TEST];
    make_houses(N_TRAIN, Xtr, ytr);
    make_houses(N_TEST, Xte, yte);
    double raw[5][4];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) raw[i][j] = Xte[4 * i + j];

    /* standardise inputs and the target (prices are in the hundreds) */
    double mu[4], sd[4], ymu, ysd;
    fit_scaler(Xtr, N_TRAIN, 4, mu, sd);
    scale(Xtr, N_TRAIN, 4, mu, sd);
    scale(Xte, N_TEST, 4, mu, sd);
    fit_scaler(ytr, N_TRAIN, 1, &ymu, &ysd);
    scale(ytr, N_TRAIN, 1, &ymu, &ysd);

    /* 4 inputs -> `hidden` tanh neurons -> 1 linear output */
    ann *net = NULL;
    const size_t units[] = {(size_t)hidden, 1};
    const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    if (ann_create(&net, 4, 2, units, acts) != ANN_OK) {
        fprintf(stderr, "ann_create: %s\n", ann_errmsg(NULL));
        return 1;
    }
    CHECK(ann_set_param(net, ANN_PARAM_BATCH_SIZE, 1)); /* one row at a time */
    CHECK(ann_set_param(net, ANN_PARAM_LEARNING_RATE, 0.005));
    CHECK(ann_set_param(net, ANN_PARAM_EPOCHS, epochs));
    CHECK(ann_set_param(net, ANN_PARAM_SEED, 1));
    CHECK(ann_set_progress(net, on_epoch, NULL));
    printf("training a 4-%d-1 network on %d houses, per-sample SGD, %d epochs\n", hidden,
           N_TRAIN, epochs);
    CHECK(ann_fit(net, Xtr, ytr, N_TRAIN));

    CHECK(ann_predict(net, Xte, N_TEST, pred));
    double sse = 0;
    for (size_t i = 0; i < N_TEST; i++) {
        pred[i] = pred[i] * ysd + ymu; /* back to thousands */
        sse += (pred[i] - yte[i]) * (pred[i] - yte[i]);
    }
    double rmse = sqrt(sse / N_TEST);
    printf("\ntest RMSE %.2f thousand; the noise floor (the best any model can do) is %.2f\n",
           rmse, SIGMA);
    printf("\n  area  bedrooms  distance   age  |  predicted     true\n");
    for (int i = 0; i < 5; i++)
        printf("%6.0f  %8.0f  %8.1f  %4.0f  |  %9.1f  %7.1f\n", raw[i][0], raw[i][1],
               raw[i][2], raw[i][3], pred[i], yte[i]);
    ann_destroy(net);
    return rmse < 1.5 * SIGMA ? 0 : 1;
}
