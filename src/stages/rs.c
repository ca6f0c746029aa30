/* rs.c — rejection sampling, as in Llama 2 and 3.1: the model answers each
 * prompt K times, the reward model scores every answer, and the best answer
 * becomes new SFT data, the best and the worst a new preference pair.
 *
 * OUT/sft.jsonl      {"messages": [...prompt, {"role":"assistant","content": best}], "score"}
 * OUT/pairs.jsonl    {"prompt", "chosen", "rejected", "chosen_score", "rejected_score"}
 *                    (a pair whose scores differ by less than --min-gap is dropped and counted)
 * OUT/samples.jsonl  {"prompt", "responses": [...], "scores": [...]}: every answer, for best-of-n curves
 * Ties go to the earlier answer, so the choice is deterministic for a seed. */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../base/jsonl.h"
#include "../data/preference_pairs.h"
#include "../data/selection.h"
#include "../io/model_dir.h"
#include "../train/rollout.h"
#include "sample_progress.h"
#include "stages.h"

/* The index of the best (or worst) of k scores; ties go to the earlier one. */
int rs_pick(const float *scores, int k, int best) {
    int pick = 0;
    for (int i = 1; i < k; i++)
        if (best ? scores[i] > scores[pick] : scores[i] < scores[pick]) pick = i;
    return pick;
}

static cJSON *float_array(const float *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

int cmd_rs(int argc, char **argv) {
    const char *out = NULL;
    int seed = 1, limit = 0, shuffle = 0;
    float min_gap = 0.0f;
    SampleOptions so = sample_options_default();
    so.n_samples = 8;
    so.max_new_tokens = 64;
    Option opts[] = {
        OPT_INT("n", &so.n_samples, "answers per prompt (K)"),
        OPT_STR("out", &out, "output folder: sft.jsonl, pairs.jsonl, samples.jsonl (required)"),
        OPT_FLOAT("min-gap", &min_gap, "drop a pair whose best and worst scores differ by less than this"),
        OPT_FLOAT("temperature", &so.temperature, "sampling temperature"),
        SAMPLE_ANSWER_OPTIONS(&so, &seed),
        SELECTION_OPTIONS(&limit, &shuffle, "prompts"),
        OPT_END};
    char **pos;
    int npos = args_parse("rs", "MODEL REWARD_MODEL PROMPTS.jsonl",
                          "Rejection sampling: K answers per prompt, scored by the reward model; the best becomes SFT "
                          "data, the best and the worst a preference pair.",
                          opts, argc, argv, &pos);
    if (npos != 3) die("rs: expected MODEL REWARD_MODEL PROMPTS.jsonl (see lmforge rs --help)");
    if (!out) die("rs: --out DIR is required");
    const int n = so.n_samples;
    if (n < 2) die("rs: --n must be at least 2 (a best and a worst answer)");
    ModelDir ck = model_dir_load(pos[0]);
    if (ck.model->cfg.head != HEAD_LM || !ck.tokenizer) die("rs: %s is not a language model with a tokenizer", pos[0]);
    ModelDir rm = model_dir_load(pos[1]);
    if (rm.model->cfg.head != HEAD_SCORE) die("rs: %s is not a reward model (it has no score head)", pos[1]);
    if (!rm.tokenizer || tokenizer_fingerprint(rm.tokenizer) != tokenizer_fingerprint(ck.tokenizer))
        die("rs: the reward model %s uses another tokenizer than %s", pos[1], pos[0]);
    int n_read, n_prompts;
    Conversation *prompts = load_prompts(pos[2], &n_read);
    int *which = selection_make(n_read, limit, shuffle, (uint64_t)seed, &n_prompts);

    RenderedPrompts rendered = render_prompts(ck.tokenizer, prompts, which, n_prompts);
    fit_rendered_prompts(pos[2], &rendered, ck.model->cfg.max_seq_len, so.max_new_tokens); /* the length policy */
    so.seed = (uint64_t)seed;
    int total = n_prompts * n;
    double t = now_seconds();
    SampleProgress sp;
    sample_progress_start(&sp, &so, total);
    Generation *g = sample_answers(ck.model, ck.tokenizer, &rendered, so);
    sample_progress_finish(&sp);
    double t_gen = now_seconds() - t;

    /* score prompt + answer, as the reward model was trained to read them */
    Rollout answered = rollout_of_generations(n_prompts, rendered.tokens, rendered.lens, g, n);
    float *scores = xmalloc(sizeof(float) * (size_t)total);
    t = now_seconds();
    rollout_scores(rm.model, &answered, scores);
    double t_score = now_seconds() - t;
    rollout_free(&answered);

    make_dirs(out);
    char *p_sft = path_join(out, "sft.jsonl"), *p_pairs = path_join(out, "pairs.jsonl"), *p_all = path_join(out, "samples.jsonl");
    JsonlWriter *w_sft = jsonl_writer_open(p_sft), *w_pairs = jsonl_writer_open(p_pairs), *w_all = jsonl_writer_open(p_all);
    const char **texts = xmalloc(sizeof(char *) * (size_t)n);
    long dropped = 0, identical = 0;
    int blank_best = 0; /* prompts whose best answer is empty: no SFT example */
    double mean_best = 0, mean_all = 0;
    for (int i = 0; i < n_prompts; i++) {
        const float *sc = scores + (size_t)i * n;
        int best = rs_pick(sc, n, 1), worst = rs_pick(sc, n, 0);
        for (int k = 0; k < n; k++) {
            texts[k] = g[i * n + k].text;
            mean_all += sc[k];
        }
        mean_best += sc[best];

        cJSON *sft = cJSON_CreateObject(), *messages = conversation_to_json(&prompts[which[i]]);
        if (cJSON_IsString(messages)) { /* a plain prompt becomes its user message */
            cJSON *list = cJSON_CreateArray(), *user = cJSON_CreateObject();
            cJSON_AddStringToObject(user, "role", "user");
            cJSON_AddItemToObject(user, "content", messages);
            cJSON_AddItemToArray(list, user);
            messages = list;
        }
        cJSON *answer = cJSON_CreateObject();
        cJSON_AddStringToObject(answer, "role", "assistant");
        cJSON_AddStringToObject(answer, "content", texts[best]);
        cJSON_AddItemToArray(messages, answer);
        cJSON_AddItemToObject(sft, "messages", messages);
        cJSON_AddNumberToObject(sft, "score", sc[best]);
        /* sft refuses an empty answer (README: Reliability): leave it out here */
        if (preference_answer_is_blank(texts[best])) blank_best++;
        else jsonl_write(w_sft, sft);
        cJSON_Delete(sft);

        if (strcmp(texts[best], texts[worst]) == 0 || preference_answer_is_blank(texts[best]) ||
            preference_answer_is_blank(texts[worst]))
            identical++;
        else if (sc[best] - sc[worst] < min_gap) dropped++;
        else {
            cJSON *pair = cJSON_CreateObject();
            cJSON_AddItemToObject(pair, "prompt", conversation_to_json(&prompts[which[i]]));
            cJSON_AddStringToObject(pair, "chosen", texts[best]);
            cJSON_AddStringToObject(pair, "rejected", texts[worst]);
            cJSON_AddNumberToObject(pair, "chosen_score", sc[best]);
            cJSON_AddNumberToObject(pair, "rejected_score", sc[worst]);
            jsonl_write(w_pairs, pair);
            cJSON_Delete(pair);
        }

        cJSON *all = cJSON_CreateObject();
        cJSON_AddItemToObject(all, "prompt", conversation_to_json(&prompts[which[i]]));
        cJSON_AddItemToObject(all, "responses", cJSON_CreateStringArray(texts, n));
        cJSON_AddItemToObject(all, "scores", float_array(sc, n));
        jsonl_write(w_all, all);
        cJSON_Delete(all);
    }
    jsonl_writer_close(w_sft);
    jsonl_writer_close(w_pairs);
    jsonl_writer_close(w_all);
    info("rs: %d prompts x %d answers (generation %.1fs, scoring %.1fs); mean score %.4f, mean best %.4f", n_prompts, n,
         t_gen, t_score, mean_all / total, mean_best / n_prompts);
    info("rs: %d SFT examples in %s (%d empty best answers left out); %ld pairs in %s (%ld dropped below --min-gap %g, "
         "%ld with identical or empty answers)",
         n_prompts - blank_best, p_sft, blank_best, n_prompts - dropped - identical, p_pairs, dropped, (double)min_gap, identical);
    free(scores);
    free(texts);
    free(p_sft);
    free(p_pairs);
    free(p_all);
    generations_free(g, total);
    free(g);
    rendered_prompts_free(&rendered);
    for (int i = 0; i < n_read; i++) conversation_free(&prompts[i]);
    free(prompts);
    free(which);
    free(pos);
    model_dir_free(&ck);
    model_dir_free(&rm);
    return 0;
}
