/* jsonl.c — see jsonl.h. */
#include "jsonl.h"

#include <ctype.h>
#include <stdlib.h>

#include "../base/util.h"

void jsonl_open(JsonlReader *r, const char *path) {
    *r = (JsonlReader){.f = xfopen(path, "r"), .name = xstrdup(path), .allow_blank = 1, .owns_file = 1};
}

void jsonl_from_stream(JsonlReader *r, FILE *f, const char *name, int allow_blank) {
    *r = (JsonlReader){.f = f, .name = xstrdup(name), .allow_blank = allow_blank};
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

cJSON *jsonl_next(JsonlReader *r) {
    for (;;) {
        ssize_t len = getline(&r->buf, &r->cap, r->f);
        if (len < 0) {
            if (ferror(r->f)) die_errno("cannot read %s", r->name);
            return NULL;
        }
        r->line++;
        if (is_blank(r->buf)) {
            if (r->allow_blank) continue;
            die("%s line %d: empty line, expected a JSON object", r->name, r->line);
        }
        cJSON *v = cJSON_Parse(r->buf);
        if (!v) die("%s line %d: not valid JSON", r->name, r->line);
        if (!cJSON_IsObject(v)) die("%s line %d: expected a JSON object", r->name, r->line);
        return v;
    }
}

void jsonl_close(JsonlReader *r) {
    if (r->owns_file) fclose(r->f);
    free(r->name);
    free(r->buf);
    *r = (JsonlReader){0};
}

void jsonl_write(FILE *f, const cJSON *v) {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) die("out of memory printing JSON");
    fputs(s, f);
    fputc('\n', f);
    free(s);
}
