/* json_util.c — see json_util.h. */
#include "json_util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "input_check.h"
#include "util.h"

/* Integers above 2^53 are not exact in a double, which is what cJSON keeps. */
#define JSON_MAX_EXACT_INT 9007199254740992.0

cJSON *json_read_file(const char *path) {
    size_t len;
    char *file = read_file(path, &len);
    size_t bom = utf8_bom_length(file, len); /* an editor on Windows may write one */
    const char *text = file + bom;
    len -= bom;
    /* The input policy (input_check.h): cJSON alone would accept invalid
     * UTF-8, cut a string at \u0000 and keep the first of two equal keys. */
    size_t offset;
    const char *why = json_text_problem(text, len, &offset);
    if (why) die("%s: %s at byte offset %zu", path, why, offset);
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithOpts(text, &end, 1);
    if (!json) {
        int line = 1, col = 1;
        for (const char *p = text; end && p < end; p++) {
            if (*p == '\n') line++, col = 1;
            else col++;
        }
        die("%s:%d:%d: %s", path, line, col, json_parse_failure(text));
    }
    const char *dup = json_duplicate_key(json);
    if (dup) die("%s: key \"%s\" appears twice in one object", path, dup);
    free(file);
    return json;
}

void json_write_file(const char *path, const cJSON *obj) {
    char *text = cJSON_Print(obj);
    if (!text) die("out of memory printing JSON for %s", path);
    AtomicFile af = atomic_open(path);
    fputs(text, af.f);
    fputc('\n', af.f);
    atomic_commit(&af);
    cJSON_free(text);
}

/* The field KEY of OBJ, or NULL when it is absent or null. */
static const cJSON *lookup(const cJSON *obj, const char *key, const char *where) {
    if (!cJSON_IsObject(obj)) die("%s: expected a JSON object (looking for field \"%s\")", where, key);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(item) ? NULL : item;
}

static const cJSON *require(const cJSON *obj, const char *key, const char *where) {
    const cJSON *item = lookup(obj, key, where);
    if (!item) die("%s: field \"%s\" is missing", where, key);
    return item;
}

static double number_value(const cJSON *item, const char *key, const char *where) {
    if (!cJSON_IsNumber(item)) die("%s: field \"%s\" must be a number", where, key);
    return item->valuedouble;
}

static int64_t int64_value(const cJSON *item, const char *key, const char *where) {
    double d = number_value(item, key, where);
    if (d != floor(d) || fabs(d) > JSON_MAX_EXACT_INT)
        die("%s: field \"%s\" must be an integer (got %g)", where, key, d);
    return (int64_t)d;
}

static int int_value(const cJSON *item, const char *key, const char *where) {
    int64_t v = int64_value(item, key, where);
    if (v < INT_MIN || v > INT_MAX) die("%s: field \"%s\" = %lld is out of range", where, key, (long long)v);
    return (int)v;
}

static int bool_value(const cJSON *item, const char *key, const char *where) {
    if (!cJSON_IsBool(item)) die("%s: field \"%s\" must be true or false", where, key);
    return cJSON_IsTrue(item);
}

static const char *string_value(const cJSON *item, const char *key, const char *where) {
    if (!cJSON_IsString(item)) die("%s: field \"%s\" must be a string", where, key);
    return item->valuestring;
}

int json_get_int(const cJSON *obj, const char *key, const char *where) {
    return int_value(require(obj, key, where), key, where);
}

int64_t json_get_int64(const cJSON *obj, const char *key, const char *where) {
    return int64_value(require(obj, key, where), key, where);
}

float json_get_float(const cJSON *obj, const char *key, const char *where) {
    return (float)number_value(require(obj, key, where), key, where);
}

double json_get_double(const cJSON *obj, const char *key, const char *where) {
    return number_value(require(obj, key, where), key, where);
}

int json_get_bool(const cJSON *obj, const char *key, const char *where) {
    return bool_value(require(obj, key, where), key, where);
}

const char *json_get_string(const cJSON *obj, const char *key, const char *where) {
    return string_value(require(obj, key, where), key, where);
}

const cJSON *json_get_object(const cJSON *obj, const char *key, const char *where) {
    const cJSON *item = require(obj, key, where);
    if (!cJSON_IsObject(item)) die("%s: field \"%s\" must be an object", where, key);
    return item;
}

const cJSON *json_get_array(const cJSON *obj, const char *key, const char *where) {
    const cJSON *item = require(obj, key, where);
    if (!cJSON_IsArray(item)) die("%s: field \"%s\" must be an array", where, key);
    return item;
}

int json_opt_int(const cJSON *obj, const char *key, const char *where, int dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? int_value(item, key, where) : dflt;
}

int64_t json_opt_int64(const cJSON *obj, const char *key, const char *where, int64_t dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? int64_value(item, key, where) : dflt;
}

float json_opt_float(const cJSON *obj, const char *key, const char *where, float dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? (float)number_value(item, key, where) : dflt;
}

double json_opt_double(const cJSON *obj, const char *key, const char *where, double dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? number_value(item, key, where) : dflt;
}

int json_opt_bool(const cJSON *obj, const char *key, const char *where, int dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? bool_value(item, key, where) : dflt;
}

const char *json_opt_string(const cJSON *obj, const char *key, const char *where, const char *dflt) {
    const cJSON *item = lookup(obj, key, where);
    return item ? string_value(item, key, where) : dflt;
}

void json_fprint_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            /* Other control characters have no short escape; bytes >= 0x80
             * are UTF-8 and pass through unchanged, as JSON allows. */
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

cJSON *rng_to_json(const Rng *r) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < 4; i++) {
        char hex[24];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->s[i]);
        cJSON_AddItemToArray(a, cJSON_CreateString(hex));
    }
    return a;
}

void rng_from_json(Rng *r, const cJSON *a, const char *where) {
    if (cJSON_GetArraySize(a) != 4) die("%s: a random generator state must hold 4 values", where);
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(v)) die("%s: a random generator state must hold hex strings", where);
        r->s[i] = strtoull(v->valuestring, NULL, 16);
    }
}
