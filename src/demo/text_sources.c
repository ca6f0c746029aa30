/* text_sources.c — see text_sources.h. */
#include "text_sources.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../base/util.h"

static char *run_bible_command(void) {
    FILE *p = popen(BIBLE_COMMAND " 2>/dev/null", "r");
    if (!p) die_errno("cannot run '%s'", BIBLE_COMMAND);
    StrBuf out = {0};
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) strbuf_append_n(&out, chunk, got);
    int status = pclose(p);
    if (status != 0 || out.len == 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            die("the 'bible' command was not found: install the Debian package bible-kjv (or pass --bible FILE)");
        die("'%s' failed (exit status %d): is the Debian package bible-kjv complete?", BIBLE_COMMAND,
            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return strbuf_take(&out);
}

/* Each line is "Ge1:1 In the beginning God created ...": a book abbreviation,
 * chapter:verse, a space, the verse. Consecutive verses of one chapter form
 * one document. */
void bible_load_chapters(const char *dump_file, StrList *chapters) {
    char *text = dump_file ? read_file(dump_file, NULL) : run_bible_command();
    const char *name = dump_file ? dump_file : BIBLE_COMMAND;
    StrBuf chapter = {0};
    char current[64] = "";
    int line_no = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        line_no++;
        if (*line) {
            char *space = strchr(line, ' '), *colon = strchr(line, ':');
            if (!space || !colon || colon > space || colon - line >= (long)sizeof current)
                die("%s:%d: expected \"Book1:1 verse text\" (the output of '%s')", name, line_no, BIBLE_COMMAND);
            *colon = 0; /* line is now the chapter's reference, e.g. "Ge1" */
            if (strcmp(line, current) != 0) {
                if (chapter.len) strlist_take(chapters, strbuf_take(&chapter));
                snprintf(current, sizeof current, "%s", line);
            }
            strbuf_append(&chapter, space + 1);
            strbuf_append_char(&chapter, '\n');
        }
        if (!end) break;
        line = end + 1;
    }
    if (chapter.len) strlist_take(chapters, strbuf_take(&chapter));
    if (chapters->n == 0) die("%s: no verses", name);
    free(text);
}

/* 1 if over a tenth of the bytes are outside ASCII: a file in another script. */
static int mostly_non_ascii(const char *text, size_t len) {
    size_t high = 0;
    for (size_t i = 0; i < len; i++) high += (unsigned char)text[i] >= 0x80;
    return high * 10 > len;
}

/* Appends the entries of one strfile source file. */
static void split_fortunes(const char *text, StrList *fortunes) {
    StrBuf entry = {0};
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len == 1 && line[0] == '%') {
            while (entry.len && (entry.data[entry.len - 1] == '\n' || entry.data[entry.len - 1] == ' '))
                entry.data[--entry.len] = 0;
            if (entry.len) strlist_take(fortunes, strbuf_take(&entry));
        } else {
            size_t trimmed = len;
            while (trimmed && (line[trimmed - 1] == ' ' || line[trimmed - 1] == '\r')) trimmed--;
            strbuf_append_n(&entry, line, trimmed);
            strbuf_append_char(&entry, '\n');
        }
        if (!end) break;
        line = end + 1;
    }
    while (entry.len && entry.data[entry.len - 1] == '\n') entry.data[--entry.len] = 0;
    if (entry.len) strlist_take(fortunes, strbuf_take(&entry));
    strbuf_free(&entry);
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void fortunes_load(const char *dir, StrList *fortunes) {
    DIR *d = opendir(dir);
    if (!d) die("fortunes not found: cannot open %s (install the Debian package fortunes, or pass --fortunes DIR)", dir);
    StrList names = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' || ends_with(n, ".dat") || ends_with(n, ".u8") || strcmp(n, "ascii-art") == 0) continue;
        strlist_add(&names, n);
    }
    closedir(d);
    /* Directory order differs between machines; the corpus must not. */
    qsort(names.items, (size_t)names.n, sizeof(char *), compare_names);
    int files = 0;
    for (int i = 0; i < names.n; i++) {
        char *path = path_join(dir, names.items[i]);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len;
            char *text = read_file(path, &len);
            if (!mostly_non_ascii(text, len)) {
                split_fortunes(text, fortunes);
                files++;
            }
            free(text);
        }
        free(path);
    }
    strlist_free(&names);
    if (files == 0) die("no fortune files in %s (install the Debian package fortunes)", dir);
}

/* One sentence from s up to its end mark (. ! ? : followed by space or the
 * end), white space collapsed, into b; returns where the next one starts. An
 * opening quote or parenthesis is left out, so that a quoted sentence equals
 * the same sentence unquoted. */
static const char *next_sentence(const char *s, StrBuf *b) {
    while (isspace((unsigned char)*s) || *s == '"' || *s == '(') s++;
    int space = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            space = b->len > 0;
            continue;
        }
        if (space) strbuf_append_char(b, ' ');
        space = 0;
        strbuf_append_char(b, *s);
        if (strchr(".!?:", *s) && (!s[1] || isspace((unsigned char)s[1]))) return s + 1;
    }
    return s;
}

void split_sentences(const char *document, StrList *out) {
    for (const char *s = document; *s;) {
        StrBuf b = {0};
        s = next_sentence(s, &b);
        if (b.len) strlist_take(out, strbuf_take(&b));
        strbuf_free(&b);
    }
}

int is_plain_sentence(const char *s, int min_words, int max_words) {
    size_t n = strlen(s);
    if (n < 2 || !isupper((unsigned char)s[0]) || !strchr(".!?", s[n - 1])) return 0;
    int words = 1;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ') words++;
        else if (!isalnum(c) && !strchr(",;'-", c)) return 0;
    }
    return words >= min_words && words <= max_words;
}

