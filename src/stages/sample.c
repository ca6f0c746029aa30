/* sample.c — `lmforge sample`: K answers to each prompt, written as JSONL
 * ready for annotation, {"prompt": ..., "responses": [...]}: the first step of
 * collecting human (or simulated) rankings for a reward model. The prompt is
 * written back as it was read (a string or a message list), so that an
 * annotator sees exactly what the model answered. */
#include <stdlib.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../data/selection.h"
#include "../base/jsonl.h"
#include "../io/model_dir.h"
#include "../train/rollout.h"
#include "sample_progress.h"
#include "stages.h"

int cmd_sample(int argc, char **argv) {
    const char *out = NULL;
    int seed = 1, limit = 0, shuffle = 0;
    SampleOptions so = sample_options_default();
    so.n_samples = 4;
    so.max_new_tokens = 64;
    Option opts[] = {
        OPT_INT("n", &so.n_samples, "answers per prompt (K)"),
        OPT_STR("out", &out, "the JSONL file to write (required)"),
        OPT_FLOAT("temperature", &so.temperature, "sampling temperature (0: greedy)"),
        SAMPLE_ANSWER_OPTIONS(&so, &seed),
        SELECTION_OPTIONS(&limit, &shuffle, "prompts"),
        OPT_END};
    char **pos;
    int npos = args_parse("sample", "MODEL PROMPTS.jsonl",
                          "K answers per prompt ({\"prompt\"} or {\"messages\"} lines), written as "
                          "{\"prompt\",\"responses\":[...]} lines for annotation.",
                          opts, argc, argv, &pos);
    if (npos != 2) die("sample: expected MODEL PROMPTS.jsonl (see lmforge sample --help)");
    if (!out) die("sample: --out FILE is required");
    const int n = so.n_samples;
    if (n < 1) die("sample: --n must be at least 1");
    ModelDir ck = model_dir_load(pos[0]);
    if (ck.model->cfg.head != HEAD_LM || !ck.tokenizer) die("sample: %s is not a language model with a tokenizer", pos[0]);
    int n_read, n_prompts;
    Conversation *prompts = load_prompts(pos[1], &n_read);
    int *which = selection_make(n_read, limit, shuffle, (uint64_t)seed, &n_prompts);

    RenderedPrompts rendered = render_prompts(ck.tokenizer, prompts, which, n_prompts);
    fit_rendered_prompts(pos[1], &rendered, ck.model->cfg.max_seq_len, so.max_new_tokens); /* the length policy */
    so.seed = (uint64_t)seed;
    double t = now_seconds();
    SampleProgress sp;
    sample_progress_start(&sp, &so, (long)n_prompts * n);
    Generation *g = sample_answers(ck.model, ck.tokenizer, &rendered, so);
    sample_progress_finish(&sp);
    long tokens = 0;
    JsonlWriter *w = jsonl_writer_open(out);
    const char **texts = xmalloc(sizeof(char *) * (size_t)n);
    for (int i = 0; i < n_prompts; i++) {
        for (int k = 0; k < n; k++) {
            texts[k] = g[i * n + k].text;
            tokens += g[i * n + k].n_tokens;
        }
        cJSON *line = cJSON_CreateObject();
        cJSON_AddItemToObject(line, "prompt", conversation_to_json(&prompts[which[i]]));
        cJSON_AddItemToObject(line, "responses", cJSON_CreateStringArray(texts, n));
        jsonl_write(w, line);
        cJSON_Delete(line);
    }
    jsonl_writer_close(w);
    t = now_seconds() - t;
    info("sample: %d prompts x %d answers, %ld tokens in %.1fs (%.0f tokens/s), written to %s", n_prompts, n, tokens, t,
         tokens / t, out);
    free(texts);
    generations_free(g, n_prompts * n);
    free(g);
    rendered_prompts_free(&rendered);
    for (int i = 0; i < n_read; i++) conversation_free(&prompts[i]);
    free(prompts);
    free(which);
    free(pos);
    model_dir_free(&ck);
    return 0;
}
