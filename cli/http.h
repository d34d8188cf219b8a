/*
 * http.h — a minimal HTTP/1.1 client for the CLI's cluster verbs.
 *
 * One request per TCP connection (`Connection: close`), blocking, with every wait
 * bounded by poll(): connecting, sending and receiving each get the caller's timeout.
 * The response is read whole into memory (at most WR_HTTP_MAX_BODY bytes), framed by
 * Content-Length, chunked transfer-encoding, or the end of the connection. No TLS, no
 * redirects, no keep-alive: the coordinator's REST API (docs/rest-api.md) needs none.
 * Nothing here prints; failures come back as a wr_err and one sentence in a wr_errbuf.
 */
#ifndef WR_HTTP_H
#define WR_HTTP_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#define WR_HTTP_MAX_BODY (16u << 20)
#define WR_HTTP_DEFAULT_TIMEOUT_MS 10000

/* A parsed base URL: `http://HOST[:PORT][/PREFIX]` (the scheme may be left out; PORT
 * defaults to 80; HOST may be an IPv6 literal in brackets). prefix has no trailing
 * slash and is "" or starts with '/'; request paths are appended to it. */
typedef struct wr_http_url {
    char host[256]; /* without brackets */
    char port[8];   /* decimal, 1..65535 */
    char prefix[512];
} wr_http_url;

/* A complete response. body is NUL-terminated (body[body_len] == '\0', so it can be
 * handed to a string parser) and owned by the response: wr_http_response_fini frees it. */
typedef struct wr_http_response {
    int status;
    char *body;
    size_t body_len;
} wr_http_response;

/* Parses url into *out. Returns WR_OK, or WR_EINVAL with the reason in eb (*out is
 * untouched on failure). */
wr_err wr_http_parse_url(const char *url, wr_http_url *out, wr_errbuf *eb);

/* Sends `METHOD prefix+target` to url (target starts with '/' and may carry a query,
 * already percent-encoded) with body (body_len bytes, may be NULL when 0) of
 * content_type (NULL: no Content-Type header), and reads the whole response into *out.
 * timeout_ms (<= 0: WR_HTTP_DEFAULT_TIMEOUT_MS) bounds sending the request and
 * receiving the response, each; connecting is bounded by the smaller of timeout_ms and
 * WR_HTTP_DEFAULT_TIMEOUT_MS.
 *
 * Any HTTP status is a success here: the caller judges it. Failures, with one sentence
 * in eb; *out is untouched:
 *   WR_EIO        nothing was sent: the host did not resolve or no address accepted a
 *                 connection (eb: "Connection refused", "connection timed out after 10 s")
 *   WR_ETIMEDOUT  connected, but sending or the response took longer than timeout_ms
 *   WR_ECLOSED    connected, but the connection failed or closed early
 *   WR_EMALFORMED the response is not HTTP/1.x, or its framing is broken
 *   WR_ETOOBIG    the response is larger than WR_HTTP_MAX_BODY
 *   WR_ENOMEM     out of memory */
wr_err wr_http_request(const wr_http_url *url, const char *method, const char *target,
                       const char *content_type, const void *body, size_t body_len, int timeout_ms,
                       wr_http_response *out, wr_errbuf *eb);

/* Frees the body; r may be NULL or zeroed. */
void wr_http_response_fini(wr_http_response *r);

/* Appends s to dst (capacity cap, NUL-terminated) percent-encoding everything but
 * RFC 3986 unreserved characters. Returns false (dst truncated at a character
 * boundary) when it does not fit. */
bool wr_http_url_encode(char *dst, size_t cap, const char *s);

#endif
