/*
 * http.c — a minimal HTTP/1.1 client (see http.h): one blocking request per TCP
 * connection, every wait bounded by poll().
 *
 * The response is parsed as it arrives, so a server that keeps the connection open
 * after a Content-Length or chunked body does not make us wait for its close. The peer
 * is not trusted: header block, chunk-size lines and body are all bounded, and every
 * framing error is WR_EMALFORMED, never an assert.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD (64u << 10) /* status line + headers */
#define MAX_CHUNK_LINE 1024u /* a chunk-size line or a trailer line */
#define MIN_READ 16384u

/* ---- URLs ------------------------------------------------------------------------ */

static bool host_char_ok(char c, bool bracketed)
{
    if (isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')
        return true;
    return bracketed && (c == ':' || c == '%');
}

wr_err wr_http_parse_url(const char *url, wr_http_url *out, wr_errbuf *eb)
{
    wr_http_url u;
    const char *p = url, *auth_end, *host, *host_end, *port = NULL, *sep;
    size_t hl, pl;
    bool bracketed = false;
    long portnum = 80;

    memset(&u, 0, sizeof u);
    sep = strstr(p, "://");
    if (sep) {
        if ((size_t)(sep - p) != 4 || strncasecmp(p, "http", 4))
            return wr_fail(eb, WR_EINVAL, "'%s': only http:// URLs are supported", url);
        p = sep + 3;
    }
    auth_end = p + strcspn(p, "/?#");
    if (*auth_end == '?' || *auth_end == '#')
        return wr_fail(eb, WR_EINVAL, "'%s': a query or fragment is not allowed", url);
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return wr_fail(eb, WR_EINVAL, "'%s': user names in URLs are not supported", url);
    if (*p == '[') {
        bracketed = true;
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            return wr_fail(eb, WR_EINVAL, "'%s': missing ']' after the IPv6 address", url);
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':')
                return wr_fail(eb, WR_EINVAL, "'%s': expected ':PORT' after ']'", url);
            port = host_end + 2;
        }
    } else {
        host = p;
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end) {
            port = host_end + 1;
            if (memchr(port, ':', (size_t)(auth_end - port)))
                return wr_fail(eb, WR_EINVAL, "'%s': IPv6 addresses need brackets ([::1]:8081)",
                               url);
        } else {
            host_end = auth_end;
        }
    }
    hl = (size_t)(host_end - host);
    if (hl == 0)
        return wr_fail(eb, WR_EINVAL, "'%s': no host", url);
    if (hl >= sizeof u.host)
        return wr_fail(eb, WR_EINVAL, "'%s': host name too long", url);
    for (size_t i = 0; i < hl; i++)
        if (!host_char_ok(host[i], bracketed))
            return wr_fail(eb, WR_EINVAL, "'%s': bad character in the host name", url);
    memcpy(u.host, host, hl);
    if (port) {
        size_t n = (size_t)(auth_end - port);
        portnum = 0;
        if (n == 0 || n > 5)
            return wr_fail(eb, WR_EINVAL, "'%s': the port must be 1..65535", url);
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)port[i]))
                return wr_fail(eb, WR_EINVAL, "'%s': the port must be 1..65535", url);
            portnum = portnum * 10 + (port[i] - '0');
        }
        if (portnum < 1 || portnum > 65535)
            return wr_fail(eb, WR_EINVAL, "'%s': the port must be 1..65535", url);
    }
    snprintf(u.port, sizeof u.port, "%ld", portnum);
    pl = strlen(auth_end);
    while (pl > 0 && auth_end[pl - 1] == '/')
        pl--;
    if (pl >= sizeof u.prefix)
        return wr_fail(eb, WR_EINVAL, "'%s': path too long", url);
    for (size_t i = 0; i < pl; i++) {
        unsigned char c = (unsigned char)auth_end[i];
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#')
            return wr_fail(eb, WR_EINVAL, "'%s': bad character in the path", url);
    }
    memcpy(u.prefix, auth_end, pl);
    *out = u;
    return WR_OK;
}

bool wr_http_url_encode(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(dst);

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            if (n + 1 >= cap)
                return false;
            dst[n++] = (char)c;
        } else {
            if (n + 3 >= cap)
                return false;
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
        dst[n] = '\0';
    }
    return true;
}

/* ---- time and sockets -------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd has one of events or the deadline passes. Returns 1 ready, 0 timed
 * out, -1 poll failed (errno set). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = events};
        int r;

        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Connects to one of host:port's addresses before the deadline. Returns the socket
 * (non-blocking) or -1 with the reason in eb. */
static int connect_any(const wr_http_url *url, int timeout_ms, wr_errbuf *eb)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai;
    int64_t deadline = now_ms() + timeout_ms;
    int rc, fd = -1, last_errno = 0;
    bool timed_out = false;

    rc = getaddrinfo(url->host, url->port, &hints, &res);
    if (rc) {
        wr_fail(eb, WR_EIO, "cannot resolve '%s': %s", url->host,
                rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && !timed_out; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS || errno == EINTR) {
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w > 0) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                    err = errno;
                if (err == 0)
                    break;
                last_errno = err;
            } else if (w == 0) {
                timed_out = true;
            } else {
                last_errno = errno;
            }
        } else {
            last_errno = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (timed_out)
        wr_fail(eb, WR_EIO, "connection timed out after %g s", timeout_ms / 1000.0);
    else
        wr_fail(eb, WR_EIO, "%s", last_errno ? strerror(last_errno) : "no usable address");
    return -1;
}

/* Sends len bytes before the deadline. Returns WR_OK, WR_ETIMEDOUT or WR_ECLOSED. */
static wr_err send_all(int fd, const char *buf, size_t len, int64_t deadline, int timeout_ms,
                       wr_errbuf *eb)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(fd, POLLOUT, deadline);
            if (w == 0)
                return wr_fail(eb, WR_ETIMEDOUT, "sending the request timed out after %g s",
                               timeout_ms / 1000.0);
            if (w < 0)
                return wr_fail(eb, WR_ECLOSED, "sending the request: %s", strerror(errno));
            continue;
        }
        return wr_fail(eb, WR_ECLOSED, "sending the request: %s",
                       n < 0 ? strerror(errno) : "connection closed");
    }
    return WR_OK;
}

/* ---- response parsing -------------------------------------------------------------- */

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_EOF };
enum chunk_phase { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

typedef struct parser {
    char *raw; /* bytes received and not yet consumed */
    size_t raw_len, raw_cap;
    bool have_head;
    bool done;
    int status;
    enum framing framing;
    size_t body_start;      /* FRAME_LENGTH / FRAME_EOF: the body is raw[body_start..] */
    size_t content_length;  /* FRAME_LENGTH */
    enum chunk_phase phase; /* FRAME_CHUNKED: the decoded body goes to body */
    size_t chunk_left;
    char *body;
    size_t body_len, body_cap;
} parser;

/* Returns the offset just past the empty line that ends the head, or 0 if the head is
 * not complete yet. Lines end in "\r\n" (a bare "\n" is accepted too). */
static size_t find_head_end(const char *raw, size_t len)
{
    size_t line = 0;

    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\n')
            continue;
        if (line > 0 && (i == line || (i == line + 1 && raw[line] == '\r')))
            return i + 1;
        line = i + 1;
    }
    return 0;
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* Parses the status line and headers in raw[0..end). Sets status and framing. */
static wr_err parse_head(parser *p, size_t end, wr_errbuf *eb)
{
    const char *s = p->raw, *lim = p->raw + end, *nl;
    bool have_length = false, chunked = false, have_te = false;
    size_t length = 0;

    /* "HTTP/1.x SSS[ reason]" */
    if (end < 13 || memcmp(s, "HTTP/1.", 7) || !isdigit((unsigned char)s[7]) || s[8] != ' ' ||
        !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) ||
        !isdigit((unsigned char)s[11]) || (s[12] != ' ' && s[12] != '\r' && s[12] != '\n'))
        return wr_fail(eb, WR_EMALFORMED, "not an HTTP/1.x response");
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (p->status < 100)
        return wr_fail(eb, WR_EMALFORMED, "bad HTTP status %d", p->status);
    nl = memchr(s, '\n', (size_t)(lim - s));
    for (s = nl + 1; s < lim; s = nl + 1) {
        const char *colon, *v, *ve;
        nl = memchr(s, '\n', (size_t)(lim - s));
        ve = nl;
        if (ve > s && ve[-1] == '\r')
            ve--;
        if (ve == s)
            break; /* the empty line */
        if (*s == ' ' || *s == '\t')
            continue; /* obsolete line folding: a continuation of a header we ignore */
        colon = memchr(s, ':', (size_t)(ve - s));
        if (!colon || colon == s)
            return wr_fail(eb, WR_EMALFORMED, "bad header line in the response");
        for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
            ;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (token_eq(s, (size_t)(colon - s), "content-length")) {
            size_t n = 0;
            if (v == ve)
                return wr_fail(eb, WR_EMALFORMED, "empty Content-Length");
            for (const char *c = v; c < ve; c++) {
                if (!isdigit((unsigned char)*c))
                    return wr_fail(eb, WR_EMALFORMED, "bad Content-Length");
                if (n > WR_HTTP_MAX_BODY)
                    break; /* too big either way; avoid overflow */
                n = n * 10 + (size_t)(*c - '0');
            }
            if (have_length && n != length)
                return wr_fail(eb, WR_EMALFORMED, "conflicting Content-Length headers");
            have_length = true;
            length = n;
        } else if (token_eq(s, (size_t)(colon - s), "transfer-encoding")) {
            /* chunked must be the last coding; anything else is read to the end */
            const char *last = ve;
            while (last > v && last[-1] != ',')
                last--;
            while (last < ve && (*last == ' ' || *last == '\t'))
                last++;
            have_te = true;
            chunked = token_eq(last, (size_t)(ve - last), "chunked");
        }
    }
    if (p->status / 100 == 1 || p->status == 204 || p->status == 304) {
        p->framing = FRAME_LENGTH;
        p->content_length = 0;
    } else if (have_te) {
        p->framing = chunked ? FRAME_CHUNKED : FRAME_EOF;
    } else if (have_length) {
        if (length > WR_HTTP_MAX_BODY)
            return wr_fail(eb, WR_ETOOBIG, "the response body is larger than %u MiB",
                           WR_HTTP_MAX_BODY >> 20);
        p->framing = FRAME_LENGTH;
        p->content_length = length;
    } else {
        p->framing = FRAME_EOF;
    }
    return WR_OK;
}

static wr_err body_append(parser *p, const char *data, size_t n, wr_errbuf *eb)
{
    if (n > WR_HTTP_MAX_BODY - p->body_len)
        return wr_fail(eb, WR_ETOOBIG, "the response body is larger than %u MiB",
                       WR_HTTP_MAX_BODY >> 20);
    if (p->body_len + n + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        char *b;
        while (cap < p->body_len + n + 1)
            cap *= 2;
        b = realloc(p->body, cap);
        if (!b)
            return wr_fail(eb, WR_ENOMEM, "out of memory");
        p->body = b;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, data, n);
    p->body_len += n;
    return WR_OK;
}

/* Decodes as much of the chunked body in raw as has arrived, consuming it. */
static wr_err chunked_step(parser *p, wr_errbuf *eb)
{
    size_t pos = 0;
    wr_err e = WR_OK;

    while (!p->done) {
        const char *s = p->raw + pos, *nl;
        size_t avail = p->raw_len - pos;

        if (p->phase == CH_SIZE || p->phase == CH_TRAILER) {
            const char *c, *end;
            size_t size = 0;

            nl = memchr(s, '\n', avail);
            if (!nl) {
                if (avail > MAX_CHUNK_LINE)
                    e = wr_fail(eb, WR_EMALFORMED, "chunked encoding: line too long");
                break;
            }
            end = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
            pos += (size_t)(nl - s) + 1;
            if (p->phase == CH_TRAILER) {
                if (end == s)
                    p->done = true;
                continue;
            }
            for (c = s; c < end && isxdigit((unsigned char)*c); c++) {
                if (size > WR_HTTP_MAX_BODY) {
                    e = wr_fail(eb, WR_ETOOBIG, "the response body is larger than %u MiB",
                                WR_HTTP_MAX_BODY >> 20);
                    goto out;
                }
                size = size * 16 + (size_t)(isdigit((unsigned char)*c)
                                                ? *c - '0'
                                                : tolower((unsigned char)*c) - 'a' + 10);
            }
            while (c < end && (*c == ' ' || *c == '\t'))
                c++;
            if (c == s || (c < end && *c != ';')) {
                e = wr_fail(eb, WR_EMALFORMED, "chunked encoding: bad chunk size");
                break;
            }
            if (size == 0) {
                p->phase = CH_TRAILER;
            } else {
                p->chunk_left = size;
                p->phase = CH_DATA;
            }
        } else if (p->phase == CH_DATA) {
            size_t n = avail < p->chunk_left ? avail : p->chunk_left;
            if (n == 0)
                break;
            e = body_append(p, s, n, eb);
            if (e)
                break;
            pos += n;
            p->chunk_left -= n;
            if (p->chunk_left == 0)
                p->phase = CH_DATA_END;
        } else { /* CH_DATA_END: the CRLF after the chunk's data */
            if (avail == 0)
                break;
            if (s[0] == '\n') {
                pos += 1;
            } else if (s[0] == '\r') {
                if (avail < 2)
                    break;
                if (s[1] != '\n') {
                    e = wr_fail(eb, WR_EMALFORMED, "chunked encoding: no CRLF after a chunk");
                    break;
                }
                pos += 2;
            } else {
                e = wr_fail(eb, WR_EMALFORMED, "chunked encoding: chunk longer than its size");
                break;
            }
            p->phase = CH_SIZE;
        }
    }
out:
    memmove(p->raw, p->raw + pos, p->raw_len - pos);
    p->raw_len -= pos;
    return e;
}

/* Parses what has arrived; sets p->done once the response is complete. */
static wr_err parse_progress(parser *p, wr_errbuf *eb)
{
    wr_err e;

    while (!p->have_head) {
        size_t end = find_head_end(p->raw, p->raw_len);
        if (!end) {
            if (p->raw_len > MAX_HEAD)
                return wr_fail(eb, WR_EMALFORMED, "response headers larger than %u KiB",
                               MAX_HEAD >> 10);
            return WR_OK;
        }
        e = parse_head(p, end, eb);
        if (e)
            return e;
        if (p->status / 100 == 1) { /* an interim response: drop it, the real one follows */
            memmove(p->raw, p->raw + end, p->raw_len - end);
            p->raw_len -= end;
            continue;
        }
        p->have_head = true;
        if (p->framing == FRAME_CHUNKED) {
            memmove(p->raw, p->raw + end, p->raw_len - end);
            p->raw_len -= end;
            p->phase = CH_SIZE;
        } else {
            p->body_start = end;
        }
    }
    switch (p->framing) {
    case FRAME_LENGTH:
        if (p->raw_len - p->body_start >= p->content_length)
            p->done = true;
        return WR_OK;
    case FRAME_CHUNKED:
        return chunked_step(p, eb);
    case FRAME_EOF:
        if (p->raw_len - p->body_start > WR_HTTP_MAX_BODY)
            return wr_fail(eb, WR_ETOOBIG, "the response body is larger than %u MiB",
                           WR_HTTP_MAX_BODY >> 20);
        return WR_OK;
    }
    return WR_OK;
}

/* Reads and parses the response before the deadline; on success the body is in p. */
static wr_err read_response(int fd, parser *p, int64_t deadline, int timeout_ms, wr_errbuf *eb)
{
    wr_err e;

    while (!p->done) {
        ssize_t n;

        if (p->raw_cap - p->raw_len < MIN_READ) {
            size_t cap = p->raw_cap ? p->raw_cap * 2 : 4 * MIN_READ;
            char *r = realloc(p->raw, cap);
            if (!r)
                return wr_fail(eb, WR_ENOMEM, "out of memory");
            p->raw = r;
            p->raw_cap = cap;
        }
        n = recv(fd, p->raw + p->raw_len, p->raw_cap - p->raw_len, 0);
        if (n < 0) {
            int w;
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return wr_fail(eb, WR_ECLOSED, "reading the response: %s", strerror(errno));
            w = wait_fd(fd, POLLIN, deadline);
            if (w == 0)
                return wr_fail(eb, WR_ETIMEDOUT, "no complete response within %g s",
                               timeout_ms / 1000.0);
            if (w < 0)
                return wr_fail(eb, WR_ECLOSED, "reading the response: %s", strerror(errno));
            continue;
        }
        if (n == 0) { /* the server closed the connection */
            if (!p->have_head)
                return p->raw_len == 0
                           ? wr_fail(eb, WR_ECLOSED, "the connection closed without a response")
                           : wr_fail(eb, WR_EMALFORMED, "the response ended inside its headers");
            if (p->framing == FRAME_EOF) {
                p->done = true;
                break;
            }
            return wr_fail(eb, WR_ECLOSED,
                           "the connection closed before the response was "
                           "complete");
        }
        p->raw_len += (size_t)n;
        e = parse_progress(p, eb);
        if (e)
            return e;
    }
    return WR_OK;
}

/* Moves the body out of p into out. */
static wr_err finish(parser *p, wr_http_response *out, wr_errbuf *eb)
{
    wr_http_response r = {.status = p->status};

    if (p->framing == FRAME_CHUNKED) {
        wr_err e = body_append(p, "", 0, eb); /* makes room for the NUL, also when empty */
        if (e)
            return e;
        r.body = p->body;
        r.body_len = p->body_len;
        p->body = NULL;
    } else {
        size_t n = p->raw_len - p->body_start;
        if (p->framing == FRAME_LENGTH)
            n = p->content_length; /* bytes past it (a misbehaving server) are ignored */
        memmove(p->raw, p->raw + p->body_start, n);
        r.body = p->raw;
        r.body_len = n;
        p->raw = NULL;
    }
    r.body[r.body_len] = '\0';
    *out = r;
    return WR_OK;
}

wr_err wr_http_request(const wr_http_url *url, const char *method, const char *target,
                       const char *content_type, const void *body, size_t body_len, int timeout_ms,
                       wr_http_response *out, wr_errbuf *eb)
{
    parser p = {0};
    char *req = NULL, head[8192]; /* fits any prefix (511) + the longest target we build */
    bool v6 = strchr(url->host, ':') != NULL;
    bool with_length = body_len > 0 || (strcmp(method, "GET") && strcmp(method, "HEAD"));
    wr_errbuf send_eb = {{0}};
    wr_err e, send_err;
    int fd, hl;

    if (timeout_ms <= 0)
        timeout_ms = WR_HTTP_DEFAULT_TIMEOUT_MS;
    hl = snprintf(head, sizeof head,
                  "%s %s%s HTTP/1.1\r\n"
                  "Host: %s%s%s%s%s\r\n"
                  "User-Agent: weir-cli\r\n"
                  "Accept: application/json\r\n"
                  "Connection: close\r\n"
                  "%s%s%s",
                  method, url->prefix, target, v6 ? "[" : "", url->host, v6 ? "]" : "",
                  strcmp(url->port, "80") ? ":" : "", strcmp(url->port, "80") ? url->port : "",
                  content_type ? "Content-Type: " : "", content_type ? content_type : "",
                  content_type ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof head - 64)
        return wr_fail(eb, WR_EINVAL, "request target too long");
    if (with_length)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Content-Length: %zu\r\n", body_len);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    req = malloc((size_t)hl + body_len);
    if (!req)
        return wr_fail(eb, WR_ENOMEM, "out of memory");
    memcpy(req, head, (size_t)hl);
    if (body_len)
        memcpy(req + hl, body, body_len);

    fd = connect_any(
        url, timeout_ms < WR_HTTP_DEFAULT_TIMEOUT_MS ? timeout_ms : WR_HTTP_DEFAULT_TIMEOUT_MS, eb);
    if (fd < 0) {
        e = WR_EIO;
        goto out;
    }
    /* A server may answer early (413) and close while we still send: then its answer
     * matters more than our broken pipe, so read it before reporting the send error. */
    send_err =
        send_all(fd, req, (size_t)hl + body_len, now_ms() + timeout_ms, timeout_ms, &send_eb);
    if (send_err == WR_ETIMEDOUT) {
        e = wr_fail(eb, send_err, "%s", send_eb.msg);
        goto out_close;
    }
    e = read_response(fd, &p, now_ms() + timeout_ms, timeout_ms, eb);
    if (e && send_err) {
        e = wr_fail(eb, send_err, "%s", send_eb.msg);
        goto out_close;
    }
    if (!e)
        e = finish(&p, out, eb);
out_close:
    close(fd);
out:
    free(p.raw);
    free(p.body);
    free(req);
    return e;
}

void wr_http_response_fini(wr_http_response *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
