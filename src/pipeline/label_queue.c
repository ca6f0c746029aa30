/* label_queue.c — who ranks what next in `lmforge label`, and the appended
 * rankings file; see label_queue.h. */
#include "label_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/jsonl.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "../data/preference_pairs.h"

struct LabelQueue {
    LabelItem *items;
    int n, cap, left_out;
    char **labelers; /* id -> name */
    int n_labelers;
    int *table; /* open addressing on check: item index + 1, 0 empty */
    size_t table_size;
    int fd; /* OUT, opened for appending */
    char *out_path;
    LabelQueueOptions o;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The identity of a (prompt, responses) pair: both as compact JSON. */
static char *item_key(const cJSON *prompt, const cJSON *responses) {
    char *p = cJSON_PrintUnformatted(prompt), *r = cJSON_PrintUnformatted(responses);
    char *key = xsprintf("%s\n%s", p, r);
    free(p);
    free(r);
    return key;
}

static int find_item(const LabelQueue *q, const char *key) {
    size_t mask = q->table_size - 1;
    for (size_t at = fnv1a(key) & mask; q->table[at]; at = (at + 1) & mask)
        if (strcmp(q->items[q->table[at] - 1].key, key) == 0) return q->table[at] - 1;
    return -1;
}

static int labeler_id(LabelQueue *q, const char *name) {
    for (int i = 0; i < q->n_labelers; i++)
        if (strcmp(q->labelers[i], name) == 0) return i;
    q->labelers = xrealloc(q->labelers, sizeof(char *) * (size_t)(q->n_labelers + 1));
    q->labelers[q->n_labelers] = xstrdup(name);
    return q->n_labelers++;
}

static int has(const int *ids, int n, int id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

int label_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_.-@", c);
        if (!ok) return 0;
    }
    return 1;
}

/* A prompt with its answers (checked: a string or messages, and a list of
 * strings) as an item, or 0 when it has fewer than two distinct non-empty
 * answers. */
static int make_item(const cJSON *prompt, const cJSON *responses, LabelItem *it) {
    cJSON *list = cJSON_CreateArray();
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, responses) {
        const char *text = r->valuestring;
        int seen = preference_answer_is_blank(text);
        for (int j = 0; j < n && !seen; j++) seen = strcmp(cJSON_GetArrayItem(list, j)->valuestring, text) == 0;
        if (!seen) {
            cJSON_AddItemToArray(list, cJSON_CreateString(text));
            n++;
        }
    }
    if (n < 2) {
        cJSON_Delete(list);
        return 0;
    }
    memset(it, 0, sizeof *it);
    it->prompt = cJSON_Duplicate(prompt, 1);
    it->responses = list;
    it->k = n;
    it->key = item_key(it->prompt, list);
    it->check = fnv1a(it->key);
    it->need = 1;
    it->held_by = -1;
    it->ranked_by = xmalloc(sizeof(int) * 2);
    return 1;
}

/* One line of SAMPLES (or OUT) as an item; dies on a bad field. */
static int make_item_from_line(const JsonlRecord *rec, LabelItem *it) {
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec->json, "prompt");
    if (!cJSON_IsString(prompt) && !cJSON_IsArray(prompt))
        jsonl_die(rec, "field \"prompt\" must be a string or a list of messages");
    int k = cJSON_GetArraySize(jsonl_get_array(rec, "responses"));
    for (int i = 0; i < k; i++) jsonl_array_string(rec, "responses", i);
    return make_item(prompt, cJSON_GetObjectItemCaseSensitive(rec->json, "responses"), it);
}

static void free_item(LabelItem *it) {
    cJSON_Delete(it->prompt);
    cJSON_Delete(it->responses);
    cJSON_Delete(it->ranking);
    free(it->key);
    free(it->ranked_by);
    free(it->skipped_by);
}

static void table_put(LabelQueue *q, int i) {
    size_t mask = q->table_size - 1, at = q->items[i].check & mask;
    while (q->table[at]) at = (at + 1) & mask;
    q->table[at] = i + 1;
}

/* Keeps the table at most half full, for items 0..n. */
static void table_fit(LabelQueue *q, int n) {
    if (q->table_size >= 2 * (size_t)n + 2) return;
    free(q->table);
    q->table_size = 16;
    while (q->table_size < 2 * (size_t)n + 2) q->table_size *= 2;
    q->table = xcalloc(q->table_size, sizeof(int));
    for (int i = 0; i < q->n; i++) table_put(q, i);
}

static void append_item(LabelQueue *q, const LabelItem *it) {
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->items = xrealloc(q->items, sizeof(LabelItem) * (size_t)q->cap);
    }
    table_fit(q, q->n + 1);
    q->items[q->n] = *it;
    table_put(q, q->n++);
}

static void add_ranked_by(LabelItem *it, int id) {
    it->ranked_by = xrealloc(it->ranked_by, sizeof(int) * (size_t)(it->n_ranked + 1));
    it->ranked_by[it->n_ranked++] = id;
}

/* A crash can leave OUT ending in part of a line (a write cut short): it
 * is cut back to its last complete line, so that the next append starts a
 * line of its own and the file stays readable. */
static void drop_partial_last_line(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    size_t keep = len;
    while (keep > 0 && text[keep - 1] != '\n') keep--;
    if (keep < len) {
        warn("label: %s ended in an incomplete line (%zu bytes, an interrupted write): removed", path, len - keep);
        if (truncate(path, (off_t)keep) != 0) die_errno("truncate %s", path);
    }
    free(text);
}

static cJSON *checked_ranking(const cJSON *ranking, int k, char *err, size_t err_len);

static void resume(LabelQueue *q, const char *out) {
    if (!file_exists(out)) return;
    drop_partial_last_line(out);
    JsonlReader *r = jsonl_open(out);
    JsonlRecord rec;
    long lines = 0, unknown = 0;
    while (jsonl_next(r, &rec)) {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec.json, "prompt");
        const cJSON *responses = jsonl_get_array(&rec, "responses");
        const char *who = jsonl_opt_string(&rec, "labeler");
        if (!prompt) jsonl_die(&rec, "field \"prompt\" is missing");
        char *key = item_key(prompt, responses);
        int i = find_item(q, key);
        free(key);
        lines++;
        if (i < 0 && q->o.stream) { /* a prompt a program asked about before: asked again, it is answered from here */
            int k = cJSON_GetArraySize(responses);
            for (int j = 0; j < k; j++) jsonl_array_string(&rec, "responses", j);
            i = label_queue_add(q, prompt, responses);
        }
        if (i < 0) {
            unknown++;
            continue;
        }
        add_ranked_by(&q->items[i], labeler_id(q, who ? who : ""));
        /* kept to answer a program asking again: in a stream it must be one */
        LabelItem *it = &q->items[i];
        char err[128];
        cJSON *ranking = checked_ranking(cJSON_GetObjectItemCaseSensitive(rec.json, "ranking"), it->k, err, sizeof err);
        if (!ranking && q->o.stream) jsonl_die(&rec, "%s", err);
        if (!it->ranking) it->ranking = ranking;
        else cJSON_Delete(ranking);
    }
    jsonl_close(r);
    if (lines) info("label: %s holds %ld rankings; carrying on from there", out, lines);
    if (unknown) warn("label: %ld rankings in %s are of prompts not in the samples (kept, not counted)", unknown, out);
}

LabelQueue *label_queue_open(const char *samples, const char *out, const LabelQueueOptions *o) {
    LabelQueue *q = xcalloc(1, sizeof *q);
    q->o = *o;
    q->fd = -1;
    table_fit(q, 0);
    if (samples) {
        JsonlReader *r = jsonl_open(samples);
        JsonlRecord rec;
        LabelItem it;
        while (jsonl_next(r, &rec)) {
            if (!make_item_from_line(&rec, &it)) {
                q->left_out++;
            } else if (find_item(q, it.key) >= 0) { /* the same line twice is one prompt: it keeps its first place */
                free_item(&it);
                q->left_out++;
            } else {
                append_item(q, &it);
            }
        }
        jsonl_close(r);
        if (q->n == 0) die("label: %s has no line with two distinct non-empty answers to rank", samples);
    }

    /* the overlap prompts: a seeded draw, the same on every restart */
    int *order = xmalloc(sizeof(int) * (size_t)(q->n + 1));
    for (int i = 0; i < q->n; i++) order[i] = i;
    Rng rng;
    rng_seed(&rng, o->seed);
    rng_shuffle_ints(&rng, order, q->n);
    int n_overlap = (int)(o->overlap * q->n + 0.5);
    for (int i = 0; i < n_overlap && i < q->n; i++) q->items[order[i]].need = 2;
    free(order);

    if (out) {
        resume(q, out);
        q->out_path = xstrdup(out);
        q->fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (q->fd < 0) die_errno("label: cannot open %s", out);
    }
    return q;
}

int label_queue_add(LabelQueue *q, const cJSON *prompt, const cJSON *responses) {
    LabelItem it;
    if (!make_item(prompt, responses, &it)) return -1;
    int i = find_item(q, it.key);
    if (i >= 0) {
        free_item(&it);
        return i;
    }
    append_item(q, &it);
    return q->n - 1;
}

void label_queue_close(LabelQueue *q) {
    if (!q) return;
    for (int i = 0; i < q->n; i++) free_item(&q->items[i]);
    for (int i = 0; i < q->n_labelers; i++) free(q->labelers[i]);
    if (q->fd >= 0 && (fsync(q->fd) != 0 || close(q->fd) != 0))
        warn("label: closing %s: %s", q->out_path, strerror(errno));
    free(q->labelers);
    free(q->items);
    free(q->table);
    free(q->out_path);
    free(q);
}

int label_queue_size(const LabelQueue *q) { return q->n; }
const LabelItem *label_queue_item(const LabelQueue *q, int i) { return &q->items[i]; }

static int held(const LabelQueue *q, const LabelItem *it, double now) {
    return it->held_by >= 0 && now - it->held_since < q->o.lease;
}

int label_queue_next(LabelQueue *q, const char *labeler, double now) {
    int id = labeler_id(q, labeler);
    for (int i = 0; i < q->n; i++)
        if (q->items[i].held_by == id && held(q, &q->items[i], now)) return i;
    /* in a stream a program waits on every prompt: one this labeler skipped comes back once nothing else is left */
    for (int pass = 0; pass < 1 + q->o.stream; pass++)
        for (int i = 0; i < q->n; i++) {
            LabelItem *it = &q->items[i];
            if (it->n_ranked >= it->need || held(q, it, now) || has(it->ranked_by, it->n_ranked, id) ||
                (pass == 0 && has(it->skipped_by, it->n_skipped, id)))
                continue;
            it->held_by = id;
            it->held_since = now;
            return i;
        }
    return -1;
}

/* The ranking as written: each index of 0..k-1 once, a tie group as a list
 * (a group of one as the plain index). NULL, with a reason, otherwise. */
static cJSON *checked_ranking(const cJSON *ranking, int k, char *err, size_t err_len) {
    if (!cJSON_IsArray(ranking)) {
        snprintf(err, err_len, "\"ranking\" must be a list of answer indices, best first");
        return NULL;
    }
    int *seen = xcalloc((size_t)k, sizeof(int)), count = 0;
    cJSON *out = cJSON_CreateArray();
    const cJSON *entry;
    cJSON_ArrayForEach(entry, ranking) {
        int n = cJSON_IsArray(entry) ? cJSON_GetArraySize(entry) : 1;
        if (n == 0) goto bad;
        cJSON *group = cJSON_CreateArray();
        for (int j = 0; j < n; j++) {
            const cJSON *v = cJSON_IsArray(entry) ? cJSON_GetArrayItem(entry, j) : entry;
            double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
            if (d < 0 || d >= k || d != (int)d || seen[(int)d]) {
                cJSON_Delete(group);
                goto bad;
            }
            seen[(int)d] = 1;
            count++;
            cJSON_AddItemToArray(group, cJSON_CreateNumber(d));
        }
        if (n == 1) {
            cJSON_AddItemToArray(out, cJSON_CreateNumber(cJSON_GetArrayItem(group, 0)->valuedouble));
            cJSON_Delete(group);
        } else {
            cJSON_AddItemToArray(out, group);
        }
    }
    if (count != k) goto bad;
    free(seen);
    return out;
bad:
    snprintf(err, err_len, "\"ranking\" must hold each answer index 0..%d once (a list for tied answers)", k - 1);
    free(seen);
    cJSON_Delete(out);
    return NULL;
}

/* Appends one line with a single write(2) on an O_APPEND descriptor (the
 * kernel places it whole at the end, even with another writer), then
 * fsyncs. On failure the file is cut back to where it was. */
static int append_line(LabelQueue *q, const char *line) {
    if (q->fd < 0) return 0; /* no file: the rankings go to the program asking for them */
    struct stat st;
    off_t before = fstat(q->fd, &st) == 0 ? st.st_size : -1;
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t w = write(q->fd, line + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (done == len && fsync(q->fd) == 0) return 0;
    warn("label: writing %s: %s", q->out_path, strerror(errno));
    if (before >= 0 && ftruncate(q->fd, before) != 0) warn("label: cutting %s back: %s", q->out_path, strerror(errno));
    return -1;
}

int label_queue_record(LabelQueue *q, int i, const char *labeler, const cJSON *ranking, int all_bad, double now,
                       char *err, size_t err_len) {
    LabelItem *it = &q->items[i];
    int id = labeler_id(q, labeler);
    if (has(it->ranked_by, it->n_ranked, id)) {
        snprintf(err, err_len, "%s has already ranked this prompt", labeler);
        return 409;
    }
    cJSON *order;
    if (all_bad) {
        cJSON *group = cJSON_CreateArray();
        for (int j = 0; j < it->k; j++) cJSON_AddItemToArray(group, cJSON_CreateNumber(j));
        order = cJSON_CreateArray();
        cJSON_AddItemToArray(order, group);
    } else if (!(order = checked_ranking(ranking, it->k, err, err_len))) {
        return 400;
    }
    /* the time since the prompt was handed out; 0 when the hold had lapsed and is not theirs any more */
    double seconds = it->held_by == id ? now - it->held_since : 0;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "prompt", cJSON_Duplicate(it->prompt, 1));
    cJSON_AddItemToObject(rec, "responses", cJSON_Duplicate(it->responses, 1));
    cJSON_AddItemToObject(rec, "ranking", order);
    cJSON_AddStringToObject(rec, "labeler", labeler);
    cJSON_AddNumberToObject(rec, "seconds", (double)(long)(seconds * 10 + 0.5) / 10);
    if (all_bad) cJSON_AddTrueToObject(rec, "all_bad");
    char *text = cJSON_PrintUnformatted(rec);
    char *line = xsprintf("%s\n", text);
    int rc = append_line(q, line);
    free(text);
    free(line);
    if (rc == 0 && !it->ranking) it->ranking = cJSON_Duplicate(order, 1);
    cJSON_Delete(rec);
    if (rc != 0) {
        snprintf(err, err_len, "the ranking could not be written to %s", q->out_path);
        return 500;
    }
    add_ranked_by(it, id);
    if (it->held_by == id) it->held_by = -1;
    return 0;
}

void label_queue_skip(LabelQueue *q, int i, const char *labeler) {
    LabelItem *it = &q->items[i];
    int id = labeler_id(q, labeler);
    if (!has(it->skipped_by, it->n_skipped, id)) {
        it->skipped_by = xrealloc(it->skipped_by, sizeof(int) * (size_t)(it->n_skipped + 1));
        it->skipped_by[it->n_skipped++] = id;
    }
    if (it->held_by == id) it->held_by = -1;
}

void label_queue_order(const LabelQueue *q, int i, const char *labeler, int *order) {
    const LabelItem *it = &q->items[i];
    for (int j = 0; j < it->k; j++) order[j] = j;
    Rng rng;
    rng_seed(&rng, q->o.seed ^ fnv1a(labeler) ^ it->check);
    rng_shuffle_ints(&rng, order, it->k);
}

LabelProgress label_queue_progress(const LabelQueue *q, const char *labeler) {
    LabelProgress p = {.prompts = q->n, .left_out = q->left_out};
    int id = -1;
    for (int i = 0; labeler && i < q->n_labelers; i++)
        if (strcmp(q->labelers[i], labeler) == 0) id = i;
    for (int i = 0; i < q->n; i++) {
        const LabelItem *it = &q->items[i];
        p.wanted += it->need;
        p.done += LMF_MIN(it->n_ranked, it->need);
        p.mine += id >= 0 && has(it->ranked_by, it->n_ranked, id);
    }
    return p;
}
