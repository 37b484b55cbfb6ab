/*
 * hist_assert.h: HIST_ASSERT(), the invariant check of debug and sanitizer
 * builds.
 *
 * The comments of the storage engine promise things the code relies on
 * ("lsn[] is non-decreasing", "a tag's flushed point never passes a record
 * that still holds unsealed samples"). HIST_ASSERT states such a promise
 * where it is relied on. It is active when HIST_DEBUG_CHECKS is defined
 * (CMake defines it for Debug, sanitizer and fuzz builds) and compiles to
 * nothing otherwise, so release builds pay nothing. A failed check prints
 * the condition with its file and line and aborts, which the sanitizer
 * runtime and libFuzzer report with a stack.
 */
#ifndef HIST_COMMON_ASSERT_H
#define HIST_COMMON_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#ifdef HIST_DEBUG_CHECKS
static inline void hist_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "historian: invariant broken at %s:%d: %s\n", file, line, cond);
    abort();
}
#define HIST_ASSERT(cond) ((cond) ? (void)0 : hist_assert_fail(#cond, __FILE__, __LINE__))
#else
#define HIST_ASSERT(cond) ((void)sizeof(!(cond))) /* checked by the compiler, never run */
#endif

#endif
