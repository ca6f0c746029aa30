/* eval_tokens.c — `lmforge eval MODEL --tokens 1,2,3` / `--tokens-file F`:
 * the loss of a model on token ids given directly, for checkpoints without
 * a tokenizer (and for comparing with other programs token by token). Each
 * sequence is run on its own from its first token; every token after the
 * first is predicted. With JSON output each sequence's per-token log-probs
 * are printed too. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/intvec.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "eval_tokens.h"

/* Parses "1,2, 3 4" into ids; returns NULL, or a reason (static buffer). */
static const char *parse_ids(const char *s, int vocab_size, IntVec *out) {
    static char why[160];
    const char *p = s;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (!isdigit((unsigned char)*p) && *p != '-') {
            snprintf(why, sizeof why, "\"%.20s\" is not a token id", p);
            return why;
        }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || (*end && *end != ',' && !isspace((unsigned char)*end))) {
            snprintf(why, sizeof why, "\"%.*s\" is not a token id", (int)LMF_MIN(strcspn(p, ", \t\r\n"), 20), p);
            return why;
        }
        if (v < 0 || v >= vocab_size) {
            snprintf(why, sizeof why, "token id %ld is outside the vocabulary (0 to %d)", v, vocab_size - 1);
            return why;
        }
        intvec_push(out, (int)v);
        p = end;
    }
    return NULL;
}

/* The sequences, each checked against the model; dies naming the flag or the file's line. */
static int read_sequences(const char *tokens, const char *tokens_file, const ModelConfig *c, IntVec **out) {
    IntVec *seqs = NULL;
    int n = 0;
    if (tokens) {
        seqs = xcalloc(1, sizeof(IntVec));
        const char *why = parse_ids(tokens, c->vocab_size, &seqs[0]);
        if (why) die("eval: --tokens: %s", why);
        n = 1;
    } else {
        FILE *f = xfopen(tokens_file, "r");
        char *line = NULL;
        size_t cap = 0;
        int lineno = 0;
        while (getline(&line, &cap, f) >= 0) {
            lineno++;
            IntVec v = {0};
            const char *why = parse_ids(line, c->vocab_size, &v);
            if (why) die_at(tokens_file, lineno, "%s", why);
            if (v.len == 0) continue; /* blank lines separate nothing */
            if (v.len < 2) die_at(tokens_file, lineno, "a sequence needs at least 2 tokens (one to predict)");
            if (v.len > c->max_seq_len)
                die_at(tokens_file, lineno, "%d tokens, above the model's context of %d", v.len, c->max_seq_len);
            seqs = xrealloc(seqs, sizeof(IntVec) * (size_t)(n + 1));
            seqs[n++] = v;
        }
        free(line);
        fclose(f);
        if (n == 0) die("eval: %s holds no token ids", tokens_file);
    }
    if (tokens && seqs[0].len < 2) die("eval: --tokens: a sequence needs at least 2 tokens (one to predict)");
    if (tokens && seqs[0].len > c->max_seq_len)
        die("eval: --tokens: %d tokens, above the model's context of %d", seqs[0].len, c->max_seq_len);
    *out = seqs;
    return n;
}

/* log p(ids[t+1] | ids[..t]) for t < len-1 into lp. */
static void sequence_logprobs(Model *m, const IntVec *ids, double *lp) {
    const int T = ids->len, V = m->cfg.vocab_size;
    model_forward(m, ids->data, NULL, 1, T, 0);
    for (int t = 0; t + 1 < T; t++) {
        const float *x = m->act.out + (size_t)t * V; /* (V) logits at position t */
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) /* a comparison, not fmax: arm64 gcc 12 crashes vectorising fmax at -O3 */
            if (x[v] > mx) mx = x[v];
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        lp[t] = x[ids->data[t + 1]] - mx - log(sum);
    }
}

int eval_token_sequences(const char *model_dir, const char *tokens, const char *tokens_file, int json) {
    ModelDir ck = model_dir_load(model_dir);
    Model *m = ck.model;
    if (m->cfg.head != HEAD_LM) die("eval: %s has a score head, not a language-model head", model_dir);
    IntVec *seqs;
    int n = read_sequences(tokens, tokens_file, &m->cfg, &seqs);
    double total = 0;
    long counted = 0;
    if (json) printf("{\"sequences\": [");
    for (int i = 0; i < n; i++) {
        double *lp = xmalloc(sizeof(double) * (size_t)seqs[i].len);
        sequence_logprobs(m, &seqs[i], lp);
        double sum = 0;
        for (int t = 0; t + 1 < seqs[i].len; t++) sum += lp[t];
        total += sum;
        counted += seqs[i].len - 1;
        if (json) {
            printf("%s{\"loss\": %.6f, \"logprobs\": [", i ? ", " : "", -sum / (seqs[i].len - 1));
            for (int t = 0; t + 1 < seqs[i].len; t++) printf("%s%.7g", t ? ", " : "", lp[t]);
            printf("]}");
        }
        free(lp);
        intvec_free(&seqs[i]);
    }
    const double loss = -total / (double)counted;
    if (json)
        printf("], \"loss\": %.6f, \"perplexity\": %.6f, \"tokens\": %ld}\n", loss, exp(loss), counted);
    else
        printf("loss %.6f  perplexity %.4f  (%ld tokens predicted, %d sequence%s)\n", loss, exp(loss), counted, n,
               n == 1 ? "" : "s");
    free(seqs);
    model_dir_free(&ck);
    return 0;
}
