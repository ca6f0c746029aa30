/* test_rm_model.c — the reward model's objective through the shared model:
 * the gradient of the loss with respect to every parameter (score head
 * included) against finite differences, packed and padded batches, batched
 * scoring, the per-prompt normalisation of a step, and exact resume. */
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/train/reward_model.h"
#include "../src/train/rm_loss.h"
#include "test.h"
#include "test_rm_util.h"

static const char *const PREFS =
    "{\"prompt\": \"Which answer is better?\", \"responses\": [\"the first\", \"the second one\", \"the dog\"], "
    "\"ranking\": [0, [1, 2]]}\n"
    "{\"prompt\": \"What is 2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\", \"margin\": 0.3}\n"
    "{\"prompt\": \"What is the sum of the two numbers?\", \"responses\": [\"7\", \"9\", \"8\", \"the sum\"], "
    "\"ranking\": [2, 0, 3, 1]}\n";

static PreferenceSet *load_prefs(const char *text) {
    char *dir = test_tmpdir("rmmodel"), *path = rm_test_write(dir, "prefs.jsonl", text);
    PreferenceSet *p = preference_set_load((const char *const *)&path, 1, rm_test_tokenizer(), 64, 0.0f);
    test_system("rm -rf '%s'", dir);
    free(path);
    free(dir);
    return p;
}

static RmTrainData train_data(const PreferenceSet *p, const int *groups, int n, int per_batch, int packed) {
    return (RmTrainData){p, groups, n, p, NULL, 0, per_batch, 64, packed, 1, 5};
}

/* Loss of the micro-batch b (normalised by its prompts) after a forward pass;
 * leaves ∂loss/∂out in the model's output. */
static double batch_loss(Model *m, const Objective *obj, const Batch *b) {
    StepStats stats;
    stats_clear(&stats);
    model_forward(m, b->tokens, b->doc_start, b->B, b->T, 1);
    return obj->loss_and_grad(obj->ctx, m, b, b->weight, &stats) / b->weight;
}

/* The mean over prompts of each prompt's mean pair loss, from scores of each
 * sequence computed on its own: what a batch's loss must equal. */
static double loss_one_by_one(Model *m, const PreferenceSet *p, const int *groups, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const PrefGroup *g = &p->groups[groups[i]];
        float scores[8];
        for (int k = 0; k < g->n_seqs; k++) {
            SeqRef s = seq_set_get(&p->seqs, g->first_seq + k);
            model_forward(m, s.ids, NULL, 1, s.len, 0);
            scores[k] = m->act.out[s.len - 1];
        }
        sum += rm_pairs_loss(scores, p->pairs + g->first_pair, g->n_pairs, 0, NULL, NULL);
    }
    return sum / n;
}

TEST(rm_score_head_gradient_matches_finite_differences) {
    PreferenceSet *p = load_prefs(PREFS);
    int groups[2] = {0, 1}; /* a ranking with a tie, a pair with a margin */
    RmTrainData td = train_data(p, groups, 2, 2, 1);
    RmObjective *o = rm_objective_new(&td);
    Objective obj = rm_objective(o);
    Model *m = rm_test_model(HEAD_SCORE, 3);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 4.0f; /* far from the near-constant start */
    model_alloc_grads(m);
    Batch b = {0};
    CHECK(obj.next_batch(obj.ctx, &b));
    CHECK_NEAR(b.weight, 2, 0);
    CHECK(b.doc_start != NULL); /* packed: the two prompts' five responses share rows */

    model_zero_grads(m);
    double loss = batch_loss(m, &obj, &b);
    model_backward(m);
    CHECK_NEAR(loss, loss_one_by_one(m, p, groups, 2), 1e-5);
    double head_grad = 0;
    const ParamTensor *score = model_find_tensor(m, "score.weight");
    for (int j = 0; j < score->cols; j++) head_grad += fabs(m->grads[score->offset + j]);
    CHECK(head_grad > 1e-3);

    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        size_t n = (size_t)t->rows * (t->cols ? (size_t)t->cols : 1);
        double scale = 1e-3;
        for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(m->grads[t->offset + j]));
        for (size_t j = n / 7; j < n; j += (n > 3 ? n / 3 : 1)) {
            float *param = m->params + t->offset + j, saved = *param, h = 2e-3f;
            *param = saved + h;
            double up = batch_loss(m, &obj, &b);
            *param = saved - h;
            double down = batch_loss(m, &obj, &b);
            *param = saved;
            double fd = (up - down) / (2 * h), an = m->grads[t->offset + j];
            CHECK_MSG(fabs(fd - an) <= 3e-2 * scale + 1e-4, "%s[%zu]: analytic %.6g vs finite difference %.6g", t->name,
                      j, an, fd);
        }
    }
    batch_free(&b);
    rm_objective_free(o);
    model_free(m);
    preference_set_free(p);
}

TEST(rm_packed_and_padded_batches_agree) {
    PreferenceSet *p = load_prefs(PREFS);
    int groups[3] = {0, 1, 2};
    double losses[2];
    float *grads[2];
    for (int packed = 0; packed < 2; packed++) {
        RmTrainData td = train_data(p, groups, 3, 3, packed);
        RmObjective *o = rm_objective_new(&td);
        Objective obj = rm_objective(o);
        Model *m = rm_test_model(HEAD_SCORE, 9);
        model_alloc_grads(m);
        Batch b = {0};
        CHECK(obj.next_batch(obj.ctx, &b));
        CHECK(packed ? b.B < 9 : b.B == 9); /* packed: several sequences share a row of 64 */
        model_zero_grads(m);
        losses[packed] = batch_loss(m, &obj, &b);
        model_backward(m);
        grads[packed] = xmalloc(sizeof(float) * m->n_params);
        memcpy(grads[packed], m->grads, sizeof(float) * m->n_params);
        if (packed) {
            CHECK(rel_error(grads[0], grads[1], m->n_params) < 1e-4);
            CHECK_NEAR(losses[0], losses[1], 1e-6);
        }
        batch_free(&b);
        rm_objective_free(o);
        model_free(m);
    }
    free(grads[0]);
    free(grads[1]);
    preference_set_free(p);
}

TEST(rm_batched_scores_equal_scores_one_by_one) {
    PreferenceSet *p = load_prefs(PREFS);
    Model *m = rm_test_model(HEAD_SCORE, 4);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 5.0f;
    int n = p->seqs.n;
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)n);
    float *scores = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) seqs[i] = seq_set_get(&p->seqs, i);
    rm_score_sequences(m, seqs, n, scores);
    for (int i = 0; i < n; i++) {
        model_forward(m, seqs[i].ids, NULL, 1, seqs[i].len, 0);
        CHECK_NEAR(scores[i], m->act.out[seqs[i].len - 1], 1e-4 * fmax(1, fabs(scores[i])));
    }
    /* the response changes the score */
    CHECK(fabs(scores[0] - scores[1]) > 1e-4);
    /* a pass a little smaller than an earlier one (buffers with room to
     * spare, but less than twice) scores the same */
    Model *fresh = rm_test_model(HEAD_SCORE, 4);
    memcpy(fresh->params, m->params, sizeof(float) * m->n_params);
    float three[3], two[2];
    rm_score_sequences(fresh, seqs, 3, three);
    for (int i = 0; i + 1 < n; i++) {
        rm_score_sequences(fresh, seqs + i, 2, two);
        CHECK_NEAR(two[0], scores[i], 1e-4 * fmax(1, fabs(scores[i])));
        CHECK_NEAR(two[1], scores[i + 1], 1e-4 * fmax(1, fabs(scores[i + 1])));
    }
    model_free(fresh);
    free(seqs);
    free(scores);
    model_free(m);
    preference_set_free(p);
}

/* PPO resumed from a checkpoint scores with a freshly loaded reward model, the
 * uninterrupted run with one whose buffers grew on earlier batches: the scores
 * must be the same bits (they once were not on AVX2 builds, where the batches
 * were cut from the buffers' size and a sequence's place changed its sums). */
TEST(rm_scores_do_not_depend_on_the_passes_before) {
    PreferenceSet *p = load_prefs(PREFS);
    Model *fresh = rm_test_model(HEAD_SCORE, 4), *used = rm_test_model(HEAD_SCORE, 4);
    for (size_t i = 0; i < fresh->n_params; i++) fresh->params[i] *= 5.0f;
    memcpy(used->params, fresh->params, sizeof(float) * fresh->n_params);
    int n = p->seqs.n;
    SeqRef *seqs = xmalloc(sizeof(SeqRef) * (size_t)n);
    float *a = xmalloc(sizeof(float) * (size_t)n), *b = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) seqs[i] = seq_set_get(&p->seqs, i);
    rm_score_sequences(fresh, seqs, n, a);
    /* buffers for one sequence, for a few, and for many */
    for (int before = 1; before <= n; before += n / 2) {
        rm_score_sequences(used, seqs + n - before, before, b);
        rm_score_sequences(used, seqs, n, b);
        CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)n) == 0, "after scoring %d sequences, the scores differ", before);
    }
    free(a);
    free(b);
    free(seqs);
    model_free(fresh);
    model_free(used);
    preference_set_free(p);
}

static void score_with(void *model) {
    int ids[3] = {1, 2, 3};
    SeqRef s = {ids, NULL, 3};
    float score;
    rm_score_sequences(model, &s, 1, &score);
}
TEST(rm_scoring_needs_a_score_head) {
    Model *m = rm_test_model(HEAD_LM, 1); /* made here: a forked child must not start OpenMP threads */
    CHECK_DIES(score_with, m, "scoring needs a reward model");
    model_free(m);
}

/* A step of two prompts, one with 6 pairs and one with 1: the step's loss is
 * the mean of the two prompts' losses, not the mean over the 7 pairs. */
TEST(rm_step_loss_averages_prompts_equally) {
    PreferenceSet *p = load_prefs(PREFS);
    int groups[2] = {1, 2}; /* the pair and the strict ranking of four */
    Model *m = rm_test_model(HEAD_SCORE, 21);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 5.0f;
    /* the expected figures, from the untrained model */
    double per_prompt = loss_one_by_one(m, p, groups, 2), pair_loss = loss_one_by_one(m, p, groups, 1);
    double ranking_loss = 2 * per_prompt - pair_loss, per_pair = (pair_loss + 6 * ranking_loss) / 7;
    CHECK(fabs(per_prompt - per_pair) > 1e-3); /* the two normalisations differ here */

    RmTrainData td = train_data(p, groups, 2, 1, 1);
    RmObjective *o = rm_objective_new(&td);
    Objective obj = rm_objective(o);
    TrainConfig tc = train_config_defaults();
    char *dir = test_tmpdir("rmstep");
    tc.stage = "rm";
    tc.run_dir = dir;
    tc.max_steps = 1;
    tc.grad_accum = 2; /* one prompt per micro-batch, both in the one step */
    tc.optim.lr = 0;
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    TrainResult r = trainer_run(m, &obj, &tc);
    lmf_quiet = quiet;
    CHECK_EQ_INT(r.steps, 1);
    CHECK_NEAR(r.last_loss, per_prompt, 1e-5);
    test_system("rm -rf '%s'", dir);
    free(dir);
    rm_objective_free(o);
    model_free(m);
    preference_set_free(p);
}

/* The tokens of the next micro-batch, or NULL at the end of the data. */
static int *next_tokens(const Objective *obj, Batch *b, int *n) {
    if (!obj->next_batch(obj->ctx, b)) return NULL;
    *n = b->B * b->T;
    int *copy = xmalloc(sizeof(int) * (size_t)*n);
    memcpy(copy, b->tokens, sizeof(int) * (size_t)*n);
    return copy;
}

TEST(rm_data_order_resumes_exactly) {
    PreferenceSet *p = load_prefs(PREFS);
    int groups[3] = {0, 1, 2};
    RmTrainData td = train_data(p, groups, 3, 1, 1);
    td.epochs = 3;
    RmObjective *a = rm_objective_new(&td), *b = rm_objective_new(&td);
    CHECK_EQ_INT(rm_objective_steps(a, 1), 9);
    CHECK_EQ_INT(rm_objective_steps(a, 2), 5);
    Objective oa = rm_objective(a), ob = rm_objective(b);
    Batch ba = {0}, bb = {0};
    int n = 0, m = 0;
    for (int i = 0; i < 4; i++) free(next_tokens(&oa, &ba, &n));
    cJSON *state = oa.save_state(oa.ctx);
    ob.load_state(ob.ctx, state);
    cJSON_Delete(state);
    for (int i = 0; i < 5; i++) {
        int *x = next_tokens(&oa, &ba, &n), *y = next_tokens(&ob, &bb, &m);
        CHECK(x && y && n == m && memcmp(x, y, sizeof(int) * (size_t)n) == 0);
        free(x);
        free(y);
    }
    CHECK(next_tokens(&oa, &ba, &n) == NULL); /* three epochs of three prompts */
    batch_free(&ba);
    batch_free(&bb);
    rm_objective_free(a);
    rm_objective_free(b);
    preference_set_free(p);
}
