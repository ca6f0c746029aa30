/* test_demo_data.c — `lmforge demo-data` on small fixture inputs written
 * here (fake Bible dump, fortune, WordNet and quiz files), and once on the
 * real Debian data when it is installed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../src/base/util.h"
#include "../src/demo/strutil.h"
#include "test.h"

static void write_text(const char *dir, const char *name, const char *text) {
    char *path = path_join(dir, name);
    atomic_write(path, text, strlen(text));
    free(path);
}

static const char *const NOUNS[][2] = {
    {"year", "a period of time containing 365 days; \"she found a job last year\""},
    {"person", "a human being; \"there was too much for one person to do\""},
    {"man", "an adult person who is male (as opposed to a woman)"},
    {"group", "any number of entities considered as a unit"},
    {"eye", "the organ of sight"},
    {"hand", "the extremity of the superior limb"},
    {"child", "a young person of either sex"},
    {"world", "everything that exists anywhere"},
    {"speed", "distance travelled per unit time"},
    {"month", "one of the twelve divisions of the calendar year"},
    {"office", "place of business where professional or clerical duties are performed"},
    {"boy", "a youthful male person"},
    {"door", "a swinging or sliding barrier that will close the entrance to a room or building"},
    {"river", "a large natural stream of water (larger than a creek)"},
    {"house", "a dwelling that serves as living quarters for one or more families"},
    {"water", "binary compound that occurs at room temperature as a clear colorless odorless tasteless liquid"},
    {"tree", "a tall perennial woody plant having a main trunk and branches"},
    {"city", "a large and densely populated urban area"},
    {"night", "the time after sunset and before sunrise while it is dark outside"},
    {"friend", "a person you know well and regard with affection and trust"},
    {"horse", "solid-hoofed herbivorous quadruped domesticated since prehistoric times"},
    {"bread", "food made from dough of flour or meal and usually raised with yeast or baking powder"},
    {"song", "a short musical composition with words"},
    {"stone", "a lump or mass of hard consolidated mineral matter"},
};

/* WordNet files in the real layout: licence lines first, offsets increasing. */
static void write_wordnet(const char *dir) {
    StrBuf data = {0}, index = {0}, counts = {0};
    strbuf_append(&data, "  1 This software and database is being provided to you, the LICENSEE\n");
    for (size_t i = 0; i < LMF_ARRAY_LEN(NOUNS); i++) {
        char *line = xsprintf("%08zu 05 n 01 %s 0 000 | %s  \n", 1000 + 40 * i, NOUNS[i][0], NOUNS[i][1]);
        strbuf_append(&data, line);
        free(line);
        line = xsprintf("%s n 1 0 1 1 %08zu  \n", NOUNS[i][0], 1000 + 40 * i);
        strbuf_append(&index, line);
        free(line);
        line = xsprintf("%s%%1:05:00:: 1 %zu\n", NOUNS[i][0], 100 - i);
        strbuf_append(&counts, line);
        free(line);
    }
    strbuf_append(&counts, "run%2:38:00:: 1 50\ngood%3:00:01:: 1 40\n");
    write_text(dir, "data.noun", data.data);
    write_text(dir, "index.noun", index.data);
    write_text(dir, "cntlist.rev", counts.data);
    write_text(dir, "data.verb", "01926311 38 v 01 run 0 000 | move fast by using one's feet  \n");
    write_text(dir, "index.verb", "run v 1 0 1 1 01926311  \n");
    write_text(dir, "data.adj", "01123148 00 a 02 good 0 well(p) 0 000 | having desirable or positive qualities  \n");
    write_text(dir, "index.adj", "good a 1 0 1 1 01123148  \n");
    strbuf_free(&data);
    strbuf_free(&index);
    strbuf_free(&counts);
}

/* Quiz files with real lines: overstrike accents, a place in two files
 * (Egypt), and a name with two different capitals (Georgia). */
static void write_quiz(const char *dir) {
    write_text(dir, "index",
               "/usr/share/games/bsdgames/quiz/africa:Africa{n}:cap{ital}\n"
               "/usr/share/games/bsdgames/quiz/america:America{n}:cap{ital}\n"
               "/usr/share/games/bsdgames/quiz/asia:Asia{n}:cap{ital}\n"
               "/usr/share/games/bsdgames/quiz/elements:symbol:number:weight:element\n"
               "/usr/share/games/bsdgames/quiz/europe:Europe{an}:cap{ital}\n"
               "/usr/share/games/bsdgames/quiz/province:province:cap{ital}\n"
               "/usr/share/games/bsdgames/quiz/state:state:cap{ital}:abbr{ev{iation}}:flower\n");
    write_text(dir, "africa",
               "Egypt:Cairo\nGhana:Accra\nKenya:Nairobi\nTogo:Lom['\be|e\b'|e]\nZambia:Lusaka\n{The }Gambia:Banjul|Bathurst\n");
    write_text(dir, "america", "Canada:Ottawa\nCuba:Ha[v|b]ana\nPeru:Lima\nChile:Santiago\n");
    write_text(dir, "asia", "Egypt:Cairo\nGeorgia:Tbilisi\nJapan:Tokyo\nNepal:Kathmandu\n");
    write_text(dir, "europe", "France:Paris\nPoland:Wars[aw|zawa]\nUkraine:Kiev|Kyiv\nSpain:Madrid\n");
    write_text(dir, "province", "Ontario:Toronto\nManitoba:Winnipeg\n");
    write_text(dir, "state", "Georgia|Ga:Atlanta:GA:{Cherokee }rose\nTexas|Tex|TX:Austin:TX:blue{-| }bonnet\n");
    write_text(dir, "elements",
               "H:1:1.008:Hydrogen\nHe:2:4.003:Helium\nLi:3:6.94:Lithium\nC:6:12.011:Carbon\nN:7:14.008:Nitrogen\n"
               "O:8:16.0:Oxygen\nNa:11:22.991:Sodium\nFe:26:55.85:Iron\nAu:79:197.0:Gold\nTc:43:(99):Technetium\n");
}

typedef struct {
    char *root, *bible, *fortunes, *wordnet, *quiz;
} Fixture;

static Fixture make_fixture(void) {
    Fixture f;
    f.root = test_tmpdir("demo-data");
    f.bible = path_join(f.root, "bible.txt");
    f.fortunes = path_join(f.root, "fortunes");
    f.wordnet = path_join(f.root, "wordnet");
    f.quiz = path_join(f.root, "quiz");
    make_dirs(f.fortunes);
    make_dirs(f.wordnet);
    make_dirs(f.quiz);
    write_text(f.root, "bible.txt",
               "Ge1:1 In the beginning God created the heaven and the earth.\n"
               "Ge1:2 And the earth was without form, and void.\n"
               "Ge2:1 Thus the heavens and the earth were finished, and all the host of them.\n"
               "Exo1:1 Now these are the names of the children of Israel, which came into Egypt.\n"
               "Ps23:1 The LORD is my shepherd; I shall not want.\n"
               "Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.\n");
    write_text(f.fortunes, "wisdom",
               "A day for firm decisions!!!!!  Or is it?\n%\nA few hours grace before the madness begins again.\n%\n"
               "A gift of a flower will soon be made to you.\n%\nA long-forgotten loved one will appear soon.\n\n"
               "Buy the negatives at any price.\n%\nA tall, dark stranger will have more fun than you.\n%\n"
               "Accent on helpful side of your nature.  Drain the moat.\n%\n");
    write_text(f.fortunes, "wisdom.dat", "\x01\x02STRFILE-INDEX\x03");
    char *u8 = path_join(f.fortunes, "wisdom.u8");
    CHECK(symlink("wisdom", u8) == 0);
    free(u8);
    write_text(f.fortunes, "chinese", "\xe4\xba\xba\xe7\x94\x9f\xe5\xa6\x82\xe6\xa2\xa6 CHINESE-FILE\n%\n");
    write_text(f.fortunes, "ascii-art", " /\\_/\\  ASCII-ART-FILE\n%\n");
    write_wordnet(f.wordnet);
    write_quiz(f.quiz);
    return f;
}

static void free_fixture(Fixture *f) {
    test_system("rm -rf '%s'", f->root);
    free(f->root);
    free(f->bible);
    free(f->fortunes);
    free(f->wordnet);
    free(f->quiz);
}

static int run_demo_data(const Fixture *f, const char *out, int seed, const char *extra) {
    return test_system("%s demo-data --out %s --seed %d --bible %s --fortunes %s --wordnet %s --quiz %s "
                       "--max-pretrain-mb 0.05 --heldout-frac 0.25 --max-tasks-per-family 20 --fact-repeats 1 %s "
                       "> %s.log 2>&1",
                       lmforge_bin(), out, seed, f->bible, f->fortunes, f->wordnet, f->quiz, extra, out);
}

static char *read_in(const char *dir, const char *name) {
    char *path = path_join(dir, name);
    char *text = file_exists(path) ? read_file(path, NULL) : NULL;
    free(path);
    return text;
}

/* The JSON objects of a JSONL file, as a cJSON array. */
static cJSON *read_jsonl(const char *dir, const char *name) {
    cJSON *all = cJSON_CreateArray();
    char *text = read_in(dir, name);
    if (!text) return all;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *v = cJSON_Parse(line);
        CHECK_MSG(v != NULL, "%s: bad line %s", name, line);
        if (v) cJSON_AddItemToArray(all, v);
    }
    free(text);
    return all;
}

static const char *str(const cJSON *obj, const char *field) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *const FILES[] = {"pretrain/train.txt", "pretrain/heldout.txt", "tasks/train.jsonl",
                                    "tasks/heldout.jsonl", "sft/train.jsonl",     "sft/heldout.jsonl",
                                    "prompts/train.jsonl", "prompts/heldout.jsonl"};

/* The sentence of a sentiment task: its prompt's words after "Continue: ", a space, its answer. Caller frees. */
static char *sentiment_sentence(const cJSON *t) {
    const char *p = str(t, "prompt");
    CHECK(strncmp(p, "Continue: ", 10) == 0);
    return xsprintf("%s %s", strncmp(p, "Continue: ", 10) == 0 ? p + 10 : p, str(t, "answer"));
}

/* 1 if a sentiment task of tasks was cut from the sentence holding snippet. */
static int sentiment_took(const cJSON *tasks, const char *snippet) {
    const cJSON *t;
    int took = 0;
    cJSON_ArrayForEach(t, tasks) {
        if (strcmp(str(t, "family"), "sentiment") != 0) continue;
        char *sentence = sentiment_sentence(t);
        took |= strstr(sentence, snippet) != NULL;
        free(sentence);
    }
    return took;
}

static int prompt_in(const cJSON *tasks, const char *prompt) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks) if (strcmp(str(t, "prompt"), prompt) == 0) return 1;
    return 0;
}

/* The word between quotes in the held-out prompts of a family ("Spell 'cat' backwards." → cat), joined. */
static char *heldout_words(const cJSON *heldout, const char *family) {
    StrBuf words = {0};
    const cJSON *t;
    cJSON_ArrayForEach(t, heldout) {
        const char *p = str(t, "prompt"), *open = strchr(p, '\'');
        if (strcmp(str(t, "family"), family) != 0 || !open) continue;
        strbuf_append_n(&words, open, (size_t)(strchr(open + 1, '\'') - open + 1));
    }
    return strbuf_take(&words);
}

/* The tasks, SFT and prompt files of one split agree line by line. */
static void check_split_files(const char *dir, const char *split) {
    char *tasks_name = xsprintf("tasks/%s.jsonl", split), *sft_name = xsprintf("sft/%s.jsonl", split),
         *prompts_name = xsprintf("prompts/%s.jsonl", split);
    cJSON *tasks = read_jsonl(dir, tasks_name), *sft = read_jsonl(dir, sft_name), *prompts = read_jsonl(dir, prompts_name);
    CHECK(cJSON_GetArraySize(tasks) > 0);
    CHECK_EQ_INT(cJSON_GetArraySize(sft), cJSON_GetArraySize(tasks));
    CHECK_EQ_INT(cJSON_GetArraySize(prompts), cJSON_GetArraySize(tasks));
    for (int i = 0; i < cJSON_GetArraySize(tasks) && i < cJSON_GetArraySize(sft); i++) {
        const cJSON *t = cJSON_GetArrayItem(tasks, i);
        const char *judge = str(t, "judge");
        CHECK(*str(t, "id") && *str(t, "family") && *str(t, "prompt") && *str(t, "answer"));
        CHECK_MSG(strstr(" exact exact-case f1 digits count edit edit-case sentiment ", judge) && *judge, "judge %s",
                  judge);
        /* every family in its group, in the task and the prompt files */
        static const char *const groups[][2] = {
            {"capital", "knowledge"},     {"element_symbol", "knowledge"}, {"element_number", "knowledge"},
            {"define", "knowledge"},      {"addition", "computation"},     {"reverse", "computation"},
            {"uppercase", "computation"}, {"word_count", "computation"},   {"sentiment", "sentiment"}};
        int grouped = 0;
        for (size_t k = 0; k < LMF_ARRAY_LEN(groups); k++)
            grouped += !strcmp(str(t, "family"), groups[k][0]) && !strcmp(str(t, "group"), groups[k][1]);
        CHECK_MSG(grouped == 1, "%s: family %s, group %s", str(t, "id"), str(t, "family"), str(t, "group"));
        const cJSON *p = cJSON_GetArrayItem(prompts, i);
        CHECK(!strcmp(str(p, "family"), str(t, "family")) && !strcmp(str(p, "group"), str(t, "group")));
        const cJSON *answers = cJSON_GetObjectItemCaseSensitive(t, "answers");
        CHECK(cJSON_IsArray(answers) && strcmp(cJSON_GetArrayItem(answers, 0)->valuestring, str(t, "answer")) == 0);
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sft, i), "messages");
        CHECK(cJSON_GetArraySize(messages) == 2);
        if (cJSON_GetArraySize(messages) == 2) {
            CHECK(!strcmp(str(cJSON_GetArrayItem(messages, 0), "role"), "user"));
            CHECK(!strcmp(str(cJSON_GetArrayItem(messages, 0), "content"), str(t, "prompt")));
            CHECK(!strcmp(str(cJSON_GetArrayItem(messages, 1), "role"), "assistant"));
            CHECK(!strcmp(str(cJSON_GetArrayItem(messages, 1), "content"), str(t, "answer")));
        }
        CHECK(!strcmp(str(cJSON_GetArrayItem(prompts, i), "prompt"), str(t, "prompt")));
    }
    cJSON_Delete(tasks);
    cJSON_Delete(sft);
    cJSON_Delete(prompts);
    free(tasks_name);
    free(sft_name);
    free(prompts_name);
}

TEST(demo_data_on_fixtures) {
    Fixture f = make_fixture();
    char *out = path_join(f.root, "out");
    CHECK(run_demo_data(&f, out, 7, "") == 0);
    for (size_t i = 0; i < LMF_ARRAY_LEN(FILES); i++) {
        char *text = read_in(out, FILES[i]);
        CHECK_MSG(text && *text, "%s is missing or empty", FILES[i]);
        free(text);
    }
    check_split_files(out, "train");
    check_split_files(out, "heldout");

    /* Disjoint splits, every family in both. */
    cJSON *train = read_jsonl(out, "tasks/train.jsonl"), *heldout = read_jsonl(out, "tasks/heldout.jsonl");
    const cJSON *t;
    cJSON_ArrayForEach(t, heldout) CHECK_MSG(!prompt_in(train, str(t, "prompt")), "in both splits: %s", str(t, "prompt"));
    const char *families[] = {"capital", "element_symbol", "element_number", "define",   "addition",
                              "reverse", "uppercase",      "word_count",     "sentiment"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(families); i++) {
        int n[2] = {0, 0};
        cJSON_ArrayForEach(t, train) n[0] += !strcmp(str(t, "family"), families[i]);
        cJSON_ArrayForEach(t, heldout) n[1] += !strcmp(str(t, "family"), families[i]);
        CHECK_MSG(n[0] > 0 && n[1] > 0 && n[0] + n[1] <= 20, "%s: %d train, %d held out", families[i], n[0], n[1]);
    }
    /* prompts/align.jsonl: the training prompts of the dense groups, in training order, no knowledge prompt */
    cJSON *align = read_jsonl(out, "prompts/align.jsonl");
    int dense = 0, k = 0;
    cJSON_ArrayForEach(t, train) dense += strcmp(str(t, "group"), "knowledge") != 0;
    CHECK_MSG(cJSON_GetArraySize(align) == dense && dense > 0, "align.jsonl: %d prompts, %d dense training tasks",
              cJSON_GetArraySize(align), dense);
    cJSON_ArrayForEach(t, train) {
        if (strcmp(str(t, "group"), "knowledge") == 0) continue;
        cJSON *a = cJSON_GetArrayItem(align, k++);
        CHECK_MSG(a && !strcmp(str(a, "prompt"), str(t, "prompt")) && !strcmp(str(a, "group"), str(t, "group")),
                  "align.jsonl line %d is not the dense training task \"%s\"", k, str(t, "prompt"));
    }
    cJSON_Delete(align);
    /* Georgia means two places with different capitals: left out. Egypt is in two files: once. */
    CHECK(!prompt_in(train, "What is the capital of Georgia?") && !prompt_in(heldout, "What is the capital of Georgia?"));
    CHECK(prompt_in(train, "What is the capital of Egypt?") + prompt_in(heldout, "What is the capital of Egypt?") == 1);
    CHECK(prompt_in(train, "What is the capital of Togo?") || prompt_in(heldout, "What is the capital of Togo?"));
    /* Families with the same subjects hold out the same ones. */
    char *reversed = heldout_words(heldout, "reverse"), *uppercased = heldout_words(heldout, "uppercase");
    CHECK(*reversed && strcmp(reversed, uppercased) == 0);
    free(reversed);
    free(uppercased);
    /* The sentiment family's sentences come from the fixture's text: 8 to 16 plain words, 4 to 6 of them the prompt. */
    cJSON *all = cJSON_Duplicate(train, 1);
    cJSON_ArrayForEach(t, heldout) cJSON_AddItemToArray(all, cJSON_Duplicate(t, 1));
    cJSON_ArrayForEach(t, all) {
        if (strcmp(str(t, "family"), "sentiment") != 0) continue;
        CHECK(!strcmp(str(t, "judge"), "sentiment"));
        int prompt_words = 1, words = 1;
        for (const char *c = str(t, "prompt") + 10; *c; c++) prompt_words += *c == ' ';
        char *sentence = sentiment_sentence(t);
        for (const char *c = sentence; *c; c++) words += *c == ' ';
        CHECK_MSG(prompt_words >= 4 && prompt_words <= 6 && words >= 8 && words <= 16, "%s", sentence);
        free(sentence);
    }
    CHECK(sentiment_took(all, "A gift of a flower will soon be made to you."));
    CHECK(!sentiment_took(all, "A day for firm decisions")); /* "!!!!!" is not plain */
    cJSON_Delete(train);
    cJSON_Delete(heldout);

    /* Facts of both splits are in the training text, never in the held-out text. */
    char *train_txt = read_in(out, "pretrain/train.txt"), *heldout_txt = read_in(out, "pretrain/heldout.txt");
    CHECK(train_txt && heldout_txt);
    if (train_txt && heldout_txt) {
        CHECK(strstr(train_txt, "The capital of Kenya is Nairobi.") && strstr(train_txt, "Lome is the capital of Togo."));
        CHECK(strstr(train_txt, "The chemical symbol for gold is Au."));
        CHECK(strstr(train_txt, "The word year means a period of time containing 365 days."));
        CHECK(!strstr(heldout_txt, "capital of"));
        /* Each Bible chapter and fortune is in exactly one file, or in none when the sentiment family
         * took a sentence of it; references, .dat, .u8 copies, Chinese and ASCII art are not. */
        const char *docs[] = {"In the beginning God created", "The LORD is my shepherd", "Drain the moat.",
                              "A gift of a flower", "A tall, dark stranger"};
        for (size_t i = 0; i < LMF_ARRAY_LEN(docs); i++) {
            int copies = !!strstr(train_txt, docs[i]) + !!strstr(heldout_txt, docs[i]);
            CHECK_MSG(copies == !sentiment_took(all, docs[i]), "\"%s\" in %d files", docs[i], copies);
        }
        const char *absent[] = {"Ge1:1", "STRFILE-INDEX", "CHINESE-FILE", "ASCII-ART-FILE"};
        for (size_t i = 0; i < LMF_ARRAY_LEN(absent); i++)
            CHECK_MSG(!strstr(train_txt, absent[i]) && !strstr(heldout_txt, absent[i]), "\"%s\" leaked", absent[i]);
        char *once = strstr(train_txt, "Drain the moat.");
        if (!once) once = strstr(heldout_txt, "Drain the moat.");
        CHECK(once && !strstr(once + 1, "Drain the moat.")); /* the .u8 link is not read twice */
        CHECK(strlen(train_txt) + strlen(heldout_txt) <= 50000);
    }
    free(train_txt);
    free(heldout_txt);
    cJSON_Delete(all);
    /* the documents demo-data reports are the ones the readers of .txt see
     * (a blank line ends one; the fortune with a blank line inside stays one) */
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "heldout" : "train";
        CHECK_MSG(test_system("a=$(sed -n 's|.*pretrain/%s.txt *[0-9.]* MB, \\([0-9]*\\) documents.*|\\1|p' '%s.log'); "
                              "b=$(%s data check '%s/pretrain/%s.txt' | sed -n 's/^  \\([0-9]*\\) document.*/\\1/p'); "
                              "test -n \"$a\" && test \"$a\" = \"$b\"",
                              name, out, lmforge_bin(), out, name) == 0,
                  "demo-data and data check count different documents in %s.txt", name);
    }
    free(out);
    free_fixture(&f);
}

TEST(demo_data_is_deterministic_for_a_seed) {
    Fixture f = make_fixture();
    char *a = path_join(f.root, "a"), *b = path_join(f.root, "b"), *c = path_join(f.root, "c");
    CHECK(run_demo_data(&f, a, 5, "") == 0);
    CHECK(run_demo_data(&f, b, 5, "") == 0);
    CHECK(run_demo_data(&f, c, 6, "") == 0);
    int differs = 0;
    for (size_t i = 0; i < LMF_ARRAY_LEN(FILES); i++) {
        char *x = read_in(a, FILES[i]), *y = read_in(b, FILES[i]), *z = read_in(c, FILES[i]);
        CHECK(x && y && z);
        if (x && y) CHECK_MSG(strcmp(x, y) == 0, "%s differs between two runs with seed 5", FILES[i]);
        if (x && z) differs += strcmp(x, z) != 0;
        free(x);
        free(y);
        free(z);
    }
    CHECK(differs > 0); /* and another seed gives another draw */
    free(a);
    free(b);
    free(c);
    free_fixture(&f);
}

TEST(demo_data_families_and_missing_inputs) {
    Fixture f = make_fixture();
    char *out = path_join(f.root, "out");
    CHECK(run_demo_data(&f, out, 1, "--families capital,addition") == 0);
    cJSON *train = read_jsonl(out, "tasks/train.jsonl");
    const cJSON *t;
    cJSON_ArrayForEach(t, train) CHECK(!strcmp(str(t, "family"), "capital") || !strcmp(str(t, "family"), "addition"));
    cJSON_Delete(train);

    char *log = xsprintf("%s.log", out);
    CHECK(run_demo_data(&f, out, 1, "--families capital,poetry") != 0);
    char *text = read_file(log, NULL);
    CHECK(strstr(text, "unknown family \"poetry\"") != NULL);
    free(text);
    /* Flags given later win, so these point one input at a missing directory. */
    const char *missing[][2] = {{"--wordnet /nonexistent", "wordnet-base"},
                                {"--quiz /nonexistent", "bsdgames"},
                                {"--fortunes /nonexistent", "fortunes"}};
    for (size_t i = 0; i < LMF_ARRAY_LEN(missing); i++) {
        CHECK(run_demo_data(&f, out, 1, missing[i][0]) != 0);
        text = read_file(log, NULL);
        CHECK_MSG(strstr(text, missing[i][1]) != NULL, "no mention of %s in: %s", missing[i][1], text);
        free(text);
    }
    free(log);
    free(out);
    free_fixture(&f);
}

TEST_SLOW(demo_data_on_the_debian_packages) {
    if (!file_exists("/usr/share/wordnet/data.noun") || !file_exists("/usr/share/games/bsdgames/quiz/index") ||
        !dir_exists("/usr/share/games/fortunes") || test_system("command -v bible > /dev/null") != 0)
        SKIP("bible-kjv, fortunes, wordnet-base or bsdgames not installed");
    char *out = test_tmpdir("demo-data-real");
    CHECK(test_system("%s demo-data --out %s > %s/log 2>&1", lmforge_bin(), out, out) == 0);
    cJSON *train = read_jsonl(out, "tasks/train.jsonl"), *heldout = read_jsonl(out, "tasks/heldout.jsonl");
    const char *facts[][2] = {{"What is the capital of France?", "Paris"},
                              {"What is the chemical symbol for gold?", "Au"},
                              {"What is the atomic number of oxygen?", "8"},
                              {"Define year.", "a period of time containing 365 days"}};
    for (size_t i = 0; i < LMF_ARRAY_LEN(facts); i++) {
        int found = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, train) found += !strcmp(str(t, "prompt"), facts[i][0]) && !strcmp(str(t, "answer"), facts[i][1]);
        cJSON_ArrayForEach(t, heldout) found += !strcmp(str(t, "prompt"), facts[i][0]) && !strcmp(str(t, "answer"), facts[i][1]);
        CHECK_MSG(found == 1, "\"%s\" -> \"%s\" found %d times", facts[i][0], facts[i][1], found);
    }
    CHECK(cJSON_GetArraySize(train) > 2000 && cJSON_GetArraySize(heldout) > 400);
    /* a + b and b + a are on the same side of the split. */
    static char in_train[50][50];
    const cJSON *t;
    cJSON_ArrayForEach(t, train) {
        int a, b;
        if (sscanf(str(t, "prompt"), "What is %d + %d?", &a, &b) == 2) in_train[LMF_MIN(a, b)][LMF_MAX(a, b)] = 1;
    }
    int mirrored = 0;
    cJSON_ArrayForEach(t, heldout) {
        int a, b;
        if (sscanf(str(t, "prompt"), "What is %d + %d?", &a, &b) == 2) mirrored += in_train[LMF_MIN(a, b)][LMF_MAX(a, b)];
    }
    CHECK_EQ_INT(mirrored, 0);
    char *train_txt = read_in(out, "pretrain/train.txt"), *heldout_txt = read_in(out, "pretrain/heldout.txt");
    CHECK(train_txt && heldout_txt && strlen(train_txt) + strlen(heldout_txt) <= 4000000);
    /* 500 sentiment tasks whose sentences the pretraining text never shows */
    int n_sentiment = 0, leaked = 0;
    cJSON *both[] = {train, heldout};
    for (int b = 0; b < 2; b++) cJSON_ArrayForEach(t, both[b]) {
            if (strcmp(str(t, "family"), "sentiment") != 0) continue;
            n_sentiment++;
            char *sentence = sentiment_sentence(t);
            leaked += train_txt && heldout_txt && (strstr(train_txt, sentence) || strstr(heldout_txt, sentence));
            free(sentence);
        }
    CHECK_MSG(n_sentiment > 450 && n_sentiment <= 500, "%d sentiment tasks", n_sentiment); /* openings used twice are dropped */
    CHECK_EQ_INT(leaked, 0);
    CHECK(heldout_txt && strlen(heldout_txt) > 500000);
    free(train_txt);
    free(heldout_txt);
    cJSON_Delete(train);
    cJSON_Delete(heldout);
    test_system("rm -rf '%s'", out);
    free(out);
}
