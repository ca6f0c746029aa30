/* test_pretrain_fixtures.c — see test_pretrain_fixtures.h. */
#include "test_pretrain_fixtures.h"

#include <stdlib.h>
#include <string.h>

#include "../src/base/rng.h"
#include "../src/base/util.h"
#include "test.h"

static const char *const SUBJECTS[] = {"the farmer", "a child", "the old king", "my sister", "the small dog",
                                       "a sailor", "the teacher", "her father"};
static const char *const VERBS[] = {"sees", "carries", "finds", "wants", "paints", "remembers", "follows", "sells"};
static const char *const OBJECTS[] = {"a red apple", "the long road", "two black horses", "the quiet river",
                                      "an empty house", "the green field", "a broken wheel", "seven stones"};
static const char *const ENDINGS[] = {"in the morning", "before the rain", "near the mill", "at night",
                                      "with great care", "every day"};

#define PICK(r, a) a[rng_below(r, LMF_ARRAY_LEN(a))]

char *fixture_write_text(const char *dir, const char *name, int n_sentences, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    char *path = path_join(dir, name);
    FILE *f = xfopen(path, "w");
    for (int i = 0; i < n_sentences; i++)
        fprintf(f, "%s %s %s %s.%s", PICK(&r, SUBJECTS), PICK(&r, VERBS), PICK(&r, OBJECTS), PICK(&r, ENDINGS),
                i % 6 == 5 ? "\n" : " ");
    fclose(f);
    return path;
}

Tokenizer *fixture_train_tokenizer(const char **files, int n_files, const BpeTrainOptions *o) {
    int was_quiet = lmf_quiet;
    lmf_quiet = 1;
    Tokenizer *t = tokenizer_train(files, n_files, o);
    lmf_quiet = was_quiet;
    return t;
}

Tokenizer *fixture_tokenizer(const char *text_path, int vocab_size) {
    BpeTrainOptions o = {.vocab_size = vocab_size, .pattern = BPE_PATTERN_LLAMA3, .min_frequency = 0};
    return fixture_train_tokenizer(&text_path, 1, &o);
}

char *fixture_real_text(const char *dir) {
    char *path = path_join(dir, "real.txt");
    if (test_system("bible -f gen1:1-exo40:38 > '%s' 2>/dev/null", path) == 0) return path;
    /* about 400 KB of fortunes: the sayings that are not poems or art */
    if (test_system("cat /usr/share/games/fortunes/fortunes /usr/share/games/fortunes/wisdom "
                    "/usr/share/games/fortunes/people /usr/share/games/fortunes/science > '%s' 2>/dev/null",
                    path) == 0)
        return path;
    free(path);
    return NULL;
}
