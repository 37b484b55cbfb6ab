/*
 * hist_tagset.h: a compiled set of tag-name patterns, the "which tags may
 * this caller touch" of a token or certificate grant (ingest/auth.c builds
 * one per grant, query/api/ and ingest/ ask it about names).
 *
 * Tag names are '/'-separated segments. A pattern is segments too:
 *   `**`        any number of whole segments, none included
 *               ("site1/area2/ **" matches "site1/area2" and everything
 *               below it)
 *   a segment with `*` in it: '*' stands for any run of characters inside
 *               that one segment ("area*" matches "area2", not "area2/x")
 *   any other segment matches itself.
 * A name is in the set when it matches at least one pattern. Matching is a
 * simulation over pattern positions (no backtracking): at most
 * segments(pattern) x segments(name) segment tests, each linear-time with
 * one saved star, so time and memory are bounded by the lengths alone.
 *
 * A NULL set means "every tag" for both functions; callers pass the grant's
 * set as they got it.
 */
#ifndef HIST_COMMON_TAGSET_H
#define HIST_COMMON_TAGSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hist_tagset hist_tagset;

/* The longest pattern accepted (bytes) and the most patterns in one set. */
#define HIST_TAGSET_PATTERN_MAX 512
#define HIST_TAGSET_MAX         256

/* Checks one pattern: 0, or HIST_EINVAL (empty, too long, an empty segment,
 * a control character, or "**" mixed with other characters in a segment). */
int hist_tagset_check(const char *pattern);

/* Compiles n patterns (each checked as above) into *out: 0, HIST_EINVAL
 * (n == 0 or over HIST_TAGSET_MAX, or a bad pattern) or HIST_ENOMEM. */
int hist_tagset_compile(const char *const *patterns, size_t n, hist_tagset **out);
void hist_tagset_free(hist_tagset *set);

/* true when name (NUL-terminated) matches a pattern of the set. */
bool hist_tagset_matches(const hist_tagset *set, const char *name);
/* true when some name below the folder `prefix` ("prefix/...") could match:
 * whether a namespace listing shows that folder. */
bool hist_tagset_may_match_below(const hist_tagset *set, const char *prefix);
/* The number of patterns, and the i-th as given (for logs). */
size_t hist_tagset_count(const hist_tagset *set);
const char *hist_tagset_pattern(const hist_tagset *set, size_t i);

#endif
