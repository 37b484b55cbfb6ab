/*
 * viewer.c: the built-in trend viewer's static files (docs/viewer.md),
 * served from the arrays the build embeds (viewer.h, generated from
 * tools/viewer/dist/ by cmake/hist_embed.cmake).
 *   GET|HEAD /               index.html, Cache-Control: no-cache
 *   GET|HEAD /viewer/NAME    an asset; its name carries a hash of its
 *                            contents, so it is cached for a year
 * Every answer has an ETag; a matching If-None-Match gets 304. The files
 * hold no data, so no token is asked for them; the API calls the page makes
 * are checked as always. ingest/http.c answers these on its loop thread:
 * nothing here blocks or allocates.
 */
#include <stdbool.h>
#include <string.h>

#include "query/api/hist_api.h"
#include "query/api/viewer.h"

#define VIEWER_PREFIX "/viewer/"

int hist_viewer_owns_path(const char *path)
{
    if (!path)
        return 0;
    return !strcmp(path, "/") || !strcmp(path, "/viewer") ||
           !strncmp(path, VIEWER_PREFIX, strlen(VIEWER_PREFIX));
}

static const char *type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".json", "application/json"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static const viewer_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < viewer__asset_count; i++)
        if (viewer__assets[i].name && !strcmp(viewer__assets[i].name, name))
            return &viewer__assets[i];
    return NULL;
}

/* If-None-Match holds etag (a list, or "*"; a weak W/ prefix matches too). */
static int etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return 0;
    if (!strcmp(if_none_match, "*"))
        return 1;
    const char *hit = strstr(if_none_match, etag);
    return hit != NULL;
}

/* The index is only at "/" (it names the assets relative to itself). */
static const viewer_asset *asset_for_path(const char *path)
{
    if (!strcmp(path, "/"))
        return find_asset("index.html");
    if (strncmp(path, VIEWER_PREFIX, strlen(VIEWER_PREFIX)))
        return NULL;
    const char *name = path + strlen(VIEWER_PREFIX);
    if (!*name || strstr(name, "..") || !strcmp(name, "index.html"))
        return NULL;
    return find_asset(name);
}

int hist_viewer_answer(const char *method, const char *path, const char *if_none_match,
                       hist_viewer_reply *out)
{
    memset(out, 0, sizeof *out);
    if (!method || (strcmp(method, "GET") && strcmp(method, "HEAD"))) {
        out->status = 405;
        return 0;
    }
    const viewer_asset *a = path ? asset_for_path(path) : NULL;
    if (!a) {
        out->status = 404;
        return 0;
    }
    bool index = !strcmp(a->name, "index.html");
    out->status = etag_matches(if_none_match, a->etag) ? 304 : 200;
    out->content_type = type_of(a->name);
    out->body = a->data;
    out->len = a->len;
    out->etag = a->etag;
    out->cache_control = index ? "no-cache" : "public, max-age=31536000, immutable";
    return 0;
}
