/* reward_model.c — see reward_model.h. */
#include "reward_model.h"

#include <stdlib.h>
#include <string.h>

#include "../base/json_util.h"
#include "../base/rng.h"
#include "../base/util.h"
#include "rm_loss.h"

/* Tokens per forward pass when scoring with a model that has not run yet;
 * afterwards, the size of its activation buffers (so scoring between
 * training steps never grows them). */
enum { SCORE_TOKENS_PER_PASS = 8192 };

/* The score of the sequence placed at p: the head's output at its last token. */
static float score_at(const Model *m, const SeqPlace *p) {
    return m->act.out[(size_t)p->row * m->act.T + p->start + p->len - 1];
}

void rm_score_sequences(Model *rm, const SeqRef *seqs, int n, float *scores) {
    if (rm->cfg.head != HEAD_SCORE)
        die("scoring needs a reward model (a score head); this model has a language-model head");
    if (n <= 0) return;
    int longest = 0;
    for (int i = 0; i < n; i++) longest = LMF_MAX(longest, seqs[i].len);
    if (longest > rm->cfg.max_seq_len)
        die("a sequence of %d tokens is longer than the reward model's context (%d)", longest, rm->cfg.max_seq_len);
    /* A fixed budget, not the activations' current capacity: which sequences share a pass must follow from
     * the sequences alone, or a run resumed from a checkpoint (a fresh model) scores them otherwise than the
     * uninterrupted one (a model that has seen other batches) */
    int rows = LMF_MAX(1, SCORE_TOKENS_PER_PASS / longest);
    Batch b = {0};
    SeqPlace *places = xmalloc(sizeof(SeqPlace) * (size_t)n);
    for (int done = 0; done < n;) {
        int placed = pack_sequences(&b, seqs + done, n - done, rows, longest, 1, 0, places);
        model_forward(rm, b.tokens, b.doc_start, b.B, b.T, 0);
        for (int s = 0; s < placed; s++) scores[done + s] = score_at(rm, &places[s]);
        done += placed;
    }
    free(places);
    batch_free(&b);
}

RmEval rm_evaluate(Model *rm, const PreferenceSet *data, const int *groups, int n_groups) {
    int n_seqs = 0;
    for (int i = 0; i < n_groups; i++) n_seqs += data->groups[groups[i]].n_seqs;
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)LMF_MAX(n_seqs, 1));
    float *scores = xmalloc(sizeof(float) * (size_t)LMF_MAX(n_seqs, 1));
    for (int i = 0, s = 0; i < n_groups; i++) {
        const PrefGroup *g = &data->groups[groups[i]];
        for (int k = 0; k < g->n_seqs; k++) seqs[s++] = seq_set_get(&data->seqs, g->first_seq + k);
    }
    rm_score_sequences(rm, seqs, n_seqs, scores);
    RmPairStats stats = {0};
    double loss = 0;
    for (int i = 0, s = 0; i < n_groups; i++) {
        const PrefGroup *g = &data->groups[groups[i]];
        loss += rm_pairs_loss(scores + s, data->pairs + g->first_pair, g->n_pairs, 0, NULL, &stats);
        s += g->n_seqs;
    }
    free(seqs);
    free(scores);
    RmEval e = {0};
    if (n_groups == 0) return e;
    e.loss = loss / n_groups;
    e.accuracy = stats.correct / (double)stats.pairs;
    e.margin = stats.margin_sum / (double)stats.pairs;
    e.pairs = stats.pairs;
    e.prompts = n_groups;
    return e;
}

/* ---- the training objective ---- */

/* What one micro-batch holds: which prompts, and where their sequences went. */
typedef struct {
    int *groups; /* (n_groups) indices into the data's groups */
    int n_groups;
    SeqRef *seqs;     /* (n_seqs) the prompts' responses, prompt after prompt */
    SeqPlace *places; /* (n_seqs) */
    int n_seqs, cap_groups, cap_seqs;
} RmBatch;

struct RmObjective {
    RmTrainData d;
    int epoch, cursor; /* the next prompt is order[cursor] of epoch `epoch` */
    int *order;        /* (d.n_groups) this epoch's shuffled prompts */
    RmBatch **batches; /* every RmBatch handed out through Batch.aux, freed at the end */
    int n_batches;
};

/* The order of the prompts in an epoch: a shuffle seeded by (seed, epoch),
 * so that a resumed run can recompute it. */
static void shuffle_for_epoch(RmObjective *o) {
    for (int i = 0; i < o->d.n_groups; i++) o->order[i] = o->d.groups[i];
    Rng r;
    rng_seed(&r, o->d.seed * 1000003ULL + (uint64_t)o->epoch);
    rng_shuffle_ints(&r, o->order, o->d.n_groups);
}

RmObjective *rm_objective_new(const RmTrainData *d) {
    if (d->n_groups < 1) die("reward model: no training prompts");
    if (d->prompts_per_batch < 1) die("reward model: --batch must be at least 1");
    if (d->epochs < 1) die("reward model: --epochs must be at least 1");
    for (int i = 0; i < d->data->seqs.n; i++)
        if (d->data->seqs.len[i] > d->seq_len)
            die("reward model: a sequence of %d tokens does not fit in rows of %d", d->data->seqs.len[i], d->seq_len);
    RmObjective *o = xcalloc(1, sizeof *o);
    o->d = *d;
    o->order = xmalloc(sizeof(int) * (size_t)d->n_groups);
    shuffle_for_epoch(o);
    return o;
}

void rm_objective_free(RmObjective *o) {
    if (!o) return;
    for (int i = 0; i < o->n_batches; i++) {
        RmBatch *rb = o->batches[i];
        free(rb->groups);
        free(rb->seqs);
        free(rb->places);
        free(rb);
    }
    free(o->batches);
    free(o->order);
    free(o);
}

long rm_objective_steps(const RmObjective *o, int grad_accum) {
    long prompts = (long)o->d.epochs * o->d.n_groups, per_step = (long)o->d.prompts_per_batch * grad_accum;
    return (prompts + per_step - 1) / per_step;
}

/* The RmBatch behind b, made on b's first use. */
static RmBatch *rm_batch_of(RmObjective *o, Batch *b) {
    if (!b->aux) {
        o->batches = xrealloc(o->batches, sizeof(RmBatch *) * (size_t)(o->n_batches + 1));
        b->aux = o->batches[o->n_batches++] = xcalloc(1, sizeof(RmBatch));
    }
    return b->aux;
}

static void rm_batch_add_group(RmBatch *rb, const PreferenceSet *data, int group) {
    const PrefGroup *g = &data->groups[group];
    if (rb->n_groups == rb->cap_groups) {
        rb->cap_groups = LMF_MAX(8, 2 * rb->cap_groups);
        rb->groups = xrealloc(rb->groups, sizeof(int) * (size_t)rb->cap_groups);
    }
    if (rb->n_seqs + g->n_seqs > rb->cap_seqs) {
        rb->cap_seqs = LMF_MAX(rb->n_seqs + g->n_seqs, 2 * rb->cap_seqs);
        rb->seqs = xrealloc(rb->seqs, sizeof(SeqRef) * (size_t)rb->cap_seqs);
        rb->places = xrealloc(rb->places, sizeof(SeqPlace) * (size_t)rb->cap_seqs);
    }
    rb->groups[rb->n_groups++] = group;
    for (int k = 0; k < g->n_seqs; k++) rb->seqs[rb->n_seqs++] = seq_set_get(&data->seqs, g->first_seq + k);
}

static int rm_next_batch(void *ctx, Batch *b) {
    RmObjective *o = ctx;
    RmBatch *rb = rm_batch_of(o, b);
    rb->n_groups = rb->n_seqs = 0;
    while (rb->n_groups < o->d.prompts_per_batch && o->epoch < o->d.epochs) {
        rm_batch_add_group(rb, o->d.data, o->order[o->cursor++]);
        if (o->cursor == o->d.n_groups) {
            o->epoch++;
            o->cursor = 0;
            shuffle_for_epoch(o);
        }
    }
    if (rb->n_groups == 0) return 0;
    /* rows of seq_len, or one row just long enough when all fit in it; as
     * many rows as sequences, so that every sequence of the batch is placed */
    long total = 0;
    for (int s = 0; s < rb->n_seqs; s++) total += rb->seqs[s].len;
    int T = (int)LMF_MIN((long)o->d.seq_len, total);
    pack_sequences(b, rb->seqs, rb->n_seqs, rb->n_seqs, T, o->d.packed, 0, rb->places);
    b->weight = rb->n_groups;
    return 1;
}

static double rm_loss_and_grad(void *ctx, Model *m, const Batch *b, double norm, StepStats *stats) {
    RmObjective *o = ctx;
    const RmBatch *rb = b->aux;
    const PreferenceSet *data = o->d.data;
    float *scores = xmalloc(sizeof(float) * (size_t)rb->n_seqs), *dscores = xcalloc((size_t)rb->n_seqs, sizeof(float));
    for (int s = 0; s < rb->n_seqs; s++) scores[s] = score_at(m, &rb->places[s]);
    double loss = 0;
    for (int i = 0, s = 0; i < rb->n_groups; i++) {
        const PrefGroup *g = &data->groups[rb->groups[i]];
        RmPairStats ps = {0};
        loss += rm_pairs_loss(scores + s, data->pairs + g->first_pair, g->n_pairs, 1.0 / norm, dscores + s, &ps);
        stats_add(stats, "rm/accuracy", ps.correct / (double)ps.pairs);
        stats_add(stats, "rm/margin", ps.margin_sum / (double)ps.pairs);
        s += g->n_seqs;
    }
    /* ∂loss/∂out: the scored tokens get their score's gradient, the rest 0 */
    memset(m->act.out, 0, sizeof(float) * (size_t)m->act.B * m->act.T);
    for (int s = 0; s < rb->n_seqs; s++) {
        const SeqPlace *p = &rb->places[s];
        m->act.out[(size_t)p->row * m->act.T + p->start + p->len - 1] = dscores[s];
    }
    free(scores);
    free(dscores);
    return loss;
}

static void rm_evaluate_heldout(void *ctx, Model *m, StepStats *stats) {
    RmObjective *o = ctx;
    RmEval e = rm_evaluate(m, o->d.eval_data, o->d.eval_groups, o->d.n_eval);
    stats_add(stats, "eval/loss", e.loss);
    stats_add(stats, "eval/accuracy", e.accuracy);
    stats_add(stats, "eval/margin", e.margin);
}

static cJSON *rm_save_state(void *ctx) {
    RmObjective *o = ctx;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", o->epoch);
    cJSON_AddNumberToObject(j, "cursor", o->cursor);
    cJSON_AddNumberToObject(j, "prompts", o->d.n_groups);
    return j;
}

static void rm_load_state(void *ctx, const cJSON *state) {
    RmObjective *o = ctx;
    const char *where = "trainer_state.json: data";
    if (json_get_int(state, "prompts", where) != o->d.n_groups)
        die("%s: the run had %d training prompts, this one has %d; resume with the same data and flags", where,
            json_get_int(state, "prompts", where), o->d.n_groups);
    o->epoch = json_get_int(state, "epoch", where);
    o->cursor = json_get_int(state, "cursor", where);
    if (o->epoch < 0 || o->cursor < 0 || o->cursor >= o->d.n_groups) die("%s: field \"cursor\" is out of range", where);
    shuffle_for_epoch(o);
}

Objective rm_objective(RmObjective *o) {
    return (Objective){.ctx = o,
                       .next_batch = rm_next_batch,
                       .loss_and_grad = rm_loss_and_grad,
                       .evaluate = o->d.n_eval ? rm_evaluate_heldout : NULL,
                       .save_state = rm_save_state,
                       .load_state = rm_load_state,
                       .progress_keys = "rm/accuracy,rm/margin"};
}
