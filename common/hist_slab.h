/*
 * hist_slab.h: memory for many small blocks that all live until one moment
 * (the tag registry: a million tags, each one block, freed only when the
 * database closes).
 *
 * malloc spends an 8-byte header on each block and rounds it up to a
 * multiple of 16: 16 bytes a tag on average at a million tags. A slab
 * carves blocks out of large pieces instead, each block 8-byte aligned
 * and rounded up to a multiple of 8, with no header. A block is never
 * freed alone; hist_slab_free_all() gives every piece back.
 *
 * Invariant: every block handed out is zeroed and lies inside one piece;
 * `used` counts the bytes handed out (rounded), the figure a memory
 * account should add (a piece's untouched tail costs no resident memory).
 */
#ifndef HIST_COMMON_SLAB_H
#define HIST_COMMON_SLAB_H

#include <stddef.h>

typedef struct hist_slab_piece hist_slab_piece;

typedef struct {
    hist_slab_piece *pieces; /* newest first */
    size_t left;             /* bytes free at the end of the newest piece */
    size_t used;             /* bytes handed out, each block rounded up to 8 */
} hist_slab;

/* The size of a piece; a block larger than this gets a piece of its own. */
#define HIST_SLAB_PIECE ((size_t)1 << 20)

/* A zeroed, 8-byte aligned block of n (> 0) bytes, or NULL when out of
 * memory (the slab as it was). */
void *hist_slab_alloc(hist_slab *s, size_t n);

/* Frees every block and piece; the slab is empty and usable again. */
void hist_slab_free_all(hist_slab *s);

#endif
