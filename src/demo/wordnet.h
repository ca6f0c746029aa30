/* wordnet.h — reads WordNet 3.0 (Debian package wordnet-base,
 * /usr/share/wordnet) for the demo: the words people use most, each with
 * the short definition of its commonest sense, and every gloss as text.
 *
 * Files read, for nouns, verbs and adjectives:
 *   data.POS     one synset a line: "offset lex type n_words word lex_id ... | gloss"
 *   index.POS    one lemma a line, its synset offsets commonest sense first
 *   cntlist.rev  "lemma%sense_key sense_number tag_count": how often each sense
 *                was tagged in the SemCor corpus, our measure of frequency */
#ifndef LMF_DEMO_WORDNET_H
#define LMF_DEMO_WORDNET_H

#include "strutil.h"

typedef struct {
    char *lemma;      /* as WordNet writes it: "dog", "ice_cream" */
    char pos;         /* its commonest part of speech: 'n', 'v' or 'a' */
    long count;       /* SemCor tags of its senses in that part of speech */
    char *definition; /* first clause of the commonest sense's gloss, remarks in parentheses removed */
    int definition_words;
} WordNetWord;

typedef struct {
    WordNetWord *words; /* commonest first (ties by lemma); only lemmas SemCor tagged */
    int n_words;
    /* Every synset as "word, other word: gloss", in the order of the data files. */
    StrList entries;
} WordNet;

/* Dies naming the file, and the package to install if dir is missing. */
WordNet *wordnet_load(const char *dir);
void wordnet_free(WordNet *wn);

/* The first clause of a gloss, up to a ';' outside parentheses, with the
 * parenthesised remarks removed and spaces collapsed. Caller frees. */
char *wordnet_short_definition(const char *gloss);

#endif
