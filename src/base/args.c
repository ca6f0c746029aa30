/* args.c — see args.h. */
#include "args.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void print_default(const Option *o) {
    switch (o->kind) {
    case OPT_KIND_INT: printf(" (default %d)", *(int *)o->value); break;
    case OPT_KIND_LONG: printf(" (default %ld)", *(long *)o->value); break;
    case OPT_KIND_FLOAT: printf(" (default %g)", (double)*(float *)o->value); break;
    case OPT_KIND_STR:
        if (*(const char **)o->value) printf(" (default %s)", *(const char **)o->value);
        break;
    case OPT_KIND_FLAG: printf(" (default %s)", *(int *)o->value ? "on" : "off"); break;
    case OPT_KIND_LIST: printf(" (repeatable)"); break;
    case OPT_KIND_ALIAS:
    case OPT_KIND_END: break;
    }
}

void args_print_help(const char *command, const char *usage, const char *description, const Option *opts) {
    int has_usage = usage && *usage;
    printf("usage: lmforge %s [options]%s%s\n\n%s\n\noptions:\n", command, has_usage ? " " : "", has_usage ? usage : "",
           description);
    int n_aliases = 0;
    for (const Option *o = opts; o->kind != OPT_KIND_END; o++) {
        if (o->kind == OPT_KIND_ALIAS) {
            n_aliases++;
            continue;
        }
        char left[64];
        const char *arg = o->kind == OPT_KIND_INT || o->kind == OPT_KIND_LONG   ? " N"
                          : o->kind == OPT_KIND_FLOAT                           ? " X"
                          : o->kind == OPT_KIND_STR || o->kind == OPT_KIND_LIST ? " S"
                                                                                : "";
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        printf("  %-26s %s", left, o->help);
        print_default(o);
        printf("\n");
    }
    printf("  %-26s %s (default %d: OMP_NUM_THREADS, else the cores available)\n", "--threads N",
           "compute threads, for this command and the ones it starts", omp_get_max_threads());
    printf("  %-26s %s\n", "--help", "show this help and exit");
    if (!n_aliases) return;
    printf("\ndeprecated spellings, accepted for one more release:\n");
    for (const Option *o = opts; o->kind != OPT_KIND_END; o++)
        if (o->kind == OPT_KIND_ALIAS) printf("  --%-24s now --%s\n", o->name, o->help);
}

/* --threads N, which every command takes: OpenMP's thread count (OpenBLAS's
 * OpenMP build follows it at each call) and OMP_NUM_THREADS, so that the
 * commands a pipeline or a reward-model refresh starts use as many. */
static void set_threads(const char *command, const char *v) {
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*v == 0 || *end || errno || n < 1 || n > 4096)
        die("%s: --threads expects a count of threads from 1 to 4096, got '%s'", command, v);
    omp_set_num_threads((int)n);
    char text[16];
    snprintf(text, sizeof text, "%ld", n);
    setenv("OMP_NUM_THREADS", text, 1);
}

static void set_value(const char *command, const Option *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_KIND_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < INT_MIN || x > INT_MAX)
            die("%s: --%s expects an integer, got '%s'", command, o->name, v);
        *(int *)o->value = (int)x;
        break;
    }
    case OPT_KIND_LONG: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno) die("%s: --%s expects an integer, got '%s'", command, o->name, v);
        *(long *)o->value = x;
        break;
    }
    case OPT_KIND_FLOAT: {
        float x = strtof(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x))
            die("%s: --%s expects a number, got '%s'", command, o->name, v);
        *(float *)o->value = x;
        break;
    }
    case OPT_KIND_STR: *(const char **)o->value = v; break;
    case OPT_KIND_LIST: {
        OptList *list = o->value;
        list->items = xrealloc(list->items, (size_t)(list->n + 1) * sizeof(char *));
        list->items[list->n++] = v;
        break;
    }
    case OPT_KIND_FLAG:
    case OPT_KIND_ALIAS:
    case OPT_KIND_END: break;
    }
}

/* Edits (insertions, deletions, substitutions) between a[0..na) and b: how far a mistyped flag is from a real one. */
static int edit_distance(const char *a, size_t na, const char *b) {
    size_t nb = strlen(b);
    if (na > 64 || nb > 64) return 99;
    int row[65];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int above = row[j], best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[nb];
}

/* Dies on an unknown flag, naming the nearest real one when it is a typo away (at most 2 edits, and fewer
 * than half the name's letters). */
static void die_unknown_option(const char *command, const Option *opts, const char *name, size_t len) {
    const char *nearest = NULL;
    int best = 3;
    static const Option common[] = {{"threads", OPT_KIND_INT, 0, 0}, {"help", OPT_KIND_FLAG, 0, 0}, OPT_END};
    for (const Option *list = opts; list; list = list == opts ? common : NULL)
        for (const Option *o = list; o->kind != OPT_KIND_END; o++) {
            if (o->kind == OPT_KIND_ALIAS) continue; /* suggest the name to use, not a deprecated one */
            int d = edit_distance(name, len, o->name);
            if (d < best && 2 * (size_t)d < strlen(o->name)) best = d, nearest = o->name;
        }
    if (nearest)
        die("%s: unknown option --%.*s; did you mean --%s? (see lmforge %s --help)", command, (int)len, name, nearest,
            command);
    die("%s: unknown option --%.*s (see lmforge %s --help)", command, (int)len, name, command);
}

static cJSON *settings;
static cJSON *aliases; /* {"old name": "new name"} of the last parsed table */

const cJSON *args_settings(void) { return settings; }

const char *args_canonical_name(const char *name) {
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(aliases, name);
    return cJSON_IsString(now) ? now->valuestring : name;
}

static void record_settings(const Option *opts, char **positional, int npos) {
    cJSON_Delete(settings);
    settings = cJSON_CreateObject();
    for (const Option *o = opts; o->kind != OPT_KIND_END; o++) {
        cJSON *v = NULL;
        switch (o->kind) {
        case OPT_KIND_INT: v = cJSON_CreateNumber(*(int *)o->value); break;
        case OPT_KIND_LONG: v = cJSON_CreateNumber((double)*(long *)o->value); break;
        case OPT_KIND_FLOAT: v = cJSON_CreateNumber(*(float *)o->value); break;
        case OPT_KIND_FLAG: v = cJSON_CreateBool(*(int *)o->value); break;
        case OPT_KIND_STR: {
            const char *s = *(const char **)o->value;
            v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            break;
        }
        case OPT_KIND_LIST: {
            const OptList *list = o->value;
            v = cJSON_CreateArray();
            for (int i = 0; i < list->n; i++) cJSON_AddItemToArray(v, cJSON_CreateString(list->items[i]));
            break;
        }
        case OPT_KIND_ALIAS: /* recorded under the name it stands for */
        case OPT_KIND_END: break;
        }
        if (v) cJSON_AddItemToObject(settings, o->name, v);
    }
    cJSON *files = cJSON_CreateArray();
    for (int i = 0; i < npos; i++) cJSON_AddItemToArray(files, cJSON_CreateString(positional[i]));
    cJSON_AddItemToObject(settings, "files", files);
}

/* The row named name[0..len) (an alias row's target), or NULL; *negated for --no-NAME of a flag, *alias the
 * alias row used. */
static const Option *find_option(const char *command, const Option *opts, const char *name, size_t len, int *negated,
                                 const Option **alias) {
    const Option *match = NULL;
    for (const Option *o = opts; o->kind != OPT_KIND_END; o++) {
        const Option *row = o;
        if (o->kind == OPT_KIND_ALIAS) {
            for (row = opts; row->kind != OPT_KIND_END && strcmp(row->name, o->help) != 0; row++) {}
            if (row->kind == OPT_KIND_END || row->kind == OPT_KIND_ALIAS)
                die("%s: the alias --%s names no option --%s", command, o->name, o->help);
        }
        size_t n = strlen(o->name);
        int plain = n == len && strncmp(o->name, name, len) == 0;
        int no = row->kind == OPT_KIND_FLAG && len == n + 3 && strncmp(name, "no-", 3) == 0 &&
                 strncmp(name + 3, o->name, n) == 0;
        if (plain || no) {
            match = row;
            *negated = no;
            *alias = o->kind == OPT_KIND_ALIAS ? o : NULL;
        }
    }
    return match;
}

static void record_aliases(const Option *opts) {
    cJSON_Delete(aliases);
    aliases = cJSON_CreateObject();
    for (const Option *o = opts; o->kind != OPT_KIND_END; o++)
        if (o->kind == OPT_KIND_ALIAS) cJSON_AddStringToObject(aliases, o->name, o->help);
}

int args_parse(const char *command, const char *usage, const char *description, Option *opts, int argc,
               char **argv, char ***positional) {
    char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
    int npos = 0, only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] != '-' || a[2] == 0) {
            if (!only_positional && strcmp(a, "--") == 0) {
                only_positional = 1;
                continue;
            }
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            args_print_help(command, usage, description, opts);
            exit(0);
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 7 && strncmp(name, "threads", 7) == 0) {
            if (!eq && i + 1 >= argc) die("%s: --threads needs a value", command);
            set_threads(command, eq ? eq + 1 : argv[++i]);
            continue;
        }
        int negated = 0;
        const Option *alias = NULL, *match = find_option(command, opts, name, len, &negated, &alias);
        if (!match) die_unknown_option(command, opts, name, len);
        if (alias)
            fprintf(stderr, "lmforge %s: --%s%s is deprecated; use --%s%s\n", command, negated ? "no-" : "", alias->name,
                    negated ? "no-" : "", match->name);
        if (match->kind == OPT_KIND_FLAG) {
            if (eq) die("%s: --%s takes no value", command, match->name);
            *(int *)match->value = !negated;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) die("%s: --%s needs a value", command, match->name);
            v = argv[++i];
        }
        set_value(command, match, v);
    }
    pos[npos] = NULL;
    record_settings(opts, pos, npos);
    record_aliases(opts);
    if (positional) *positional = pos;
    else free(pos);
    return npos;
}
