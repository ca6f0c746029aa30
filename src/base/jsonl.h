/* jsonl.h — JSON Lines datasets, one JSON object per line, read with the
 * file name and line number kept for error messages.
 *
 *   JsonlReader *r = jsonl_open("data.jsonl");
 *   JsonlRecord rec;
 *   while (jsonl_next(r, &rec)) {
 *       const char *text = jsonl_get_string(&rec, "text");   // dies: data.jsonl:12: field "text" is missing
 *       ...
 *   }
 *   jsonl_close(r);
 *
 * Blank lines are skipped; a line that is not a JSON object ends the program
 * with "FILE:LINE: ...", and so does one that breaks the input policy
 * (base/input_check.h: invalid UTF-8, NUL or \u0000, a lone surrogate, a key
 * twice, nesting too deep). A null field counts as missing. */
#ifndef LMF_JSONL_H
#define LMF_JSONL_H

#include <cjson/cJSON.h>
#include <stdio.h>

typedef struct {
    const char *path; /* the file this record came from */
    int line;         /* 1-based */
    cJSON *json;      /* an object; valid until the next jsonl_next or jsonl_close */
} JsonlRecord;

typedef struct JsonlReader JsonlReader;
JsonlReader *jsonl_open(const char *path);
/* Reads the files one after another, as one dataset. */
JsonlReader *jsonl_open_files(const char *const *paths, int n_paths);
/* Reads an open stream (stdin, a pipe) named `name` in messages; the stream
 * is not closed by jsonl_close. */
JsonlReader *jsonl_open_stream(FILE *stream, const char *name);
/* Fills rec with the next record; returns 0 at the end of the last file. */
int jsonl_next(JsonlReader *r, JsonlRecord *rec);
void jsonl_close(JsonlReader *r);

/* Prints "lmforge: FILE:LINE: <message>" and exits 1. */
_Noreturn void jsonl_die(const JsonlRecord *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if s is empty or only white space: text that says nothing, which the
 * readers refuse as a prompt or an answer (README: Reliability). */
int jsonl_text_is_blank(const char *s);

/* Die if the field is missing or has another type. */
const char *jsonl_get_string(const JsonlRecord *rec, const char *field);
double jsonl_get_number(const JsonlRecord *rec, const char *field);
const cJSON *jsonl_get_array(const JsonlRecord *rec, const char *field);
/* NULL if the field is missing; die if it has another type. */
const char *jsonl_opt_string(const JsonlRecord *rec, const char *field);
const cJSON *jsonl_opt_array(const JsonlRecord *rec, const char *field);
/* Element i of the array in `field`, which must be a string; errors name it
 * as field[i]. */
const char *jsonl_array_string(const JsonlRecord *rec, const char *field, int i);

/* Writing: one compact JSON object per line (cJSON escapes the strings).
 * The file appears atomically, complete, at jsonl_writer_close. */
typedef struct JsonlWriter JsonlWriter;
JsonlWriter *jsonl_writer_open(const char *path);
void jsonl_write(JsonlWriter *w, const cJSON *obj);
void jsonl_writer_close(JsonlWriter *w);
/* Prints obj as one line on a stream (stdout, a pipe) and flushes it. */
void jsonl_print(FILE *stream, const cJSON *obj);

#endif
