/* test_linalg.c - white-box: the LAPACKE adapter maps info codes to libann
 * statuses (not positive definite -> ANN_ERR_NUMERIC) and returns what it
 * promises. */
#include "common.h"

#include "ann_internal.h"

static void test_posv(void **state)
{
    (void)state;
    double A[4] = {4, 2, 2, 3}, b[2] = {2, 1};
    assert_int_equal(ann__posv(2, A, b), ANN_OK);
    /* [4 2; 2 3] x = [2 1] -> x = [0.5, 0] */
    assert_true(fabs(b[0] - 0.5) < 1e-15 && fabs(b[1]) < 1e-15);
    double N[4] = {1, 2, 2, 1}, c[2] = {1, 1};
    assert_int_equal(ann__posv(2, N, c), ANN_ERR_NUMERIC); /* indefinite: info > 0 */
}

static void test_sym_eig(void **state)
{
    (void)state;
    double A[9] = {2, 1, 0, 1, 2, 0, 0, 0, 5}, w[3];
    assert_int_equal(ann__sym_eig(3, A, w), ANN_OK);
    assert_true(fabs(w[0] - 1) < 1e-14 && fabs(w[1] - 3) < 1e-14 && fabs(w[2] - 5) < 1e-14);
}

static void test_qr(void **state)
{
    (void)state;
    uint64_t s = 5;
    double A[6 * 3];
    for (int i = 0; i < 18; i++) A[i] = t_normal(&s);
    assert_int_equal(ann__qr_q(6, 3, A), ANN_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double d = 0;
            for (int k = 0; k < 6; k++) d += A[k + i * 6] * A[k + j * 6];
            assert_true(fabs(d - (i == j)) < 1e-14);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posv),
        cmocka_unit_test(test_sym_eig),
        cmocka_unit_test(test_qr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
