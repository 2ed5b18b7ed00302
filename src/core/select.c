/*
 * select.c - order statistics without sorting: Hoare's quickselect with a
 * median-of-three pivot, shared by the image features (percentiles) and
 * the fusion trainer (robust standardisation).
 */
#include "core/common.h"

float mmdx__select_float(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
        float a = v[lo], b = v[mid], c = v[hi], piv;

        piv = a < b ? (b < c ? b : (a < c ? c : a))
                    : (a < c ? a : (b < c ? c : b));
        while (i <= j) {
            while (v[i] < piv)
                i++;
            while (v[j] > piv)
                j--;
            if (i <= j) {
                float t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}
