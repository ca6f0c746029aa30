/* jsonl.c — see jsonl.h. */
#include "jsonl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input_check.h"
#include "util.h"
#include "utf8.h"

struct JsonlReader {
    char **paths;
    int n_paths, current; /* current: index of the open file, or n_paths at the end */
    FILE *f;
    int line;
    char *buf;
    size_t cap;
    cJSON *json; /* the last record handed out */
    FILE *stream; /* set by jsonl_open_stream: read instead of paths, never closed here */
};

JsonlReader *jsonl_open_files(const char *const *paths, int n_paths) {
    /* Check every file up front, not after an hour spent on the first. */
    for (int i = 0; i < n_paths; i++)
        if (!file_exists(paths[i])) die("%s: no such file", paths[i]);
    JsonlReader *r = xcalloc(1, sizeof *r);
    r->paths = xmalloc((size_t)(n_paths ? n_paths : 1) * sizeof(char *));
    for (int i = 0; i < n_paths; i++) r->paths[i] = xstrdup(paths[i]);
    r->n_paths = n_paths;
    r->current = -1;
    return r;
}

JsonlReader *jsonl_open(const char *path) { return jsonl_open_files(&path, 1); }

JsonlReader *jsonl_open_stream(FILE *stream, const char *name) {
    JsonlReader *r = jsonl_open_files(NULL, 0);
    r->paths = xrealloc(r->paths, sizeof(char *));
    r->paths[0] = xstrdup(name);
    r->n_paths = 1;
    r->stream = stream;
    return r;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

/* The next line of the current file (its length, NUL bytes included, in
 * *len), moving on to the next file at EOF; NULL after the last one. */
static char *next_line(JsonlReader *r, size_t *len) {
    for (;;) {
        if (!r->f) {
            if (++r->current >= r->n_paths) return NULL;
            r->f = r->stream ? r->stream : xfopen(r->paths[r->current], "rb");
            r->line = 0;
        }
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n >= 0) {
            r->line++;
            /* Editors on Windows may start the file with a UTF-8 byte order mark. */
            size_t bom = r->line == 1 ? utf8_bom_length(r->buf, (size_t)n) : 0;
            *len = (size_t)n - bom;
            return r->buf + bom;
        }
        if (ferror(r->f)) die_errno("cannot read %s", r->paths[r->current]);
        if (!r->stream) fclose(r->f);
        r->f = NULL;
    }
}

int jsonl_next(JsonlReader *r, JsonlRecord *rec) {
    cJSON_Delete(r->json);
    r->json = NULL;
    char *line;
    size_t len = 0;
    /* A line with a NUL byte is not blank, whatever strlen says. */
    while ((line = next_line(r, &len)) && strlen(line) == len && is_blank(line)) {}
    if (!line) return 0;
    rec->path = r->paths[r->current];
    rec->line = r->line;
    /* The input policy (input_check.h) before cJSON, which would accept
     * invalid UTF-8 and cut a string at \u0000. */
    size_t offset;
    const char *why = json_text_problem(line, len, &offset);
    if (why) jsonl_die(rec, "%s (column %zu)", why, offset + 1);
    const char *end = NULL;
    rec->json = r->json = cJSON_ParseWithOpts(line, &end, 1);
    if (!rec->json) jsonl_die(rec, "%s (column %d)", json_parse_failure(line), (int)(end - line) + 1);
    if (!cJSON_IsObject(rec->json)) jsonl_die(rec, "expected a JSON object");
    const char *dup = json_duplicate_key(rec->json);
    if (dup) jsonl_die(rec, "key \"%s\" appears twice in one object", dup);
    return 1;
}

void jsonl_close(JsonlReader *r) {
    if (!r) return;
    if (r->f && !r->stream) fclose(r->f);
    for (int i = 0; i < r->n_paths; i++) free(r->paths[i]);
    free(r->paths);
    free(r->buf);
    cJSON_Delete(r->json);
    free(r);
}

void jsonl_die(const JsonlRecord *rec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vdie_at(rec->path, rec->line, fmt, ap);
}

int jsonl_text_is_blank(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f') s++;
    return *s == 0;
}

/* The field, or NULL when it is absent or null. */
static const cJSON *field_of(const JsonlRecord *rec, const char *field) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rec->json, field);
    return cJSON_IsNull(item) ? NULL : item;
}

static const cJSON *required(const JsonlRecord *rec, const char *field) {
    const cJSON *item = field_of(rec, field);
    if (!item) jsonl_die(rec, "field \"%s\" is missing", field);
    return item;
}

const char *jsonl_get_string(const JsonlRecord *rec, const char *field) {
    const cJSON *item = required(rec, field);
    if (!cJSON_IsString(item)) jsonl_die(rec, "field \"%s\" must be a string", field);
    return item->valuestring;
}

double jsonl_get_number(const JsonlRecord *rec, const char *field) {
    const cJSON *item = required(rec, field);
    if (!cJSON_IsNumber(item)) jsonl_die(rec, "field \"%s\" must be a number", field);
    return item->valuedouble;
}

const cJSON *jsonl_get_array(const JsonlRecord *rec, const char *field) {
    const cJSON *item = required(rec, field);
    if (!cJSON_IsArray(item)) jsonl_die(rec, "field \"%s\" must be an array", field);
    return item;
}

const char *jsonl_opt_string(const JsonlRecord *rec, const char *field) {
    const cJSON *item = field_of(rec, field);
    if (!item) return NULL;
    if (!cJSON_IsString(item)) jsonl_die(rec, "field \"%s\" must be a string", field);
    return item->valuestring;
}

const cJSON *jsonl_opt_array(const JsonlRecord *rec, const char *field) {
    const cJSON *item = field_of(rec, field);
    if (item && !cJSON_IsArray(item)) jsonl_die(rec, "field \"%s\" must be an array", field);
    return item;
}

const char *jsonl_array_string(const JsonlRecord *rec, const char *field, int i) {
    const cJSON *array = jsonl_get_array(rec, field);
    int n = cJSON_GetArraySize(array);
    if (i < 0 || i >= n) jsonl_die(rec, "field \"%s\" has %d elements, element %d is missing", field, n, i);
    const cJSON *item = cJSON_GetArrayItem(array, i);
    if (!cJSON_IsString(item)) jsonl_die(rec, "field \"%s\"[%d] must be a string", field, i);
    return item->valuestring;
}

struct JsonlWriter {
    AtomicFile file;
};

JsonlWriter *jsonl_writer_open(const char *path) {
    JsonlWriter *w = xmalloc(sizeof *w);
    w->file = atomic_open(path);
    return w;
}

/* obj as one line of valid UTF-8: strings holding generated text may end
 * inside a character, and cJSON copies their bytes as they are. JSON's own
 * syntax is ASCII, so mending the printed line mends only its strings. */
static void write_line(FILE *stream, const cJSON *obj, const char *where) {
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) die("out of memory printing a line of %s", where);
    char *valid = utf8_sanitize(text, strlen(text));
    fputs(valid, stream);
    fputc('\n', stream);
    free(valid);
    cJSON_free(text);
}

void jsonl_write(JsonlWriter *w, const cJSON *obj) {
    write_line(w->file.f, obj, w->file.path);
}

void jsonl_print(FILE *stream, const cJSON *obj) {
    write_line(stream, obj, "the output");
    fflush(stream);
}

void jsonl_writer_close(JsonlWriter *w) {
    atomic_commit(&w->file); /* dies if any write failed */
    free(w);
}
