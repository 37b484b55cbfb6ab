/*
 * viewer.h: the trend viewer's assets inside the binary (query/api/viewer.c
 * serves them; the table is generated at build time from
 * tools/viewer/dist/ by cmake/hist_embed.cmake).
 */
#ifndef HIST_VIEWER_H
#define HIST_VIEWER_H

#include <stddef.h>

typedef struct {
    const char *name; /* relative to dist/: "index.html", "app-1a2b3c4d.js" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* with its quotes: "\"0123456789abcdef\"" */
} viewer_asset;

extern const viewer_asset viewer__assets[];
extern const size_t viewer__asset_count;

#endif
