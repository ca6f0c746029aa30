/* quiz.h — reads the bsdgames quiz files (/usr/share/games/bsdgames/quiz).
 *
 * A data file has one question/answer set per line, its categories separated
 * by ':' (e.g. "Kenya:Nairobi"); the file "index" names each subject's data
 * file and its categories ("/usr/.../africa:Africa{n}:cap{ital}"). Every
 * category is a pattern, as quiz(6) defines them:
 *   a|b      alternatives                  Kiev|Kyiv
 *   {a}      an optional part              Brussel{s}, {The }Gambia
 *   [a|b]    delimits alternatives         Lisbo[n|a]
 *   \c       the character c itself; a '\' at the end of a line continues it
 * Accented letters are typed as alternatives with a backspace overstrike:
 * Bogot['^Ha|a^H'|a] (^H is the byte 0x08). */
#ifndef LMF_DEMO_QUIZ_H
#define LMF_DEMO_QUIZ_H

#include <stddef.h>

#include "strutil.h"

typedef struct {
    /* Every string the pattern matches, without duplicates, leaving out the
     * forms that contain control characters (the overstrike spellings). */
    StrList accepted;
    /* The form to show in questions and answers: optional parts included and,
     * at each choice, the first alternative written in plain ASCII
     * ("Central Africa{n Rep{ublic}}" → "Central African Republic",
     * "Bogot['^Ha|a^H'|a]" → "Bogota"). */
    char *canonical;
} QuizPattern;

/* Parses one category. Returns 0, or -1 with the reason in err (unbalanced
 * brackets, a trailing backslash, too many alternatives). */
int quiz_pattern_parse(const char *pattern, QuizPattern *out, char *err, size_t err_len);
void quiz_pattern_free(QuizPattern *p);

/* Splits a line into its categories at each ':' that is neither escaped nor
 * inside brackets. The categories keep their pattern syntax. */
void quiz_split_categories(const char *line, StrList *out);

/* One line of a data file, continuation lines joined. */
typedef struct {
    StrList categories;
    int line; /* 1-based line number where it starts */
} QuizRow;

typedef struct {
    QuizRow *rows;
    int n;
} QuizFile;

/* Reads a data or index file; dies naming the file if it cannot. Blank lines are skipped. */
QuizFile quiz_file_read(const char *path);
void quiz_file_free(QuizFile *f);

/* The column of the category whose title pattern accepts name (ignoring
 * case) in the index row of a subject, counting the data file's first
 * category as 0; -1 if none. */
int quiz_index_column(const QuizRow *index_row, const char *name);

/* The index row whose data file has the given base name ("africa"), or NULL. */
const QuizRow *quiz_index_find(const QuizFile *index, const char *subject);

#endif
