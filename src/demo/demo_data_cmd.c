/* demo_data_cmd.c — `lmforge demo-data`: builds the data of the demo pipeline
 * from Debian packages, with nothing downloaded:
 *
 *   DIR/pretrain/train.txt, heldout.txt   Bible chapters, fortunes, WordNet
 *                                         glosses and the tasks' facts as sentences
 *   DIR/tasks/{train,heldout}.jsonl       {"id","family","group","prompt","answer","answers","judge"}
 *   DIR/sft/{train,heldout}.jsonl         {"messages":[user prompt, assistant answer]}
 *   DIR/prompts/{train,heldout}.jsonl     {"prompt","family","group"} for PPO, rejection sampling,
 *                                         evaluation
 *   DIR/prompts/align.jsonl               the training prompts of the --align-groups: the ones
 *                                         whose answers the gold tells apart, for the alignment stages
 *
 * The task files are the gold standard that `lmforge gold` scores against.
 * See src/demo/tasks.h for the families and docs/demo_data.md for the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../base/args.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "corpus.h"
#include "../base/jsonl.h"
#include "tasks.h"
#include "text_sources.h"
#include "wordnet.h"
#include "demo_commands.h"

/* Shares of the natural text in the pretraining corpus (the facts come on top). */
#define BIBLE_WEIGHT 0.40
#define FORTUNES_WEIGHT 0.35
#define WORDNET_WEIGHT 0.25
/* WordNet glosses are short; a document holds this many consecutive (related) ones. */
#define GLOSSES_PER_DOCUMENT 16
/* Fact sentences are shuffled and grouped into paragraphs of this many. */
#define FACTS_PER_PARAGRAPH 8
/* The sentiment family's sentences: short enough that the continuation fits
 * in the demo's 16 new tokens, long enough to leave something to continue. */
#define SENTENCE_MIN_WORDS 8
#define SENTENCE_MAX_WORDS 16

typedef struct {
    const char *out, *families, *bible, *fortunes, *wordnet, *quiz, *align_groups;
    int seed, max_per_family, fact_repeats, qa_repeats;
    float max_pretrain_mb, heldout_frac;
} DemoDataOptions;

/* Parses --families into wanted[family index]. */
static void parse_families(const char *list, int *wanted) {
    if (!list || !*list) {
        for (int i = 0; i < tasks_n_families(); i++) wanted[i] = 1;
        return;
    }
    char *copy = xstrdup(list), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int f = tasks_family_index(name);
        if (f < 0) {
            StrBuf known = {0};
            for (int i = 0; i < tasks_n_families(); i++) {
                if (i) strbuf_append(&known, ", ");
                strbuf_append(&known, tasks_family_name(i));
            }
            die("demo-data: --families: unknown family \"%s\" (known: %s)", name, known.data);
        }
        wanted[f] = 1;
    }
    free(copy);
}

/* A prompts/ line: {"prompt","family","group"}. */
static void print_prompt_line(FILE *f, const Task *t) {
    cJSON *prompt = cJSON_CreateObject();
    cJSON_AddStringToObject(prompt, "prompt", t->prompt);
    cJSON_AddStringToObject(prompt, "family", t->family);
    cJSON_AddStringToObject(prompt, "group", t->group);
    jsonl_print(f, prompt);
    cJSON_Delete(prompt);
}

static void write_task_files(const char *dir, const TaskList *tasks, const int *order, int heldout) {
    const char *split = heldout ? "heldout" : "train";
    char *paths[3] = {xsprintf("%s/tasks/%s.jsonl", dir, split), xsprintf("%s/sft/%s.jsonl", dir, split),
                      xsprintf("%s/prompts/%s.jsonl", dir, split)};
    AtomicFile files[3];
    for (int k = 0; k < 3; k++) files[k] = atomic_open(paths[k]);
    for (int i = 0; i < tasks->n; i++) {
        const Task *t = &tasks->items[order[i]];
        if (t->heldout != heldout) continue;

        cJSON *task = cJSON_CreateObject();
        cJSON_AddStringToObject(task, "id", t->id);
        cJSON_AddStringToObject(task, "family", t->family);
        cJSON_AddStringToObject(task, "group", t->group);
        cJSON_AddStringToObject(task, "prompt", t->prompt);
        cJSON_AddStringToObject(task, "answer", t->answers.items[0]);
        cJSON_AddItemToObject(task, "answers",
                              cJSON_CreateStringArray((const char *const *)t->answers.items, t->answers.n));
        cJSON_AddStringToObject(task, "judge", judge_name(t->judge));
        jsonl_print(files[0].f, task);
        cJSON_Delete(task);

        cJSON *chat = cJSON_CreateObject(), *messages = cJSON_AddArrayToObject(chat, "messages");
        cJSON *user = cJSON_CreateObject(), *assistant = cJSON_CreateObject();
        cJSON_AddStringToObject(user, "role", "user");
        cJSON_AddStringToObject(user, "content", t->prompt);
        cJSON_AddStringToObject(assistant, "role", "assistant");
        cJSON_AddStringToObject(assistant, "content", t->answers.items[0]);
        cJSON_AddItemToArray(messages, user);
        cJSON_AddItemToArray(messages, assistant);
        jsonl_print(files[1].f, chat);
        cJSON_Delete(chat);

        print_prompt_line(files[2].f, t);
    }
    for (int k = 0; k < 3; k++) {
        atomic_commit(&files[k]);
        free(paths[k]);
    }
}

/* A held-out prompt that is also a training prompt would make the split a lie. */
static void check_disjoint(const TaskList *tasks) {
    StrMap train = {0};
    for (int i = 0; i < tasks->n; i++)
        if (!tasks->items[i].heldout) strmap_put(&train, tasks->items[i].prompt, (void *)1);
    for (int i = 0; i < tasks->n; i++)
        if (tasks->items[i].heldout && strmap_get(&train, tasks->items[i].prompt))
            die("demo-data: internal error: \"%s\" is in both splits", tasks->items[i].prompt);
    strmap_free(&train);
}

static void print_task_summary(const char *dir, const TaskList *tasks) {
    printf("%-15s %-10s %6s %8s  example\n", "family", "judge", "train", "heldout");
    int total[2] = {0, 0};
    for (int f = 0; f < tasks_n_families(); f++) {
        int count[2] = {0, 0};
        const Task *example = NULL;
        for (int i = 0; i < tasks->n; i++)
            if (strcmp(tasks->items[i].family, tasks_family_name(f)) == 0) {
                count[tasks->items[i].heldout]++;
                if (!example) example = &tasks->items[i];
            }
        if (!example) continue;
        printf("%-15s %-10s %6d %8d  %s -> %s\n", tasks_family_name(f), judge_name(example->judge), count[0], count[1],
               example->prompt, example->answers.items[0]);
        total[0] += count[0];
        total[1] += count[1];
    }
    printf("%-15s %-10s %6d %8d\n\n", "total", "", total[0], total[1]);
    printf("%s/{tasks,sft,prompts}/train.jsonl    %d lines each\n", dir, total[0]);
    printf("%s/{tasks,sft,prompts}/heldout.jsonl  %d lines each\n", dir, total[1]);
}

/* The fact sentences in random order, FACTS_PER_PARAGRAPH to a paragraph, so
 * that the phrasings of one fact are spread over the corpus. */
static void fact_paragraphs(const StrList *facts, uint64_t seed, StrList *paragraphs) {
    Rng rng;
    rng_seed(&rng, seed ^ str_hash("facts"));
    int *order = xmalloc((size_t)(facts->n + 1) * sizeof(int));
    for (int i = 0; i < facts->n; i++) order[i] = i;
    rng_shuffle_ints(&rng, order, facts->n);
    StrList shuffled = {0};
    for (int i = 0; i < facts->n; i++) strlist_add(&shuffled, facts->items[order[i]]);
    corpus_group_lines(&shuffled, FACTS_PER_PARAGRAPH, " ", paragraphs);
    strlist_free(&shuffled);
    free(order);
}

/* The documents of the natural text, by source. */
typedef struct {
    StrList chapters, fortunes, glosses;
} NaturalText;

static void load_natural_text(const DemoDataOptions *o, const WordNet *wn, NaturalText *text) {
    *text = (NaturalText){0};
    bible_load_chapters(o->bible, &text->chapters);
    fortunes_load(o->fortunes, &text->fortunes);
    corpus_group_lines(&wn->entries, GLOSSES_PER_DOCUMENT, "\n", &text->glosses);
}

/* Keeps the documents whose flag in drop[] is 0. */
static void drop_documents(StrList *docs, const char *drop) {
    StrList kept = {0};
    for (int i = 0; i < docs->n; i++) {
        if (drop[i]) free(docs->items[i]);
        else strlist_take(&kept, docs->items[i]);
    }
    free(docs->items);
    *docs = kept;
}

/* The sentiment family's sentences: the first plain sentence of up to max
 * documents drawn at random from the Bible chapters and the fortunes, leaving
 * out sentences that occur more than once in the sources. Those documents
 * leave the pretraining text, so the model never reads the continuations it
 * is asked for. */
static void take_sentences(NaturalText *text, uint64_t seed, int max, StrList *sentences) {
    StrList *sources[] = {&text->chapters, &text->fortunes};
    int n_chapters = text->chapters.n, n_docs = n_chapters + text->fortunes.n;
    StrList *split = xcalloc((size_t)n_docs + 1, sizeof(StrList)); /* the sentences of each document */
    StrMap seen = {0}; /* sentence → 1 once seen, 2 when seen again */
    for (int d = 0; d < n_docs; d++) {
        split_sentences(sources[d >= n_chapters]->items[d >= n_chapters ? d - n_chapters : d], &split[d]);
        for (int i = 0; i < split[d].n; i++)
            strmap_put(&seen, split[d].items[i], (void *)(intptr_t)(strmap_get(&seen, split[d].items[i]) ? 2 : 1));
    }
    int *order = xmalloc(((size_t)n_docs + 1) * sizeof(int));
    for (int i = 0; i < n_docs; i++) order[i] = i;
    Rng rng;
    rng_seed(&rng, seed ^ str_hash("sentences"));
    rng_shuffle_ints(&rng, order, n_docs);
    char *drop = xcalloc((size_t)n_docs + 1, 1);
    for (int i = 0, taken = 0; i < n_docs && taken < max; i++) {
        const StrList *doc = &split[order[i]];
        for (int k = 0; k < doc->n; k++)
            if (is_plain_sentence(doc->items[k], SENTENCE_MIN_WORDS, SENTENCE_MAX_WORDS) &&
                strmap_get(&seen, doc->items[k]) == (void *)1) {
                strlist_add(sentences, doc->items[k]);
                drop[order[i]] = 1;
                taken++;
                break;
            }
    }
    drop_documents(&text->chapters, drop);
    drop_documents(&text->fortunes, drop + n_chapters);
    for (int d = 0; d < n_docs; d++) strlist_free(&split[d]);
    free(split);
    strmap_free(&seen);
    free(drop);
    free(order);
}

static void free_natural_text(NaturalText *text) {
    strlist_free(&text->chapters);
    strlist_free(&text->fortunes);
    strlist_free(&text->glosses);
}

/* pretrain/train.txt and heldout.txt from the natural text and the facts. */
static void write_pretraining_text(const DemoDataOptions *o, const NaturalText *text, const StrList *facts) {
    StrList paragraphs = {0};
    fact_paragraphs(facts, (uint64_t)o->seed, &paragraphs);
    CorpusSource sources[] = {{"bible", &text->chapters, BIBLE_WEIGHT, 0, 0},
                              {"fortunes", &text->fortunes, FORTUNES_WEIGHT, 0, 0},
                              {"wordnet", &text->glosses, WORDNET_WEIGHT, 0, 0}};
    int n_sources = (int)LMF_ARRAY_LEN(sources);
    CorpusStats cs;
    char *train = xsprintf("%s/pretrain/train.txt", o->out), *heldout = xsprintf("%s/pretrain/heldout.txt", o->out);
    corpus_write(train, heldout, sources, n_sources, &paragraphs, (size_t)(o->max_pretrain_mb * 1e6), o->heldout_frac,
                 (uint64_t)o->seed, &cs);

    printf("%s  %6.2f MB, %d documents: facts %.2f MB", train, (double)cs.train_bytes / 1e6, cs.train_documents,
           (double)cs.fact_bytes / 1e6);
    for (int s = 0; s < n_sources; s++) printf(", %s %.2f MB", sources[s].name, (double)sources[s].train_bytes / 1e6);
    printf("\n%s%6.2f MB, %d documents:", heldout, (double)cs.heldout_bytes / 1e6, cs.heldout_documents);
    for (int s = 0; s < n_sources; s++)
        printf("%s %s %.2f MB", s ? "," : "", sources[s].name, (double)sources[s].heldout_bytes / 1e6);
    printf("\n");

    free(train);
    free(heldout);
    strlist_free(&paragraphs);
}

/* Whether `name` is one of the comma-separated items of list. */
static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0) return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

/* prompts/align.jsonl: the training prompts of the groups in `groups`, in
 * the training order. Alignment needs answers the gold tells apart: two
 * wrong answers to a fact question tie, and the annotator would order them
 * at random, teaching the reward model noise. */
static void write_align_prompts(const char *dir, const TaskList *tasks, const int *order, const char *groups) {
    char *path = xsprintf("%s/prompts/align.jsonl", dir);
    AtomicFile af = atomic_open(path);
    for (int i = 0; i < tasks->n; i++) {
        const Task *t = &tasks->items[order[i]];
        if (t->heldout || !in_list(groups, t->group)) continue;
        print_prompt_line(af.f, t);
    }
    atomic_commit(&af);
    free(path);
}

/* tasks/, sft/ and prompts/: training tasks in shuffled order, so that any
 * prefix mixes the families; held-out ones grouped by family, for reading. */
static void write_all_task_files(const char *dir, const TaskList *tasks, uint64_t seed, const char *align_groups) {
    int *order = xmalloc((size_t)(tasks->n + 1) * sizeof(int));
    for (int i = 0; i < tasks->n; i++) order[i] = i;
    write_task_files(dir, tasks, order, 1);
    Rng rng;
    rng_seed(&rng, seed ^ str_hash("task order"));
    rng_shuffle_ints(&rng, order, tasks->n);
    write_task_files(dir, tasks, order, 0);
    write_align_prompts(dir, tasks, order, align_groups);
    free(order);
}

int cmd_demo_data(int argc, char **argv) {
    DemoDataOptions o = {.families = NULL,
                         .fortunes = "/usr/share/games/fortunes",
                         .wordnet = "/usr/share/wordnet",
                         .quiz = "/usr/share/games/bsdgames/quiz",
                         .align_groups = "computation,sentiment",
                         .seed = 1,
                         .max_per_family = 500,
                         .fact_repeats = 3,
                         .qa_repeats = 1,
                         .max_pretrain_mb = 4,
                         .heldout_frac = 0.2f};
    Option opts[] = {
        OPT_STR("out", &o.out, "output directory (required)"),
        OPT_INT("seed", &o.seed, "seed of every random choice: same seed, same files"),
        OPT_FLOAT("max-pretrain-mb", &o.max_pretrain_mb, "size cap of pretrain/train.txt + heldout.txt, in MB"),
        OPT_FLOAT("heldout-frac", &o.heldout_frac, "share of each family's subjects and of the text held out"),
        OPT_STR("families", &o.families, "comma-separated task families (default: all)"),
        OPT_INT("max-tasks-per-family", &o.max_per_family, "tasks per family, both splits together"),
        OPT_INT("fact-repeats", &o.fact_repeats, "copies of each fact sentence in the pretraining text"),
        OPT_INT("qa-repeats", &o.qa_repeats,
                "copies of each training question of the fact families, with its answer, in the pretraining text"),
        OPT_STR("align-groups", &o.align_groups,
                "comma-separated groups whose training prompts go to prompts/align.jsonl, for the alignment stages"),
        OPT_STR("bible", &o.bible, "file with the output of `" BIBLE_COMMAND "` (default: run it)"),
        OPT_STR("fortunes", &o.fortunes, "fortune files directory (package fortunes)"),
        OPT_STR("wordnet", &o.wordnet, "WordNet database directory (package wordnet-base)"),
        OPT_STR("quiz", &o.quiz, "quiz files directory (package bsdgames)"),
        OPT_END};
    char **positional;
    int npos = args_parse("demo-data", "", "Build the demo's pretraining text, tasks, SFT data and prompts.", opts,
                          argc, argv, &positional);
    free(positional);
    if (npos) die("demo-data: unexpected argument (see lmforge demo-data --help)");
    if (!o.out) die("demo-data: --out DIR is required");
    if (!(o.heldout_frac >= 0 && o.heldout_frac < 1)) die("demo-data: --heldout-frac must be in [0, 1)");
    if (!(o.max_pretrain_mb > 0)) die("demo-data: --max-pretrain-mb must be positive");
    if (o.max_per_family < 1) die("demo-data: --max-tasks-per-family must be at least 1");
    if (o.fact_repeats < 0 || o.qa_repeats < 0) die("demo-data: --fact-repeats and --qa-repeats must be >= 0");
    int *wanted = xcalloc((size_t)tasks_n_families(), sizeof(int));
    parse_families(o.families, wanted);

    /* Every input is checked before anything is written. */
    char *index_path = path_join(o.quiz, "index");
    if (!file_exists(index_path))
        die("quiz files not found: %s is missing (install the Debian package bsdgames, or pass --quiz DIR)",
            index_path);
    QuizFile quiz_index = quiz_file_read(index_path);
    WordNet *wn = wordnet_load(o.wordnet);
    NaturalText text;
    load_natural_text(&o, wn, &text);

    StrList sentences = {0};
    int sentiment = tasks_family_index("sentiment");
    if (wanted[sentiment]) take_sentences(&text, (uint64_t)o.seed, o.max_per_family, &sentences);

    TaskList tasks = {0};
    StrList facts = {0};
    TaskSources src = {.quiz_dir = o.quiz, .quiz_index = &quiz_index, .wordnet = wn, .sentences = &sentences};
    TaskOptions topt = {.seed = (uint64_t)o.seed, .heldout_frac = o.heldout_frac,
                        .max_per_family = o.max_per_family, .fact_repeats = o.fact_repeats,
                        .qa_repeats = o.qa_repeats};
    tasks_build(&src, wanted, &topt, &tasks, &facts);
    check_disjoint(&tasks);

    static const char *const subdirs[] = {"pretrain", "tasks", "sft", "prompts"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(subdirs); i++) {
        char *d = path_join(o.out, subdirs[i]);
        make_dirs(d);
        free(d);
    }
    write_pretraining_text(&o, &text, &facts);
    write_all_task_files(o.out, &tasks, (uint64_t)o.seed, o.align_groups);
    print_task_summary(o.out, &tasks);

    free(index_path);
    free(wanted);
    tasks_free(&tasks);
    strlist_free(&facts);
    strlist_free(&sentences);
    free_natural_text(&text);
    quiz_file_free(&quiz_index);
    wordnet_free(wn);
    return 0;
}
