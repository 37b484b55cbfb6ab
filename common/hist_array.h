/*
 * hist_array.h: growing a plain C array (a pointer and its capacity in
 * elements), the one doubling rule with its overflow checks, for every
 * growable list of the project.
 *
 * Rule: a capacity grows from first (when it is 0) by doubling until it
 * holds what is needed; it never shrinks. A size that cannot be counted in
 * a size_t is treated as out of memory, never wrapped.
 */
#ifndef HIST_COMMON_ARRAY_H
#define HIST_COMMON_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hist_error.h"

/* The capacity an array of elem-byte elements with capacity cap grows to
 * so that it holds need (> cap) elements: first (for cap 0) doubled until
 * it does; 0 when need elements would not fit in SIZE_MAX bytes. first and
 * elem are at least 1. For arrays that grow together (one capacity for
 * several realloc'ed columns). */
static inline size_t hist_array_cap(size_t cap, size_t need, size_t elem, size_t first)
{
    size_t c = cap ? cap : first;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return 0;
        c *= 2;
    }
    return c > SIZE_MAX / elem ? 0 : c;
}

/* Makes room for need elements in the array arr (a pointer lvalue) whose
 * capacity is the size_t lvalue cap: 0 (arr moved or not, cap updated),
 * or HIST_ENOMEM with arr and cap as they were (arr still valid). */
#define HIST_ARRAY_RESERVE(arr, cap, need, first)                                                  \
    hist_array_reserve_(&(arr), &(cap), (need), sizeof *(arr), (first))

/* The function under HIST_ARRAY_RESERVE: arr_ptr is the address of the
 * array's pointer, read and written with memcpy so that any element type
 * goes through one function without a cast to void **. */
static inline int hist_array_reserve_(void *arr_ptr, size_t *cap, size_t need, size_t elem,
                                      size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = hist_array_cap(*cap, need, elem, first);
    if (c == 0)
        return HIST_ENOMEM;
    void *items;
    memcpy(&items, arr_ptr, sizeof items);
    void *grown = realloc(items, c * elem);
    if (!grown)
        return HIST_ENOMEM;
    memcpy(arr_ptr, &grown, sizeof grown);
    *cap = c;
    return 0;
}

#endif
