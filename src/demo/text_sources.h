/* text_sources.h — the plain text of the demo's pretraining corpus, read
 * from Debian packages: the King James Bible (bible-kjv) and the fortune
 * cookie files (fortunes, fortunes-min). */
#ifndef LMF_DEMO_TEXT_SOURCES_H
#define LMF_DEMO_TEXT_SOURCES_H

#include "strutil.h"

/* The command whose output bible_load reads when no dump file is given. */
#define BIBLE_COMMAND "bible -f gen1:1-rev22:21"

/* One document per chapter, one verse a line, verse references removed.
 * dump_file holds the output of BIBLE_COMMAND; NULL runs the command. */
void bible_load_chapters(const char *dump_file, StrList *chapters);

/* One document per fortune, from every fortune file (strfile source format:
 * entries separated by lines holding a single '%') in dir. Left out: the
 * .dat indexes, the .u8 links, subdirectories (off/ holds the offensive
 * ones), ascii-art (pictures, not prose) and files mostly in non-ASCII
 * script (the Chinese collections of fortunes-zh). */
void fortunes_load(const char *dir, StrList *fortunes);

/* Appends the sentences of a document to out: the text up to each end mark
 * (. ! ? or : followed by white space or the end: a fortune's "Heller's Law:"
 * heads a sentence that other fortunes quote alone), with line breaks and
 * runs of spaces collapsed to single spaces. */
void split_sentences(const char *document, StrList *out);
/* 1 if a sentence (as split_sentences gives it) is plain and has min_words
 * to max_words words: it starts with a capital letter, ends with . ! or ?,
 * and holds only ASCII letters, digits, spaces and , ; ' - inside. */
int is_plain_sentence(const char *sentence, int min_words, int max_words);

#endif
