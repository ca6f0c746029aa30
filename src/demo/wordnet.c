/* wordnet.c — see wordnet.h. */
#include "wordnet.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../base/util.h"

enum { NOUN, VERB, ADJ, N_POS };
static const char *const pos_file[N_POS] = {"noun", "verb", "adj"};
static const char pos_letter[N_POS] = {'n', 'v', 'a'};

/* The synsets of one data file, sorted by offset (the files are). */
typedef struct {
    long *offsets;
    char **glosses; /* point into text */
    int n;
    char *text;
} SynsetTable;

/* What the index files and cntlist.rev say about one lemma, per part of speech. */
typedef struct {
    long first_offset[N_POS]; /* -1 if the lemma has no sense in that part of speech */
    long count[N_POS];
} LemmaInfo;

/* Splits off the next space-separated field of *s. */
static char *next_field(char **s) {
    while (**s == ' ') (*s)++;
    char *start = *s;
    while (**s && **s != ' ') (*s)++;
    if (**s) *(*s)++ = 0;
    return start;
}

/* "ready_to_hand(p)" → "ready to hand": adjective position markers dropped. */
static void append_word(StrBuf *b, const char *word) {
    const char *marker = strchr(word, '(');
    size_t n = marker ? (size_t)(marker - word) : strlen(word);
    for (size_t i = 0; i < n; i++) strbuf_append_char(b, word[i] == '_' ? ' ' : word[i]);
}

static void read_data_file(const char *path, SynsetTable *t, StrList *entries) {
    t->text = read_file(path, NULL);
    int cap = 0, line_no = 0;
    for (char *line = t->text; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        line_no++;
        if (line[0] != ' ') { /* lines starting with a space are the licence */
            char *bar = strstr(line, " | ");
            if (!bar) die("%s:%d: no \" | \" before the gloss", path, line_no);
            *bar = 0;
            char *gloss = bar + 3;
            for (size_t n = strlen(gloss); n > 0 && gloss[n - 1] == ' ';) gloss[--n] = 0;

            char *s = line, *endp;
            long offset = strtol(next_field(&s), &endp, 10);
            if (*endp || offset < 0) die("%s:%d: bad synset offset", path, line_no);
            if (t->n > 0 && offset <= t->offsets[t->n - 1]) die("%s:%d: synset offsets out of order", path, line_no);
            next_field(&s); /* lexicographer file */
            next_field(&s); /* synset type */
            long n_words = strtol(next_field(&s), &endp, 16);
            if (*endp || n_words < 1) die("%s:%d: bad word count", path, line_no);
            StrBuf entry = {0};
            for (long w = 0; w < n_words; w++) {
                char *word = next_field(&s);
                if (!*word) die("%s:%d: fewer words than announced", path, line_no);
                next_field(&s); /* lex_id */
                if (w) strbuf_append(&entry, ", ");
                append_word(&entry, word);
            }
            strbuf_append(&entry, ": ");
            strbuf_append(&entry, gloss);
            strlist_take(entries, strbuf_take(&entry));

            if (t->n == cap) {
                cap = cap ? 2 * cap : 4096;
                t->offsets = xrealloc(t->offsets, (size_t)cap * sizeof(long));
                t->glosses = xrealloc(t->glosses, (size_t)cap * sizeof(char *));
            }
            t->offsets[t->n] = offset;
            t->glosses[t->n++] = gloss;
        }
        if (!end) break;
        line = end + 1;
    }
}

static const char *find_gloss(const SynsetTable *t, long offset) {
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t->offsets[mid] == offset) return t->glosses[mid];
        if (t->offsets[mid] < offset) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static LemmaInfo *lemma_info(StrMap *lemmas, const char *lemma) {
    LemmaInfo *info = strmap_get(lemmas, lemma);
    if (!info) {
        info = xcalloc(1, sizeof(LemmaInfo));
        for (int p = 0; p < N_POS; p++) info->first_offset[p] = -1;
        strmap_put(lemmas, lemma, info);
    }
    return info;
}

/* index.POS: "lemma pos synset_cnt p_cnt [pointer...] sense_cnt tagsense_cnt offset..." */
static void read_index_file(const char *path, int pos, StrMap *lemmas) {
    char *text = read_file(path, NULL);
    int line_no = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        line_no++;
        if (line[0] != ' ') {
            char *s = line, *endp;
            char *lemma = next_field(&s);
            next_field(&s); /* part of speech */
            long n_synsets = strtol(next_field(&s), &endp, 10);
            long n_pointers = strtol(next_field(&s), &endp, 10);
            for (long i = 0; i < n_pointers; i++) next_field(&s);
            next_field(&s); /* sense_cnt */
            next_field(&s); /* tagsense_cnt */
            long first = strtol(next_field(&s), &endp, 10);
            if (n_synsets < 1 || *endp || first < 0) die("%s:%d: bad synset list", path, line_no);
            lemma_info(lemmas, lemma)->first_offset[pos] = first;
        }
        if (!end) break;
        line = end + 1;
    }
    free(text);
}

/* cntlist.rev: "lemma%ss_type:lexfile:lexid:head:headid sense_number tag_count". */
static void read_counts(const char *path, StrMap *lemmas) {
    FILE *f = xfopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int line_no = 0;
    while (getline(&line, &cap, f) >= 0) {
        line_no++;
        char *percent = strchr(line, '%');
        char lemma[256];
        int ss_type;
        long sense, count;
        if (!percent || percent - line >= (long)sizeof lemma ||
            sscanf(percent + 1, "%d:%*s %ld %ld", &ss_type, &sense, &count) != 3)
            die("%s:%d: expected \"lemma%%sense_key sense_number count\"", path, line_no);
        memcpy(lemma, line, (size_t)(percent - line));
        lemma[percent - line] = 0;
        /* ss_type 1 noun, 2 verb, 3 adjective, 5 adjective satellite; adverbs (4) are left out. */
        int pos = ss_type == 1 ? NOUN : ss_type == 2 ? VERB : ss_type == 3 || ss_type == 5 ? ADJ : -1;
        LemmaInfo *info = pos >= 0 ? strmap_get(lemmas, lemma) : NULL;
        if (info) info->count[pos] += count;
    }
    free(line);
    fclose(f);
}

char *wordnet_short_definition(const char *gloss) {
    StrBuf b = {0};
    int depth = 0, pending_space = 0;
    for (const char *c = gloss; *c; c++) {
        if (*c == '(') depth++;
        else if (*c == ')' && depth > 0) depth--;
        else if (depth == 0 && *c == ';') break;
        else if (depth == 0 && isspace((unsigned char)*c)) pending_space = b.len > 0;
        else if (depth == 0) {
            if (pending_space) strbuf_append_char(&b, ' ');
            pending_space = 0;
            strbuf_append_char(&b, *c);
        }
    }
    return strbuf_take(&b);
}

static int count_words(const char *s) {
    int n = 0;
    for (const char *c = s; *c; c++)
        if (!isspace((unsigned char)*c) && (c == s || isspace((unsigned char)c[-1]))) n++;
    return n;
}

static int by_count_then_lemma(const void *a, const void *b) {
    const WordNetWord *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->lemma, y->lemma);
}

WordNet *wordnet_load(const char *dir) {
    char *probe = path_join(dir, "data.noun");
    if (!file_exists(probe))
        die("WordNet not found: %s is missing (install the Debian package wordnet-base, or pass --wordnet DIR)", probe);
    free(probe);

    WordNet *wn = xcalloc(1, sizeof(WordNet));
    SynsetTable tables[N_POS] = {{0}};
    StrMap lemmas = {0};
    for (int p = 0; p < N_POS; p++) {
        char *data = xsprintf("%s/data.%s", dir, pos_file[p]), *index = xsprintf("%s/index.%s", dir, pos_file[p]);
        read_data_file(data, &tables[p], &wn->entries);
        read_index_file(index, p, &lemmas);
        free(data);
        free(index);
    }
    char *counts = path_join(dir, "cntlist.rev");
    read_counts(counts, &lemmas);
    free(counts);

    wn->words = xmalloc((lemmas.len + 1) * sizeof(WordNetWord));
    for (size_t i = 0; i < lemmas.cap; i++) {
        LemmaInfo *info = lemmas.values[i];
        if (!info) continue;
        int best = -1; /* commonest part of speech; ties go to noun, then verb */
        for (int p = 0; p < N_POS; p++)
            if (info->first_offset[p] >= 0 && info->count[p] > 0 && (best < 0 || info->count[p] > info->count[best]))
                best = p;
        if (best >= 0) {
            const char *gloss = find_gloss(&tables[best], info->first_offset[best]);
            if (!gloss)
                die("%s/index.%s: \"%s\" names synset %ld, which data.%s lacks", dir, pos_file[best], lemmas.keys[i],
                    info->first_offset[best], pos_file[best]);
            WordNetWord *w = &wn->words[wn->n_words++];
            *w = (WordNetWord){.lemma = xstrdup(lemmas.keys[i]), .pos = pos_letter[best], .count = info->count[best],
                               .definition = wordnet_short_definition(gloss)};
            w->definition_words = count_words(w->definition);
        }
        free(info);
    }
    qsort(wn->words, (size_t)wn->n_words, sizeof(WordNetWord), by_count_then_lemma);
    strmap_free(&lemmas);
    for (int p = 0; p < N_POS; p++) {
        free(tables[p].offsets);
        free(tables[p].glosses);
        free(tables[p].text);
    }
    return wn;
}

void wordnet_free(WordNet *wn) {
    if (!wn) return;
    for (int i = 0; i < wn->n_words; i++) {
        free(wn->words[i].lemma);
        free(wn->words[i].definition);
    }
    free(wn->words);
    strlist_free(&wn->entries);
    free(wn);
}
