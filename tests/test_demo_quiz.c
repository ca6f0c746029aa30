/* test_demo_quiz.c — the quiz-file pattern parser, on lines copied from the
 * bsdgames quiz files (\b is the overstrike backspace the files contain). */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/demo/quiz.h"
#include "test.h"

static int accepts_exactly(const QuizPattern *p, const char *const *want, int n) {
    if (p->accepted.n != n) return 0;
    for (int i = 0; i < n; i++)
        if (!strlist_contains(&p->accepted, want[i])) return 0;
    return 1;
}

static QuizPattern parse_ok(const char *pattern) {
    QuizPattern p = {0};
    char err[128];
    CHECK_MSG(quiz_pattern_parse(pattern, &p, err, sizeof err) == 0, "cannot parse %s: %s", pattern, err);
    return p;
}

TEST(demo_quiz_optional_parts) {
    /* africa: "Central Africa{n Rep{ublic}}:Bangui" — nested optional parts. */
    StrList cats = {0};
    quiz_split_categories("Central Africa{n Rep{ublic}}:Bangui", &cats);
    CHECK_EQ_INT(cats.n, 2);
    QuizPattern p = parse_ok(cats.items[0]);
    const char *want[] = {"Central Africa", "Central African Rep", "Central African Republic"};
    CHECK(accepts_exactly(&p, want, 3));
    CHECK(strcmp(p.canonical, "Central African Republic") == 0);
    CHECK(strcmp(cats.items[1], "Bangui") == 0);
    quiz_pattern_free(&p);
    strlist_free(&cats);

    /* africa: "{DR |Democratic Republic of the }Congo" — alternatives inside an optional part. */
    p = parse_ok("{DR |Democratic Republic of the }Congo");
    const char *congo[] = {"DR Congo", "Democratic Republic of the Congo", "Congo"};
    CHECK(accepts_exactly(&p, congo, 3));
    CHECK(strcmp(p.canonical, "DR Congo") == 0);
    quiz_pattern_free(&p);
}

TEST(demo_quiz_alternatives) {
    /* africa: "Malagasy{ Rep{ublic}}|Madagascar:Antananarivo" */
    QuizPattern p = parse_ok("Malagasy{ Rep{ublic}}|Madagascar");
    const char *want[] = {"Malagasy", "Malagasy Rep", "Malagasy Republic", "Madagascar"};
    CHECK(accepts_exactly(&p, want, 4));
    CHECK(strcmp(p.canonical, "Malagasy Republic") == 0);
    quiz_pattern_free(&p);

    /* europe: "Poland:Wars[aw|zawa]"; america: "Haiti:Port[-| ]au[-| ]Prince" */
    p = parse_ok("Wars[aw|zawa]");
    const char *warsaw[] = {"Warsaw", "Warszawa"};
    CHECK(accepts_exactly(&p, warsaw, 2));
    CHECK(strcmp(p.canonical, "Warsaw") == 0);
    quiz_pattern_free(&p);
    p = parse_ok("Port[-| ]au[-| ]Prince");
    CHECK_EQ_INT(p.accepted.n, 4);
    CHECK(strlist_contains(&p.accepted, "Port au Prince"));
    CHECK(strcmp(p.canonical, "Port-au-Prince") == 0);
    quiz_pattern_free(&p);
}

TEST(demo_quiz_overstrike_accents) {
    /* africa line 40, as it is in the file. The overstrike spellings are
     * dropped; the plain ASCII one is shown and accepted. */
    const char *line = "S[~\ba|a\b~|a]o Tom['\be|e\b'|e] and Pr['\bi|i\b'|i]ncipe:S[~\ba|a\b~|a]o Tom['\be|e\b'|e]";
    StrList cats = {0};
    quiz_split_categories(line, &cats);
    CHECK_EQ_INT(cats.n, 2);
    QuizPattern place = parse_ok(cats.items[0]), capital = parse_ok(cats.items[1]);
    const char *want_place[] = {"Sao Tome and Principe"};
    const char *want_capital[] = {"Sao Tome"};
    CHECK(accepts_exactly(&place, want_place, 1));
    CHECK(accepts_exactly(&capital, want_capital, 1));
    CHECK(strcmp(place.canonical, "Sao Tome and Principe") == 0);
    quiz_pattern_free(&place);
    quiz_pattern_free(&capital);
    strlist_free(&cats);

    /* europe: "[°A|A°|A]land Islands" — UTF-8 spellings stay accepted, the ASCII one is shown. */
    QuizPattern aland = parse_ok("[°A|A°|A]land Islands");
    CHECK_EQ_INT(aland.accepted.n, 3);
    CHECK(strcmp(aland.canonical, "Aland Islands") == 0);
    quiz_pattern_free(&aland);
}

TEST(demo_quiz_escapes_and_errors) {
    StrList cats = {0};
    quiz_split_categories("a\\:b:c{d:e}", &cats); /* an escaped ':' and one inside braces do not split */
    CHECK_EQ_INT(cats.n, 2);
    QuizPattern p = parse_ok(cats.items[0]);
    CHECK(strcmp(p.canonical, "a:b") == 0);
    quiz_pattern_free(&p);
    strlist_free(&cats);

    char err[128];
    CHECK(quiz_pattern_parse("Bra[z|s", &p, err, sizeof err) == -1);
    CHECK(strstr(err, "never closed") != NULL);
    CHECK(quiz_pattern_parse("a}b", &p, err, sizeof err) == -1);
    CHECK(strstr(err, "unmatched") != NULL);
    CHECK(quiz_pattern_parse("abc\\", &p, err, sizeof err) == -1);
}

TEST(demo_quiz_index_and_continuation_lines) {
    char *dir = test_tmpdir("quiz");
    char *path = path_join(dir, "index");
    const char *text = "/usr/share/games/bsdgames/quiz/midearth:M[iddle{-}Earth|E]:cap{ital}\n"
                       "\n"
                       "/usr/share/games/bsdgames/quiz/elements:symbol:number:wei\\\nght:element\n";
    atomic_write(path, text, strlen(text));
    QuizFile index = quiz_file_read(path);
    CHECK_EQ_INT(index.n, 2);
    const QuizRow *mid = quiz_index_find(&index, "midearth"), *el = quiz_index_find(&index, "elements");
    CHECK(mid && el);
    if (mid && el) {
        CHECK_EQ_INT(mid->line, 1);
        CHECK_EQ_INT(quiz_index_column(mid, "middle-earth"), 0);
        CHECK_EQ_INT(quiz_index_column(mid, "ME"), 0);
        CHECK_EQ_INT(quiz_index_column(mid, "capital"), 1);
        CHECK_EQ_INT(quiz_index_column(mid, "cap"), 1);
        CHECK_EQ_INT(quiz_index_column(mid, "symbol"), -1);
        CHECK_EQ_INT(el->line, 3);
        CHECK_EQ_INT(quiz_index_column(el, "weight"), 2); /* joined across the continuation */
        CHECK_EQ_INT(quiz_index_column(el, "element"), 3);
    }
    CHECK(quiz_index_find(&index, "africa") == NULL);
    quiz_file_free(&index);
    free(path);
    test_system("rm -rf '%s'", dir);
    free(dir);
}
