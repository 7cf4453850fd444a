/* route.h - the HTTP routes of the server and the shape of a handler.
 *
 * net parses requests (http_parser) and dispatches to the first route whose method
 * and path match (exact, or prefix when ROUTE_PREFIX). A handler fills an
 * http_resp; net writes it. ROUTE_OFFLOAD handlers run on a worker thread (libuv
 * threadpool) because they may touch disk or take milliseconds (queries, deploys);
 * others run on the network loop and must not block. The request's memory is valid
 * until the handler returns. Registration happens before the server starts. */
#ifndef SL_ROUTE_H
#define SL_ROUTE_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct http_req {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* decoded path without the query string, e.g. "/workflows/alerts" */
    const char *query;    /* raw query string after '?', "" if none (route_query_param decodes) */
    const uint8_t *body;  /* request body (bounded by --http-body-bytes-max) */
    size_t body_len;
    uint64_t conn_id;     /* the connection's id (same id space as WebSocket producers) */
} http_req;

typedef struct http_resp {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    buf body;                 /* handler appends; tag MEM_NET */
} http_resp;

typedef void (*http_handler)(const http_req *req, http_resp *resp, void *arg);

enum { ROUTE_PREFIX = 1u << 0, ROUTE_OFFLOAD = 1u << 1 };

typedef struct router router;

/* method NULL matches any method. Returns 0 or -ENOMEM. */
int route_add(router *r, const char *method, const char *path, unsigned flags, http_handler fn,
              void *arg);
/* Decoded value of name in a query string ("q=AVG%3Acpu" -> "AVG:cpu") into out;
 * 1 found, 0 absent, SL_ELIMIT if longer than cap-1, SL_EINVAL if the value holds
 * an encoded NUL byte ("%00"). */
int route_query_param(const char *query, const char *name, char *out, size_t cap);

/* Convenience for handlers: status + {"error":"<msg>"} JSON body. */
void route_error(http_resp *resp, int status, const char *msg);

#endif
