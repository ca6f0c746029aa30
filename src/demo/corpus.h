/* corpus.h — assembles the pretraining text: documents from several sources
 * mixed in set proportions, plus the fact sentences, cut to a size cap, and
 * a held-out part for perplexity drawn from documents training never sees.
 *
 * The output files are plain text, one document after another, separated by
 * a blank line, in shuffled order, so that any prefix of the training file
 * has the same mixture as the whole. */
#ifndef LMF_DEMO_CORPUS_H
#define LMF_DEMO_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "strutil.h"

typedef struct {
    const char *name;         /* "bible" */
    const StrList *documents;
    double weight;            /* its share of the natural text; the weights sum to 1 */
    size_t train_bytes, heldout_bytes; /* filled in by corpus_write */
} CorpusSource;

typedef struct {
    size_t train_bytes, heldout_bytes, fact_bytes;
    int train_documents, heldout_documents;
} CorpusStats;

/* Joins every `per_document` consecutive lines into one document (the last may be shorter). */
void corpus_group_lines(const StrList *lines, int per_document, const char *separator, StrList *documents);

/* Writes train_path and heldout_path. Together they hold at most max_bytes:
 * heldout_frac of it natural text for the held-out file, the rest the fact
 * documents (all of them, whatever their size) and natural text for
 * training. Each source gets its weight's share of each file (a source too
 * small for its share is split between them in the same ratio); a document
 * is in one file at most. */
void corpus_write(const char *train_path, const char *heldout_path, CorpusSource *sources, int n_sources,
                  const StrList *fact_documents, size_t max_bytes, double heldout_frac, uint64_t seed,
                  CorpusStats *stats);

#endif
