/* lm_compare.c - Levenberg-Marquardt against Adam and SGD (issue 5):
 * epochs and wall time until a target MSE is reached on
 *   1. the house-price regression (4-8-1 tanh, 2000 training rows, inputs
 *      standardised by ANN_PARAM_PREPROCESS, targets z-scored here; MSE
 *      measured on 1000 test rows in the original units, target
 *      1.15 x the noise variance 100), and
 *   2. sin(x) on [-3, 3] (1-10-1 tanh, 200 rows, noise sigma 0.05; MSE on
 *      the training rows, target 1.2 x sigma^2).
 * Time counts ann_fit only (not the per-epoch evaluation).
 *
 * Usage: lm_compare [seeds]     (default 3)
 * Lives in examples/ because bench/ belongs to another work stream. */
#define _POSIX_C_SOURCE 200809L
#include <ann.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rs;
static double uniform(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double normal(void)
{
    double u1 = uniform(), u2 = uniform();
    return sqrt(-2 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
}
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *name;
    size_t n_in, hidden, n_train, n_test;
    double *Xtr, *ytr, *Xte, *yte; /* y z-scored */
    double ysd;                     /* MSE in original units = ysd^2 * MSE */
    double target_mse;
    int preprocess;
} problem;

static void house(problem *p)
{
    p->name = "house prices";
    p->n_in = 4, p->hidden = 8, p->n_train = 2000, p->n_test = 1000;
    size_t n = p->n_train + p->n_test;
    double *X = malloc(n * 4 * sizeof *X), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        double *x = X + 4 * i;
        x[0] = 50 + 200 * uniform();
        x[1] = (double)(1 + (int)(5 * uniform()));
        x[2] = 1 + 29 * uniform();
        x[3] = 60 * uniform();
        y[i] = 50 + 1.6 * x[0] + 15 * x[1] - 45 * log(1 + x[2]) - 0.9 * x[3] +
               0.002 * x[0] * x[0] + 10 * normal();
    }
    double mu = 0, var = 0;
    for (size_t i = 0; i < p->n_train; i++) mu += y[i];
    mu /= (double)p->n_train;
    for (size_t i = 0; i < p->n_train; i++) var += (y[i] - mu) * (y[i] - mu);
    p->ysd = sqrt(var / (double)p->n_train);
    for (size_t i = 0; i < n; i++) y[i] = (y[i] - mu) / p->ysd;
    p->Xtr = X, p->ytr = y, p->Xte = X + 4 * p->n_train, p->yte = y + p->n_train;
    p->target_mse = 1.15 * 100;
    p->preprocess = ANN_PREPROCESS_STANDARDIZE;
}

static void sine(problem *p)
{
    p->name = "sin(x)";
    p->n_in = 1, p->hidden = 10, p->n_train = 200, p->n_test = 200;
    double *X = malloc(200 * sizeof *X), *y = malloc(200 * sizeof *y);
    for (int i = 0; i < 200; i++) {
        X[i] = -3 + 6 * i / 199.0;
        y[i] = sin(X[i]) + 0.05 * normal();
    }
    p->Xtr = p->Xte = X, p->ytr = p->yte = y, p->ysd = 1;
    p->target_mse = 1.2 * 0.05 * 0.05;
    p->preprocess = ANN_PREPROCESS_NONE;
}

/* Returns epochs to target (or -max) and the fit time in *secs. */
static int run(const problem *p, int opt, double lr, size_t batch, int max_epochs,
               uint64_t seed, double *secs, double *final_mse)
{
    size_t u[] = {p->hidden, 1};
    ann_activation a[] = {ANN_ACT_TANH, ANN_ACT_IDENTITY};
    ann *m = NULL;
    if (ann_create(&m, p->n_in, 2, u, a) != ANN_OK) return 0;
    ann_set_param(m, ANN_PARAM_SEED, (double)seed);
    ann_set_param(m, ANN_PARAM_INIT, ANN_INIT_XAVIER);
    ann_set_param(m, ANN_PARAM_PREPROCESS, p->preprocess);
    ann_set_param(m, ANN_PARAM_OPTIMIZER, opt);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, lr);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, (double)batch);
    ann_set_param(m, ANN_PARAM_EPOCHS, 1);
    double t = 0, loss = INFINITY;
    int e;
    for (e = 1; e <= max_epochs; e++) {
        double t0 = now();
        ann_status st = ann_fit(m, p->Xtr, p->ytr, p->n_train);
        t += now() - t0;
        if (st != ANN_OK) {
            fprintf(stderr, "fit failed: %s\n", ann_errmsg(m));
            break;
        }
        ann_evaluate(m, p->Xte, p->yte, p->n_test, &loss);
        if (2 * loss * p->ysd * p->ysd <= p->target_mse)
            break;
    }
    *secs = t;
    *final_mse = 2 * loss * p->ysd * p->ysd;
    ann_destroy(m);
    return e <= max_epochs ? e : -max_epochs;
}

int main(int argc, char **argv)
{
    int seeds = argc > 1 ? atoi(argv[1]) : 3;
    if (seeds < 1) seeds = 1;
    problem probs[2];
    rs = 2024;
    house(&probs[0]);
    sine(&probs[1]);
    struct { const char *name; int opt; double lr; size_t batch; int max; } meth[] = {
        {"LM", ANN_OPTIMIZER_LEVENBERG_MARQUARDT, 0.01, 0, 300},
        {"Adam lr=0.01 b=32", ANN_OPTIMIZER_ADAM, 0.01, 32, 3000},
        {"SGD lr=0.01 b=1", ANN_OPTIMIZER_SGD, 0.01, 1, 3000},
    };
    printf("%-13s %-18s %5s %9s %10s %12s\n", "problem", "method", "seed", "epochs",
           "fit time", "final MSE");
    for (int pi = 0; pi < 2; pi++) {
        const problem *p = &probs[pi];
        printf("# %s: target MSE %.4g\n", p->name, p->target_mse);
        for (size_t k = 0; k < sizeof meth / sizeof meth[0]; k++)
            for (int s = 1; s <= seeds; s++) {
                double secs = 0, mse = NAN;
                int e = run(p, meth[k].opt, meth[k].lr, meth[k].batch, meth[k].max,
                            (uint64_t)s, &secs, &mse);
                char eb[32];
                if (e > 0) snprintf(eb, sizeof eb, "%d", e);
                else snprintf(eb, sizeof eb, ">%d", -e);
                printf("%-13s %-18s %5d %9s %9.3fs %12.5g\n", p->name, meth[k].name, s, eb,
                       secs, mse);
            }
    }
    free(probs[0].Xtr); free(probs[0].ytr);
    free(probs[1].Xtr); free(probs[1].ytr);
    return 0;
}
