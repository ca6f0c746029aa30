/* json_util.h — reading and writing small JSON files (config.json,
 * trainer_state.json, recipes) with errors that name the file and the field.
 *
 * Every getter takes `where`, the name used in error messages: usually the
 * file's path, or "config.json: rope_scaling" for a nested object. A getter
 * dies with "WHERE: field "KEY" is missing" / "must be an integer" etc.
 * The optional variants (json_opt_*) return the default when the field is
 * absent or null (Hugging Face configs write "sliding_window": null), but
 * still die when it is present with the wrong type. */
#ifndef LMF_JSON_UTIL_H
#define LMF_JSON_UTIL_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

/* Parses a whole file; dies with "PATH:LINE:COL: not valid JSON" on error.
 * Free with cJSON_Delete. */
cJSON *json_read_file(const char *path);
/* Writes obj pretty-printed, with a final newline, atomically. */
void json_write_file(const char *path, const cJSON *obj);

int json_get_int(const cJSON *obj, const char *key, const char *where);
int64_t json_get_int64(const cJSON *obj, const char *key, const char *where);
float json_get_float(const cJSON *obj, const char *key, const char *where);
double json_get_double(const cJSON *obj, const char *key, const char *where);
int json_get_bool(const cJSON *obj, const char *key, const char *where);
const char *json_get_string(const cJSON *obj, const char *key, const char *where);
/* Dies unless the field is an object / an array. */
const cJSON *json_get_object(const cJSON *obj, const char *key, const char *where);
const cJSON *json_get_array(const cJSON *obj, const char *key, const char *where);

int json_opt_int(const cJSON *obj, const char *key, const char *where, int dflt);
int64_t json_opt_int64(const cJSON *obj, const char *key, const char *where, int64_t dflt);
float json_opt_float(const cJSON *obj, const char *key, const char *where, float dflt);
double json_opt_double(const cJSON *obj, const char *key, const char *where, double dflt);
int json_opt_bool(const cJSON *obj, const char *key, const char *where, int dflt);
const char *json_opt_string(const cJSON *obj, const char *key, const char *where, const char *dflt);

/* Writes s as a JSON string literal (quotes and escapes included), for
 * files written line by line without building a cJSON tree. */
void json_fprint_string(FILE *f, const char *s);

/* A random generator's state as 4 hex strings (JSON numbers cannot hold
 * 64-bit values exactly), for exact resume. */
#include "rng.h"
cJSON *rng_to_json(const Rng *r);
void rng_from_json(Rng *r, const cJSON *a, const char *where);

#endif
