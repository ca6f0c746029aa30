/* jsonl.h — reading and writing JSON Lines (one JSON value per line) with
 * errors that name the file and the line. */
#ifndef LMF_DEMO_JSONL_H
#define LMF_DEMO_JSONL_H

#include <stdio.h>

#include <cjson/cJSON.h>

typedef struct {
    FILE *f;
    char *name; /* for messages: the path, or "stdin" */
    int line;   /* number of the line last read, 1-based */
    int allow_blank;
    int owns_file; /* opened here, so closed here */
    char *buf;
    size_t cap;
} JsonlReader;

/* Opens a file (dies naming it if it cannot); blank lines are skipped. */
void jsonl_open(JsonlReader *r, const char *path);
/* Reads an already open stream; with allow_blank 0 a blank line is an error. */
void jsonl_from_stream(JsonlReader *r, FILE *f, const char *name, int allow_blank);
/* The next line's JSON object (caller deletes it), or NULL at the end.
 * Dies with "NAME line N: ..." if the line is not a JSON object. */
cJSON *jsonl_next(JsonlReader *r);
/* Closes the file (not a stream it was given). */
void jsonl_close(JsonlReader *r);

/* Writes v on one line. */
void jsonl_write(FILE *f, const cJSON *v);

#endif
