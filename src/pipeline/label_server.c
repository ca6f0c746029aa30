/* label_server.c — `lmforge label`'s HTTP side on libmicrohttpd; see
 * label_server.h. The daemon runs one internal thread; a mutex still guards
 * the queue, so that the main thread may ask it too. */
#include "label_server.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../base/util.h"
#include "label_page.h"

enum { RATE_SLOTS = 64 };

/* Requests from one client address in the current second. */
typedef struct {
    unsigned char addr[16];
    time_t second;
    int count;
} RateSlot;

struct LabelServer {
    struct MHD_Daemon *daemon;
    LabelQueue *q;
    pthread_mutex_t lock;
    pthread_cond_t ranked; /* broadcast after every ranking written */
    LabelServerOptions o;
    char *token;
    int loopback, port;
    int in_flight; /* requests between their headers and their reply sent */
    RateSlot rate[RATE_SLOTS];
};

/* What arrives of one request's body. */
typedef struct {
    char *body;
    size_t len;
    int too_big;
} Request;

int label_host_is_loopback(const char *host) {
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0) return 1;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* JSON with <, > and & as \u escapes: they occur only inside strings, so
 * the text means the same to a JSON parser and holds no markup at all. */
static char *json_text(const cJSON *obj) {
    char *raw = cJSON_PrintUnformatted(obj);
    size_t n = 0;
    for (const char *p = raw; *p; p++) n += strchr("<>&", *p) ? 6 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *p = raw; *p; p++) {
        if (*p == '<') memcpy(o, "\\u003c", 6), o += 6;
        else if (*p == '>') memcpy(o, "\\u003e", 6), o += 6;
        else if (*p == '&') memcpy(o, "\\u0026", 6), o += 6;
        else *o++ = *p;
    }
    *o = 0;
    free(raw);
    return out;
}

/* Headers on every reply: no caching of prompts, no sniffing a type, no
 * framing, and no Referer (the URL may hold the token). */
static void common_headers(struct MHD_Response *r, const char *type) {
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, char *text, const char *type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    common_headers(r, type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *obj) {
    char *text = json_text(obj);
    cJSON_Delete(obj);
    return send_text(c, status, text, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *reason) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", reason);
    return send_json(c, status, o);
}

static enum MHD_Result send_page(struct MHD_Connection *c) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(label_page_html), (void *)label_page_html, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    common_headers(r, "text/html; charset=utf-8");
    /* the page's own inline script and style, calls to this server, and nothing else */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* Compares without stopping at the first difference: the time taken says
 * nothing about how much of a guessed token was right. */
static int same_token(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = la != lb;
    for (size_t i = 0; i < lb; i++) diff |= (unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i];
    return diff == 0;
}

/* The name in a Host header, without its port. */
static int host_header_is_loopback(const char *host) {
    char name[256];
    const char *end;
    if (host[0] == '[') {
        host++;
        end = strchr(host, ']');
    } else {
        end = strchr(host, ':');
    }
    size_t n = end ? (size_t)(end - host) : strlen(host);
    if (n >= sizeof name) return 0;
    memcpy(name, host, n);
    name[n] = 0;
    return label_host_is_loopback(name);
}

static int over_rate(LabelServer *s, struct MHD_Connection *c) {
    if (s->o.rate <= 0) return 0;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    unsigned char addr[16] = {0};
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET) memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        else if (sa->sa_family == AF_INET6) memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&s->lock);
    RateSlot *slot = NULL, *oldest = &s->rate[0];
    for (int i = 0; i < RATE_SLOTS && !slot; i++) {
        if (memcmp(s->rate[i].addr, addr, 16) == 0 && s->rate[i].second) slot = &s->rate[i];
        if (s->rate[i].second < oldest->second) oldest = &s->rate[i];
    }
    if (!slot) {
        slot = oldest;
        memcpy(slot->addr, addr, 16);
        slot->second = 0;
    }
    if (slot->second != now) slot->second = now, slot->count = 0;
    int over = ++slot->count > s->o.rate;
    pthread_mutex_unlock(&s->lock);
    return over;
}

/* The checks before a request is read: 0, or the status that refuses it. */
static unsigned admit(LabelServer *s, struct MHD_Connection *c, const char **reason) {
    if (s->token) {
        const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
        if (!t) t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Lmforge-Token");
        if (!t || !same_token(t, s->token)) {
            *reason = "a valid token is required (the URL lmforge label printed)";
            return MHD_HTTP_FORBIDDEN;
        }
    }
    if (s->loopback) {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (host && !host_header_is_loopback(host)) {
            *reason = "this server answers only to localhost and its loopback address";
            return MHD_HTTP_FORBIDDEN;
        }
    }
    if (over_rate(s, c)) {
        *reason = "too many requests; slow down";
        return MHD_HTTP_TOO_MANY_REQUESTS;
    }
    const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > s->o.max_body) {
        *reason = "request body too large";
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    return 0;
}

static void add_progress(cJSON *o, const LabelProgress *p) {
    cJSON_AddNumberToObject(o, "prompts", p->prompts);
    cJSON_AddNumberToObject(o, "wanted", (double)p->wanted);
    cJSON_AddNumberToObject(o, "done", (double)p->done);
    cJSON_AddNumberToObject(o, "left", (double)(p->wanted - p->done));
    cJSON_AddNumberToObject(o, "mine", (double)p->mine);
}

static enum MHD_Result api_next(LabelServer *s, struct MHD_Connection *c) {
    const char *labeler = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labeler");
    if (!labeler || !label_name_ok(labeler))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "?labeler=NAME is required: 1 to 64 letters, digits or _.-@");
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->lock);
    int i = label_queue_next(s->q, labeler, now_seconds());
    if (i >= 0) {
        const LabelItem *it = label_queue_item(s->q, i);
        char check[17];
        snprintf(check, sizeof check, "%016" PRIx64, it->check);
        int *order = xmalloc(sizeof(int) * (size_t)it->k);
        label_queue_order(s->q, i, labeler, order);
        cJSON_AddNumberToObject(o, "id", i);
        cJSON_AddStringToObject(o, "check", check);
        cJSON_AddItemToObject(o, "prompt", cJSON_Duplicate(it->prompt, 1));
        cJSON_AddItemToObject(o, "responses", cJSON_Duplicate(it->responses, 1));
        cJSON_AddItemToObject(o, "order", cJSON_CreateIntArray(order, it->k));
        free(order);
    } else {
        cJSON_AddNullToObject(o, "id");
    }
    if (s->o.stream) cJSON_AddTrueToObject(o, "waiting"); /* more prompts may come: the page asks again */
    LabelProgress p = label_queue_progress(s->q, labeler);
    pthread_mutex_unlock(&s->lock);
    add_progress(o, &p);
    return send_json(c, MHD_HTTP_OK, o);
}

/* POST /api/rank and /api/skip: the body names the labeler and the prompt
 * (its id, and the check it was shown with). */
static enum MHD_Result api_post(LabelServer *s, struct MHD_Connection *c, int is_rank, const Request *r) {
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp(type, "application/json", 16) != 0)
        return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "the body must be JSON (Content-Type: application/json)");
    cJSON *body = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
    }
    const cJSON *labeler = cJSON_GetObjectItemCaseSensitive(body, "labeler");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const cJSON *check = cJSON_GetObjectItemCaseSensitive(body, "check");
    const cJSON *ranking = cJSON_GetObjectItemCaseSensitive(body, "ranking");
    int all_bad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "all_bad"));
    unsigned status = MHD_HTTP_OK;
    char err[256] = "";
    pthread_mutex_lock(&s->lock);
    int n = label_queue_size(s->q);
    if (!cJSON_IsString(labeler) || !label_name_ok(labeler->valuestring)) {
        status = MHD_HTTP_BAD_REQUEST;
        snprintf(err, sizeof err, "\"labeler\" must be 1 to 64 letters, digits or _.-@");
    } else if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= n ||
               id->valuedouble != (int)id->valuedouble) {
        status = MHD_HTTP_BAD_REQUEST;
        snprintf(err, sizeof err, "\"id\" must be a prompt's id from /api/next");
    } else {
        const LabelItem *it = label_queue_item(s->q, (int)id->valuedouble);
        char expected[17];
        snprintf(expected, sizeof expected, "%016" PRIx64, it->check);
        if (!cJSON_IsString(check) || strcmp(check->valuestring, expected) != 0) {
            status = MHD_HTTP_CONFLICT;
            snprintf(err, sizeof err, "\"check\" does not match this prompt (a page from another run? reload it)");
        } else if (!is_rank) {
            label_queue_skip(s->q, (int)id->valuedouble, labeler->valuestring);
        } else if (!ranking && !all_bad) {
            status = MHD_HTTP_BAD_REQUEST;
            snprintf(err, sizeof err, "\"ranking\" (or \"all_bad\": true) is required");
        } else {
            int rc = label_queue_record(s->q, (int)id->valuedouble, labeler->valuestring, ranking, all_bad,
                                        now_seconds(), err, sizeof err);
            if (rc) status = (unsigned)rc;
            else pthread_cond_broadcast(&s->ranked);
        }
    }
    LabelProgress p = label_queue_progress(s->q, cJSON_IsString(labeler) ? labeler->valuestring : NULL);
    pthread_mutex_unlock(&s->lock);
    cJSON_Delete(body);
    if (status != MHD_HTTP_OK) return send_error(c, status, err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "ok");
    add_progress(o, &p);
    return send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result route(LabelServer *s, struct MHD_Connection *c, const char *url, const char *method,
                             const Request *r) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
        return send_page(c);
    }
    if (strcmp(url, "/api/next") == 0) {
        if (!get) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only");
        return api_next(s, c);
    }
    if (strcmp(url, "/api/rank") == 0 || strcmp(url, "/api/skip") == 0) {
        if (!post) return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only");
        return api_post(s, c, strcmp(url, "/api/rank") == 0, r);
    }
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    LabelServer *s = cls;
    Request *r = *con_cls;
    if (!r) { /* the headers are in, the body (if any) not yet */
        *con_cls = r = xcalloc(1, sizeof *r);
        pthread_mutex_lock(&s->lock);
        s->in_flight++;
        pthread_mutex_unlock(&s->lock);
        const char *reason = NULL;
        unsigned status = admit(s, c, &reason);
        return status ? send_error(c, status, reason) : MHD_YES;
    }
    if (*upload_size) { /* a piece of the body; past the bound it is dropped and the request refused */
        if (!r->too_big && r->len + *upload_size <= s->o.max_body) {
            r->body = xrealloc(r->body, r->len + *upload_size);
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
        } else {
            r->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    return route(s, c, url, method, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)c, (void)why;
    LabelServer *s = cls;
    Request *r = *con_cls;
    if (r) {
        free(r->body);
        pthread_mutex_lock(&s->lock);
        s->in_flight--;
        pthread_mutex_unlock(&s->lock);
    }
    free(r);
    *con_cls = NULL;
}

LabelServer *label_server_start(LabelQueue *q, const LabelServerOptions *o) {
    LabelServer *s = xcalloc(1, sizeof *s);
    s->q = q;
    s->o = *o;
    s->token = o->token ? xstrdup(o->token) : NULL;
    s->loopback = label_host_is_loopback(o->host);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->ranked, NULL);
    const char *host = strcmp(o->host, "localhost") == 0 ? "127.0.0.1" : o->host;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)o->port)};
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        addr = (const struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        die("label: --host %s: expected an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost", o->host);
    }
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)64, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!s->daemon) die("label: cannot serve on %s port %d (in use? a bad address?)", o->host, o->port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    return s;
}

int label_server_port(const LabelServer *s) { return s->port; }

int label_server_all_done(LabelServer *s) {
    pthread_mutex_lock(&s->lock);
    LabelProgress p = label_queue_progress(s->q, NULL);
    pthread_mutex_unlock(&s->lock);
    return p.done >= p.wanted;
}

long label_server_done(LabelServer *s) {
    pthread_mutex_lock(&s->lock);
    LabelProgress p = label_queue_progress(s->q, NULL);
    pthread_mutex_unlock(&s->lock);
    return p.done;
}

void label_server_stop(LabelServer *s) {
    /* the replies under way go out first (for up to 5 s): a ranking just written, whose reply would
     * otherwise be cut off, must not read as "not saved" on the page */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s->lock);
        int busy = s->in_flight;
        pthread_mutex_unlock(&s->lock);
        if (!busy) break;
        usleep(10 * 1000);
    }
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->ranked);
    free(s->token);
    free(s);
}

int label_server_add(LabelServer *s, const cJSON *prompt, const cJSON *responses) {
    pthread_mutex_lock(&s->lock);
    int i = label_queue_add(s->q, prompt, responses);
    pthread_mutex_unlock(&s->lock);
    return i;
}

cJSON *label_server_wait_ranking(LabelServer *s, int i) {
    pthread_mutex_lock(&s->lock);
    while (!label_queue_item(s->q, i)->ranking) pthread_cond_wait(&s->ranked, &s->lock);
    const LabelItem *it = label_queue_item(s->q, i);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "responses", cJSON_Duplicate(it->responses, 1));
    cJSON_AddItemToObject(o, "ranking", cJSON_Duplicate(it->ranking, 1));
    pthread_mutex_unlock(&s->lock);
    return o;
}
