/*
 * client_http.h: the historian CLI's HTTP client: one blocking HTTP/1.1
 * request per connection (Connection: close) with a deadline on connect,
 * send and receive. Responses are parsed by http_parser (never by hand).
 */
#ifndef HIST_TOOLS_CLIENT_HTTP_H
#define HIST_TOOLS_CLIENT_HTTP_H

#include <stddef.h>

typedef struct {
    char host[256];
    char port[8];
    char base[256]; /* path prefix without a trailing '/', often "" */
} hist_http_url;

typedef struct {
    int status;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    char content_type[128];
    char next[1024]; /* X-Historian-Next, or "" */
    int truncated;   /* X-Historian-Truncated: true */
} hist_http_response;

/* Parses "http://host[:port][/base]" (port defaults to 80). 0 or -1. */
int hist_http_url_parse(const char *url, hist_http_url *out);

/* Sends one request; target is the path and query ("/api/v1/query?..."),
 * appended to url->base. token (or NULL) goes in "Authorization: Bearer".
 * 0 with *resp filled (any HTTP status), or -1 with a message in err. */
int hist_http_request(const hist_http_url *url, const char *method, const char *target,
                      const char *token, const char *content_type, const void *body,
                      size_t body_len, int timeout_ms, hist_http_response *resp, char *err,
                      size_t errlen);
void hist_http_response_free(hist_http_response *resp);

/* Appends s percent-encoded for a query string value to out (cap bytes,
 * NUL-terminated). -1 if it does not fit. */
int hist_url_encode(const char *s, char *out, size_t cap);

#endif
