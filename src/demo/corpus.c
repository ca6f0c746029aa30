/* corpus.c — see corpus.h. */
#include "corpus.h"

#include <stdlib.h>
#include <string.h>

#include "../base/rng.h"
#include "../base/util.h"

void corpus_group_lines(const StrList *lines, int per_document, const char *separator, StrList *documents) {
    for (int i = 0; i < lines->n; i += per_document) {
        StrBuf doc = {0};
        for (int j = i; j < lines->n && j < i + per_document; j++) {
            if (j > i) strbuf_append(&doc, separator);
            strbuf_append(&doc, lines->items[j]);
        }
        strlist_take(documents, strbuf_take(&doc));
    }
}

/* Writes a document as a .txt corpus holds it (text_documents, input_check.h):
 * its lines without the blank ones, which would split it (a fortune's or a
 * chapter's paragraphs stay one document), then a blank line. f may be NULL.
 * Returns the bytes it takes. */
static size_t write_document(FILE *f, const char *doc) {
    size_t size = 0;
    for (const char *line = doc; *line;) {
        size_t n = strcspn(line, "\n"), i = 0;
        while (i < n && strchr(" \t\r\f\v", line[i])) i++;
        if (i < n) { /* not blank */
            if (f) {
                fwrite(line, 1, n, f);
                fputc('\n', f);
            }
            size += n + 1;
        }
        line += n + (line[n] == '\n');
    }
    if (f) fputc('\n', f);
    return size + 1;
}

static size_t written_size(const char *doc) { return write_document(NULL, doc); }

static void write_documents(const char *path, const char **docs, int n, Rng *rng) {
    int *order = xmalloc((size_t)(n + 1) * sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    rng_shuffle_ints(rng, order, n);
    AtomicFile af = atomic_open(path);
    for (int i = 0; i < n; i++) write_document(af.f, docs[order[i]]);
    atomic_commit(&af);
    free(order);
}

void corpus_write(const char *train_path, const char *heldout_path, CorpusSource *sources, int n_sources,
                  const StrList *fact_documents, size_t max_bytes, double heldout_frac, uint64_t seed,
                  CorpusStats *stats) {
    *stats = (CorpusStats){0};
    for (int i = 0; i < fact_documents->n; i++) stats->fact_bytes += written_size(fact_documents->items[i]);
    size_t heldout_budget = (size_t)(heldout_frac * (double)max_bytes);
    size_t train_budget = max_bytes - heldout_budget;
    if (stats->fact_bytes > train_budget)
        warn("the fact sentences alone (%.2f MB) exceed the training text's share of the cap (%.2f MB); "
             "they are all kept", (double)stats->fact_bytes / 1e6, (double)train_budget / 1e6);
    size_t natural_budget = train_budget > stats->fact_bytes ? train_budget - stats->fact_bytes : 0;

    int total_docs = fact_documents->n;
    for (int s = 0; s < n_sources; s++) total_docs += sources[s].documents->n;
    const char **train = xmalloc((size_t)(total_docs + 1) * sizeof(char *));
    const char **heldout = xmalloc((size_t)(total_docs + 1) * sizeof(char *));
    int n_train = 0, n_heldout = 0;
    for (int i = 0; i < fact_documents->n; i++) train[n_train++] = fact_documents->items[i];

    for (int s = 0; s < n_sources; s++) {
        CorpusSource *src = &sources[s];
        Rng rng;
        rng_seed(&rng, seed ^ str_hash(src->name));
        int n = src->documents->n;
        int *order = xmalloc((size_t)(n + 1) * sizeof(int));
        for (int i = 0; i < n; i++) order[i] = i;
        rng_shuffle_ints(&rng, order, n);
        size_t want_heldout = (size_t)(src->weight * (double)heldout_budget);
        size_t want_train = (size_t)(src->weight * (double)natural_budget);
        size_t available = 0;
        for (int i = 0; i < n; i++) available += written_size(src->documents->items[i]);
        if (available < want_heldout + want_train) { /* a small source is split in the same ratio */
            double scale = (double)available / (double)(want_heldout + want_train);
            want_heldout = (size_t)(scale * (double)want_heldout);
            want_train = available - want_heldout;
        }
        src->train_bytes = src->heldout_bytes = 0;
        /* A document that does not fit is skipped; a shorter one later may. */
        for (int i = 0; i < n; i++) {
            const char *doc = src->documents->items[order[i]];
            size_t size = written_size(doc);
            if (src->heldout_bytes + size <= want_heldout) {
                heldout[n_heldout++] = doc;
                src->heldout_bytes += size;
            } else if (src->train_bytes + size <= want_train) {
                train[n_train++] = doc;
                src->train_bytes += size;
            }
        }
        stats->train_bytes += src->train_bytes;
        stats->heldout_bytes += src->heldout_bytes;
        free(order);
    }
    stats->train_bytes += stats->fact_bytes;
    stats->train_documents = n_train;
    stats->heldout_documents = n_heldout;

    Rng rng;
    rng_seed(&rng, seed ^ str_hash("corpus order"));
    write_documents(train_path, train, n_train, &rng);
    write_documents(heldout_path, heldout, n_heldout, &rng);
    free(train);
    free(heldout);
}
