// test_cxx.cpp - the public header compiles as C++ and links with C linkage.
#include "ann.h"

#include <cstdio>

int main()
{
    ann *m = nullptr;
    const size_t units[] = {3, 1};
    const ann_activation acts[] = {ANN_ACT_TANH, ANN_ACT_SIGMOID};
    if (ann_create(&m, 2, 2, units, acts) != ANN_OK)
        return 1;
    double x[2] = {0.5, -0.5}, y = 0;
    ann_status st = ann_predict(m, x, 1, &y);
    ann_destroy(m);
    if (st != ANN_OK || !(y > 0 && y < 1))
        return 1;
    std::printf("C++ consumer OK (libann %s)\n", ann_version_string());
    return 0;
}
