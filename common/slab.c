/*
 * slab.c: the slab of hist_slab.h, blocks carved from 1 MiB pieces.
 *
 * A piece is one calloc (large enough that glibc maps it afresh, so its
 * zeroes cost no writes and its untouched pages no memory); blocks are
 * taken from its front in order. A block that does not fit in what is left
 * starts a new piece, so at most one block's worth is wasted per piece.
 *
 * Under AddressSanitizer every block is a piece of its own, so a write
 * past a block's end lands in the allocator's red zone and is reported,
 * as it was when each tag state was malloc'd.
 */
#include "common/hist_slab.h"

#include "common/hist_assert.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_EACH_BLOCK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_EACH_BLOCK 1
#endif
#endif
#ifndef SLAB_EACH_BLOCK
#define SLAB_EACH_BLOCK 0
#endif

struct hist_slab_piece {
    hist_slab_piece *next;
    size_t size; /* bytes of room after this header */
    _Alignas(8) unsigned char room[];
};

void *hist_slab_alloc(hist_slab *s, size_t n)
{
    if (n == 0 || n > SIZE_MAX - sizeof(hist_slab_piece) - 8)
        return NULL;
    size_t need = (n + 7) & ~(size_t)7;
    if (!s->pieces || s->left < need || SLAB_EACH_BLOCK) {
        size_t size = need > HIST_SLAB_PIECE || SLAB_EACH_BLOCK ? need : HIST_SLAB_PIECE;
        hist_slab_piece *p = calloc(1, sizeof(*p) + size);
        if (!p)
            return NULL;
        p->size = size;
        p->next = s->pieces;
        s->pieces = p;
        s->left = size;
    }
    unsigned char *block = s->pieces->room + (s->pieces->size - s->left);
    HIST_ASSERT(((uintptr_t)block & 7) == 0);
    s->left -= need;
    s->used += need;
    return block;
}

void hist_slab_free_all(hist_slab *s)
{
    while (s->pieces) {
        hist_slab_piece *next = s->pieces->next;
        free(s->pieces);
        s->pieces = next;
    }
    s->left = 0;
    s->used = 0;
}
