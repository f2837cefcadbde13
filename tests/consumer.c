/* consumer.c - built against the installed library with pkg-config only
 * (tests/run.sh), as a user's program would be. */
#include <ann.h>
#include <stdio.h>

int main(void)
{
    ann *m = NULL;
    const size_t units[] = {4, 1};
    const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_SIGMOID};
    if (ann_create(&m, 2, 2, units, acts) != ANN_OK)
        return 1;
    const double X[] = {0, 0, 0, 1, 1, 0, 1, 1}, Y[] = {0, 1, 1, 1};
    ann_set_param(m, ANN_PARAM_EPOCHS, 200);
    ann_set_param(m, ANN_PARAM_LEARNING_RATE, 0.5);
    ann_set_param(m, ANN_PARAM_BATCH_SIZE, 1);
    int32_t lab[4];
    if (ann_fit(m, X, Y, 4) != ANN_OK || ann_predict_labels(m, X, 4, lab) != ANN_OK)
        return 1;
    ann_destroy(m);
    int ok = lab[0] == 0 && lab[1] == 1 && lab[2] == 1 && lab[3] == 1;
    printf("consumer linked against libann %s: OR %s\n", ann_version_string(),
           ok ? "learned" : "NOT learned");
    return ok ? 0 : 1;
}
