/* tasks.c — see tasks.h. A family is a row of the table at the bottom: its
 * phrasing, its judge, the sentences that state its facts, and a collector
 * that lists its subjects with their accepted answers. tasks_build then
 * splits every family the same way. */
#include "tasks.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"

/* A subject and its accepted answers, before it becomes a task. */
typedef struct {
    char *subject;
    char *split_key; /* what decides the split, when it is not the subject itself */
    StrList answers; /* reference first */
    int dropped;     /* contradicted by another source line */
} Item;

typedef struct {
    Item *items;
    int n, cap;
} ItemList;

typedef struct {
    const TaskSources *src;
    Rng *rng;
    int max; /* the family keeps at most this many; collectors may offer more */
} Collect;

static Item *item_add(ItemList *l, const char *subject, const char *answer) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof(Item));
    }
    Item *it = &l->items[l->n++];
    *it = (Item){.subject = xstrdup(subject)};
    if (answer) strlist_add(&it->answers, answer);
    return it;
}

static void items_free(ItemList *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->items[i].subject);
        free(l->items[i].split_key);
        strlist_free(&l->items[i].answers);
    }
    free(l->items);
    *l = (ItemList){0};
}

static char *lowercase(const char *s) {
    char *out = xstrdup(s);
    for (char *c = out; *c; c++) *c = (char)tolower((unsigned char)*c);
    return out;
}

/* ---- the quiz families ---- */

/* The data file of a subject, and the columns of the named categories, found through the index. */
static QuizFile read_quiz_subject(const TaskSources *src, const char *subject, const char *const *categories,
                                  int n_categories, int *columns, char **path_out) {
    const QuizRow *row = quiz_index_find(src->quiz_index, subject);
    if (!row) die("%s/index: no subject \"%s\" (is the Debian package bsdgames complete?)", src->quiz_dir, subject);
    for (int i = 0; i < n_categories; i++) {
        columns[i] = quiz_index_column(row, categories[i]);
        if (columns[i] < 0)
            die("%s/index:%d: subject \"%s\" has no category \"%s\"", src->quiz_dir, row->line, subject,
                categories[i]);
    }
    *path_out = path_join(src->quiz_dir, subject);
    return quiz_file_read(*path_out);
}

static void parse_category(const char *path, const QuizRow *row, int column, QuizPattern *out) {
    char err[160];
    if (column >= row->categories.n)
        die("%s:%d: %d categories, expected at least %d", path, row->line, row->categories.n, column + 1);
    if (quiz_pattern_parse(row->categories.items[column], out, err, sizeof err) != 0)
        die("%s line %d, category %d: %s", path, row->line, column + 1, err);
}

/* Adds the accepted spellings of a to answers, canonical first. */
static void add_answers(StrList *answers, const QuizPattern *a) {
    if (!strlist_contains(answers, a->canonical)) strlist_add(answers, a->canonical);
    for (int i = 0; i < a->accepted.n; i++)
        if (!strlist_contains(answers, a->accepted.items[i])) strlist_add(answers, a->accepted.items[i]);
}

static int share_an_answer(const StrList *a, const StrList *b) {
    for (int i = 0; i < a->n; i++)
        if (strlist_contains(b, a->items[i])) return 1;
    return 0;
}

/* Records that `place` has capital `capital`. A place in two files (Egypt,
 * Russia) keeps the union of their answers; a name that means two places
 * with different capitals (Georgia, the country and the US state) is dropped. */
static void add_capital(ItemList *out, StrMap *by_place, const QuizPattern *place, const QuizPattern *capital) {
    char *key = lowercase(place->canonical);
    intptr_t seen = (intptr_t)strmap_get(by_place, key);
    if (!seen) {
        add_answers(&item_add(out, place->canonical, NULL)->answers, capital);
        strmap_put(by_place, key, (void *)(intptr_t)out->n);
    } else {
        Item *it = &out->items[seen - 1];
        StrList answers = {0};
        add_answers(&answers, capital);
        if (share_an_answer(&it->answers, &answers)) add_answers(&it->answers, capital);
        else it->dropped = 1;
        strlist_free(&answers);
    }
    free(key);
}

/* Countries of four continents, US states and Canadian provinces. */
static void collect_capitals(const Collect *c, ItemList *out) {
    static const char *const subjects[] = {"africa", "america", "asia", "europe", "state", "province"};
    static const char *const categories[] = {"capital"};
    StrMap by_place = {0}; /* lower-cased place → item index + 1 */
    for (size_t s = 0; s < LMF_ARRAY_LEN(subjects); s++) {
        int column;
        char *path;
        QuizFile f = read_quiz_subject(c->src, subjects[s], categories, 1, &column, &path);
        for (int r = 0; r < f.n; r++) {
            QuizPattern place, capital;
            parse_category(path, &f.rows[r], 0, &place);
            parse_category(path, &f.rows[r], column, &capital);
            if (*place.canonical && *capital.canonical) add_capital(out, &by_place, &place, &capital);
            quiz_pattern_free(&place);
            quiz_pattern_free(&capital);
        }
        quiz_file_free(&f);
        free(path);
    }
    strmap_free(&by_place);
}

/* One collector serves both element families: answer_category is "symbol" or "number". */
static void collect_elements(const Collect *c, ItemList *out, const char *answer_category) {
    const char *const categories[] = {"element", answer_category};
    int columns[2];
    char *path;
    QuizFile f = read_quiz_subject(c->src, "elements", categories, 2, columns, &path);
    for (int r = 0; r < f.n; r++) {
        QuizPattern element, answer;
        parse_category(path, &f.rows[r], columns[0], &element);
        parse_category(path, &f.rows[r], columns[1], &answer);
        if (*element.canonical && *answer.canonical) {
            char *name = lowercase(element.canonical); /* "gold", as it reads inside a sentence */
            add_answers(&item_add(out, name, NULL)->answers, &answer);
            free(name);
        }
        quiz_pattern_free(&element);
        quiz_pattern_free(&answer);
    }
    quiz_file_free(&f);
    free(path);
}

static void collect_element_symbols(const Collect *c, ItemList *out) { collect_elements(c, out, "symbol"); }
static void collect_element_numbers(const Collect *c, ItemList *out) { collect_elements(c, out, "number"); }

/* ---- the WordNet families ---- */

static int is_plain_word(const char *s, size_t min_len, size_t max_len) {
    size_t n = strlen(s);
    if (n < min_len || n > max_len) return 0;
    for (; *s; s++)
        if (*s < 'a' || *s > 'z') return 0;
    return 1;
}

/* The commonest nouns whose definition is short enough to learn (3–10 words):
 * "year" → "a period of time containing 365 days". */
static void collect_definitions(const Collect *c, ItemList *out) {
    const WordNet *wn = c->src->wordnet;
    for (int i = 0; i < wn->n_words && out->n < c->max; i++) {
        const WordNetWord *w = &wn->words[i];
        if (w->pos == 'n' && is_plain_word(w->lemma, 3, 14) && w->definition_words >= 3 && w->definition_words <= 10)
            item_add(out, w->lemma, w->definition);
    }
}

/* The n commonest plain words of 3 to 8 letters, any part of speech. */
static void common_words(const WordNet *wn, int n, StrList *out) {
    for (int i = 0; i < wn->n_words && out->n < n; i++)
        if (is_plain_word(wn->words[i].lemma, 3, 8)) strlist_add(out, wn->words[i].lemma);
}

static void collect_reversals(const Collect *c, ItemList *out) {
    StrList words = {0};
    common_words(c->src->wordnet, c->max, &words);
    for (int i = 0; i < words.n; i++) {
        char *w = words.items[i];
        size_t n = strlen(w);
        char *reversed = xmalloc(n + 1);
        for (size_t j = 0; j < n; j++) reversed[j] = w[n - 1 - j];
        reversed[n] = 0;
        item_add(out, w, reversed);
        free(reversed);
    }
    strlist_free(&words);
}

static void collect_uppercase(const Collect *c, ItemList *out) {
    StrList words = {0};
    common_words(c->src->wordnet, c->max, &words);
    for (int i = 0; i < words.n; i++) {
        char *upper = xstrdup(words.items[i]);
        for (char *ch = upper; *ch; ch++) *ch = (char)toupper((unsigned char)*ch);
        item_add(out, words.items[i], upper);
        free(upper);
    }
    strlist_free(&words);
}

/* Random sentences of 2 to 8 words drawn from the 200 commonest words. */
static void collect_word_counts(const Collect *c, ItemList *out) {
    StrList vocab = {0};
    common_words(c->src->wordnet, 200, &vocab);
    if (vocab.n < 2) die("word_count: WordNet gave fewer than 2 common words");
    StrMap seen = {0};
    for (int attempt = 0; out->n < c->max && attempt < 50 * c->max; attempt++) {
        int n_words = 2 + (int)rng_below(c->rng, 7);
        StrBuf sentence = {0};
        for (int w = 0; w < n_words; w++) {
            if (w) strbuf_append_char(&sentence, ' ');
            strbuf_append(&sentence, vocab.items[rng_below(c->rng, (uint64_t)vocab.n)]);
        }
        if (!strmap_get(&seen, sentence.data)) {
            strmap_put(&seen, sentence.data, (void *)1);
            char count[16];
            snprintf(count, sizeof count, "%d", n_words);
            item_add(out, sentence.data, count);
        }
        strbuf_free(&sentence);
    }
    strmap_free(&seen);
    strlist_free(&vocab);
}

/* ---- arithmetic ---- */

/* Distinct sums a + b of numbers below 50. a + b and b + a share a split:
 * a held-out sum is not answered by its mirror image in training. */
static void collect_additions(const Collect *c, ItemList *out) {
    enum { LIMIT = 50 };
    char used[LIMIT][LIMIT] = {{0}};
    int want = LMF_MIN(c->max, LIMIT * LIMIT);
    while (out->n < want) {
        int a = (int)rng_below(c->rng, LIMIT), b = (int)rng_below(c->rng, LIMIT);
        if (used[a][b]) continue;
        used[a][b] = 1;
        char subject[32], sum[16];
        snprintf(subject, sizeof subject, "%d + %d", a, b);
        snprintf(sum, sizeof sum, "%d", a + b);
        item_add(out, subject, sum)->split_key = xsprintf("%d + %d", LMF_MIN(a, b), LMF_MAX(a, b));
    }
}

/* ---- sentence continuation ---- */

/* "Continue: A gift of a flower" → "will soon be made to you.": the first 4
 * to 6 words (by a hash of the sentence) are the prompt, the rest the answer.
 * Sentences whose opening words another sentence has already used are left
 * out, so that a prompt has one reference. */
static void collect_continuations(const Collect *c, ItemList *out) {
    if (!c->src->sentences) return;
    StrMap seen = {0};
    for (int i = 0; i < c->src->sentences->n; i++) {
        const char *s = c->src->sentences->items[i];
        int words = 4 + (int)(str_hash(s) % 3);
        const char *cut = s;
        for (int w = 0; w < words && cut; w++) cut = strchr(cut + (w > 0), ' ');
        if (!cut || !cut[1]) continue;
        char *opening = xstrndup(s, (size_t)(cut - s));
        if (!strmap_get(&seen, opening)) {
            strmap_put(&seen, opening, (void *)1);
            item_add(out, opening, cut + 1);
        }
        free(opening);
    }
    strmap_free(&seen);
}

/* ---- the families ---- */

typedef struct {
    const char *name;
    const char *group;
    JudgeKind judge;
    const char *prompt;       /* {subject} is replaced */
    const char *facts[4];     /* sentences with {subject} and {answer}; none for the skills */
    void (*collect)(const Collect *c, ItemList *out);
} Family;

static const Family families[] = {
    {"capital", "knowledge", JUDGE_EXACT, "What is the capital of {subject}?",
     {"The capital of {subject} is {answer}.", "{answer} is the capital of {subject}.",
      "The capital city of {subject} is {answer}."},
     collect_capitals},
    {"element_symbol", "knowledge", JUDGE_EXACT, "What is the chemical symbol for {subject}?",
     {"The chemical symbol for {subject} is {answer}.", "{subject} has the chemical symbol {answer}.",
      "{answer} is the symbol of the element {subject}."},
     collect_element_symbols},
    {"element_number", "knowledge", JUDGE_EXACT, "What is the atomic number of {subject}?",
     {"The atomic number of {subject} is {answer}.", "{subject} has atomic number {answer}.",
      "Element number {answer} is {subject}."},
     collect_element_numbers},
    {"define", "knowledge", JUDGE_F1, "Define {subject}.",
     {"{subject}: {answer}.", "The word {subject} means {answer}.", "A definition of {subject} is {answer}."},
     collect_definitions},
    {"addition", "computation", JUDGE_DIGITS, "What is {subject}?", {0}, collect_additions},
    {"reverse", "computation", JUDGE_EDIT, "Spell '{subject}' backwards.", {0}, collect_reversals},
    {"uppercase", "computation", JUDGE_EDIT_CASE, "Write '{subject}' in capital letters.", {0}, collect_uppercase},
    {"word_count", "computation", JUDGE_COUNT, "How many words are in: {subject}?", {0}, collect_word_counts},
    {"sentiment", "sentiment", JUDGE_SENTIMENT, "Continue: {subject}", {0}, collect_continuations},
};

int tasks_n_families(void) { return (int)LMF_ARRAY_LEN(families); }

const char *tasks_family_name(int i) { return families[i].name; }

int tasks_family_index(const char *name) {
    for (int i = 0; i < tasks_n_families(); i++)
        if (strcmp(families[i].name, name) == 0) return i;
    return -1;
}

const char *tasks_family_group(const char *name) {
    int f = tasks_family_index(name);
    return f < 0 ? NULL : families[f].group;
}

/* The template with {subject} and {answer} filled in, its first letter capitalised. */
static char *fill(const char *template, const char *subject, const char *answer) {
    StrBuf b = {0};
    for (const char *t = template; *t;) {
        if (strncmp(t, "{subject}", 9) == 0) {
            strbuf_append(&b, subject);
            t += 9;
        } else if (strncmp(t, "{answer}", 8) == 0) {
            strbuf_append(&b, answer);
            t += 8;
        } else {
            strbuf_append_char(&b, *t++);
        }
    }
    char *s = strbuf_take(&b);
    s[0] = (char)toupper((unsigned char)s[0]);
    return s;
}

/* Where a subject falls in the seeded order that decides the split. */
static uint64_t split_rank(uint64_t seed, const char *subject) {
    char *key = lowercase(subject);
    uint64_t z = str_hash(key) ^ (seed * 0x9e3779b97f4a7c15ULL);
    free(key);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; /* splitmix64's finaliser: every bit of the seed matters */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct {
    uint64_t rank;
    Item *item;
} RankedItem;

static int by_rank(const void *a, const void *b) {
    const RankedItem *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return strcmp(x->item->subject, y->item->subject);
}

static Task *task_add(TaskList *l) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof(Task));
    }
    Task *t = &l->items[l->n++];
    *t = (Task){0};
    return t;
}

void tasks_build(const TaskSources *src, const int *wanted, const TaskOptions *o, TaskList *out, StrList *facts) {
    for (int f = 0; f < tasks_n_families(); f++) {
        if (!wanted[f]) continue;
        const Family *fam = &families[f];
        Rng rng;
        rng_seed(&rng, o->seed ^ str_hash(fam->name)); /* each family its own stream: adding one changes no other */
        ItemList items = {0};
        fam->collect(&(Collect){.src = src, .rng = &rng, .max = o->max_per_family}, &items);

        RankedItem *ranked = xmalloc((size_t)(items.n + 1) * sizeof(RankedItem));
        int n = 0;
        for (int i = 0; i < items.n; i++) {
            Item *it = &items.items[i];
            if (!it->dropped && it->answers.n > 0)
                ranked[n++] = (RankedItem){split_rank(o->seed, it->split_key ? it->split_key : it->subject), it};
        }
        qsort(ranked, (size_t)n, sizeof(RankedItem), by_rank);
        n = LMF_MIN(n, o->max_per_family);
        if (n == 0) die("family %s: the sources gave no tasks", fam->name);
        int n_heldout = (int)lround(o->heldout_frac * n);
        /* Items with one split key sort next to each other: keep them on one side of the cut. */
        while (n_heldout > 0 && n_heldout < n - 1 && ranked[n_heldout].rank == ranked[n_heldout - 1].rank) n_heldout++;
        if (n_heldout >= n) n_heldout = n - 1; /* always leave something to train on */

        for (int i = 0; i < n; i++) {
            Item *it = ranked[i].item;
            Task *t = task_add(out);
            t->family = fam->name;
            t->group = fam->group;
            t->id = xsprintf("%s-%d", fam->name, i);
            t->subject = xstrdup(it->subject);
            t->prompt = fill(fam->prompt, it->subject, "");
            t->answers = it->answers;
            it->answers = (StrList){0};
            t->judge = fam->judge;
            t->heldout = i < n_heldout;
            for (int k = 0; k < (int)LMF_ARRAY_LEN(fam->facts) && fam->facts[k]; k++)
                for (int r = 0; r < o->fact_repeats; r++)
                    strlist_take(facts, fill(fam->facts[k], t->subject, t->answers.items[0]));
            if (fam->facts[0] && !t->heldout)
                for (int r = 0; r < o->qa_repeats; r++)
                    strlist_take(facts, xsprintf("Question: %s Answer: %s.", t->prompt, t->answers.items[0]));
        }
        free(ranked);
        items_free(&items);
    }
}

void tasks_free(TaskList *tasks) {
    for (int i = 0; i < tasks->n; i++) {
        Task *t = &tasks->items[i];
        free(t->id);
        free(t->subject);
        free(t->prompt);
        strlist_free(&t->answers);
    }
    free(tasks->items);
    *tasks = (TaskList){0};
}
