/* label_server.h — the web server of `lmforge label` (libmicrohttpd): the
 * page (label_page.h) and the JSON API its script calls, over a LabelQueue.
 *
 *   GET  /                               the page
 *   GET  /api/next?labeler=NAME          {"id","check","prompt","responses","order",
 *                                         "done","wanted","left","mine","prompts"};
 *                                         "id": null when nothing is left for NAME,
 *                                         with "waiting": true in a stream (ask again)
 *   POST /api/rank {"labeler","id","check","ranking"} or {..., "all_bad": true}
 *   POST /api/skip {"labeler","id","check"}
 *
 * Each request is checked before anything else: the token when there is one
 * (?token=T or the X-Lmforge-Token header; else 403), the Host header on a
 * loopback address (a name other than localhost or the address itself means
 * a page elsewhere reaching this port by DNS rebinding: 403), the rate per
 * client address (429), and the body size (413). A POST must say it is JSON
 * (415): a form on another site cannot send that without the browser asking
 * first. Replies escape <, > and & inside JSON strings, so model outputs
 * never read as markup even to a sniffing client. */
#ifndef LMF_LABEL_SERVER_H
#define LMF_LABEL_SERVER_H

#include <stddef.h>

#include "label_queue.h"

typedef struct {
    const char *host;  /* an IP address to bind, or "localhost" */
    int port;          /* 0: any free port (label_server_port says which) */
    const char *token; /* required on every request; NULL: none (loopback only) */
    size_t max_body;   /* bytes of a request body */
    int rate;          /* requests per second per client address; 0: no bound */
    int stream;        /* prompts are added while it serves (label_server_add) */
} LabelServerOptions;

typedef struct LabelServer LabelServer;

/* Serves q from a thread of its own; dies when the address cannot be bound. */
LabelServer *label_server_start(LabelQueue *q, const LabelServerOptions *o);
int label_server_port(const LabelServer *s);
/* 1 once every prompt has all the rankings it wants. */
int label_server_all_done(LabelServer *s);
/* The rankings written so far (the overlap prompts' second ones included). */
long label_server_done(LabelServer *s);
/* A stream: adds a prompt with its answers (label_queue_add) and returns
 * its index, or -1 when it has nothing to rank. */
int label_server_add(LabelServer *s, const cJSON *prompt, const cJSON *responses);
/* Blocks until prompt i has a ranking; returns {"responses": its distinct
 * answers, "ranking": indices into them, best first, ties in a list}. */
cJSON *label_server_wait_ranking(LabelServer *s, int i);
/* Stops serving (the requests under way finish first) and frees the server. */
void label_server_stop(LabelServer *s);

/* 1 for 127.0.0.0/8, ::1 and "localhost". */
int label_host_is_loopback(const char *host);

#endif
