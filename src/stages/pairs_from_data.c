/* pairs_from_data.c — `lmforge pairs-from-data`: preference pairs from the
 * pretraining and SFT data alone, with no reward model and no annotator:
 * the data's own answer is chosen, the model's sampled answer rejected.
 *
 * This is self-play fine-tuning (SPIN, Chen et al. 2024): DPO on such pairs
 * moves the model towards the data's answers and away from its own, and the
 * next round plays against the improved model (recipes/spin.recipe), until
 * its answers cannot be told from the data's.
 *
 *   chats, prompt/completion lines (.jsonl)  chosen = the data's answer,
 *       rejected = the model's answer to the same prompt (ChatML)
 *       → {"prompt", "chosen", "rejected"}
 *   pretraining text (anything else: .txt files, folders)  cut into pieces
 *       of --prefix-tokens + --continuation-tokens; chosen = the text's
 *       continuation of the prefix, rejected = the model's
 *       → {"prefix", "chosen", "rejected"}: plain text, no chat template
 *
 * A pair whose sample equals the data's answer (after trimming white
 * space), or whose sample is blank, teaches nothing: dropped and counted. */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/jsonl.h"
#include "../base/util.h"
#include "../data/selection.h"
#include "../data/task_prompts.h"
#include "../data/text_data.h"
#include "../io/model_dir.h"
#include "../train/rollout.h"
#include "stages.h"

/* One piece of data: what the model continues, and the data's own continuation. */
typedef struct {
    IntVec ids;       /* the rendered prompt (ChatML) or the prefix tokens */
    char *prompt_json; /* chats: the prompt as written back; NULL for text */
    char *prefix;     /* text: the prefix decoded; NULL for chats */
    char *answer;     /* the data's answer */
} Piece;

/* A prompt that leaves no room for an answer in `context` is cut from its
 * start (the length policy, fit_prompt), with one warning. */
static int chat_pieces(const char *path, const Tokenizer *tok, int context, int room, Piece **out) {
    int n;
    TaskPrompt *tasks = load_task_prompts(path, 1, &n);
    Piece *p = xcalloc((size_t)n, sizeof(Piece));
    Conversation *prompts = xmalloc(sizeof(Conversation) * (size_t)n);
    for (int i = 0; i < n; i++) prompts[i] = tasks[i].prompt;
    prompts_length_report(path, tok, prompts, n, context, room);
    free(prompts);
    for (int i = 0; i < n; i++) {
        render_prompt(tok, &tasks[i].prompt, &p[i].ids);
        fit_prompt(&p[i].ids, context, room);
        cJSON *prompt = conversation_to_json(&tasks[i].prompt);
        p[i].prompt_json = cJSON_PrintUnformatted(prompt);
        cJSON_Delete(prompt);
        p[i].answer = xstrdup(tasks[i].answer);
    }
    task_prompts_free(tasks, n);
    *out = p;
    return n;
}

/* Pieces of prefix_len + cont_len tokens, one after another within each
 * document (a piece never spans the end-of-text between two). */
static int text_pieces(const char *const *inputs, int n_inputs, const Tokenizer *tok, int prefix_len, int cont_len,
                       Piece **out) {
    IntVec stream = tokenize_inputs(inputs, n_inputs, tok);
    const int eos = tokenizer_eos_id(tok), piece_len = prefix_len + cont_len;
    Piece *p = NULL;
    int n = 0, cap = 0;
    for (int start = 0; start + piece_len <= stream.len;) {
        int eos_at = -1;
        for (int i = start; i < start + piece_len && eos_at < 0; i++)
            if (stream.data[i] == eos) eos_at = i;
        if (eos_at >= 0) { /* the document ends inside: the next piece starts after it */
            start = eos_at + 1;
            continue;
        }
        if (n == cap) p = xrealloc(p, sizeof(Piece) * (size_t)(cap = cap ? 2 * cap : 256));
        Piece *q = &p[n++];
        memset(q, 0, sizeof *q);
        for (int i = 0; i < prefix_len; i++) intvec_push(&q->ids, stream.data[start + i]);
        q->prefix = tokenizer_decode(tok, stream.data + start, prefix_len, NULL);
        q->answer = tokenizer_decode(tok, stream.data + start + prefix_len, cont_len, NULL);
        start += piece_len;
    }
    intvec_free(&stream);
    if (n == 0)
        die("pairs-from-data: the text has no document of %d tokens or more (--prefix-tokens %d + "
            "--continuation-tokens %d)", piece_len, prefix_len, cont_len);
    *out = p;
    return n;
}

int cmd_pairs_from_data(int argc, char **argv) {
    const char *out = NULL;
    int seed = 1, limit = 0, shuffle = 0, prefix_tokens = 32, continuation_tokens = 32;
    SampleOptions so = sample_options_default();
    so.temperature = 1.0f;
    so.max_new_tokens = 64;
    Option opts[] = {
        OPT_STR("out", &out, "the JSONL file of pairs to write (required)"),
        OPT_FLOAT("temperature", &so.temperature, "sampling temperature of the model's answers (0: greedy)"),
        SELECTION_OPTIONS(&limit, &shuffle, "pieces"),
        OPT_INT("prefix-tokens", &prefix_tokens, "text: tokens of the prefix the model continues"),
        OPT_INT("continuation-tokens", &continuation_tokens, "text: tokens of the text's continuation (chosen)"),
        SAMPLE_ANSWER_OPTIONS(&so, &seed),
        OPT_END};
    char **pos;
    int npos = args_parse("pairs-from-data", "MODEL DATA...",
                          "Preference pairs from the data alone (SPIN): the data's answer is chosen, the model's "
                          "sample rejected. DATA: chats or prompt/completion .jsonl, or pretraining text (.txt, "
                          "folders) cut into prefix/continuation pieces.",
                          opts, argc, argv, &pos);
    if (npos < 2) die("pairs-from-data: expected MODEL DATA... (see lmforge pairs-from-data --help)");
    if (!out) die("pairs-from-data: --out FILE is required");
    if (prefix_tokens < 1 || continuation_tokens < 1)
        die("pairs-from-data: --prefix-tokens and --continuation-tokens must be positive");
    ModelDir ck = model_dir_load(pos[0]);
    if (ck.model->cfg.head != HEAD_LM || !ck.tokenizer)
        die("pairs-from-data: %s is not a language model with a tokenizer", pos[0]);
    const Tokenizer *tok = ck.tokenizer;

    int chats = ends_with(pos[1], ".jsonl");
    for (int i = 2; i < npos; i++)
        if (ends_with(pos[i], ".jsonl") != chats)
            die("pairs-from-data: %s and %s: give either chat files (.jsonl) or text, not both", pos[1], pos[i]);
    if (chats && npos > 2) die("pairs-from-data: give one chat file (concatenate several with cat)");
    Piece *pieces;
    int n = chats ? chat_pieces(pos[1], tok, ck.model->cfg.max_seq_len, so.max_new_tokens, &pieces)
                  : text_pieces((const char *const *)pos + 1, npos - 1, tok, prefix_tokens, continuation_tokens,
                                &pieces);
    if (!chats) {
        if (prefix_tokens + continuation_tokens > ck.model->cfg.max_seq_len)
            die("pairs-from-data: --prefix-tokens + --continuation-tokens (%d) exceed the model's context (%d)",
                prefix_tokens + continuation_tokens, ck.model->cfg.max_seq_len);
        so.max_new_tokens = continuation_tokens; /* the rejected continuation as long as the chosen one */
    }

    /* which pieces: all, the first --limit, or --limit at random */
    int used;
    int *which = selection_make(n, limit, shuffle, (uint64_t)seed, &used);
    RenderedPrompts rendered = {used, xcalloc((size_t)used, sizeof(IntVec)), xmalloc(sizeof(int *) * (size_t)used),
                                xmalloc(sizeof(int) * (size_t)used)};
    for (int i = 0; i < used; i++) {
        rendered.tokens[i] = pieces[which[i]].ids.data;
        rendered.lens[i] = pieces[which[i]].ids.len;
    }
    so.seed = (uint64_t)seed;
    so.n_samples = 1;
    double t = now_seconds();
    info("pairs-from-data: sampling the model's answers to %d %s", used, chats ? "prompts" : "text prefixes");
    Generation *g = sample_answers(ck.model, tok, &rendered, so);

    JsonlWriter *w = jsonl_writer_open(out);
    int same = 0, blank = 0, written = 0;
    for (int i = 0; i < used; i++) {
        const Piece *p = &pieces[which[i]];
        const char *sample = g[i].text ? g[i].text : "";
        if (jsonl_text_is_blank(sample)) {
            blank++;
            continue;
        }
        if (same_trimmed_text(sample, p->answer)) {
            same++;
            continue;
        }
        cJSON *line = cJSON_CreateObject();
        if (p->prompt_json) cJSON_AddItemToObject(line, "prompt", cJSON_Parse(p->prompt_json));
        else cJSON_AddStringToObject(line, "prefix", p->prefix);
        cJSON_AddStringToObject(line, "chosen", p->answer);
        cJSON_AddStringToObject(line, "rejected", sample);
        jsonl_write(w, line);
        cJSON_Delete(line);
        written++;
    }
    jsonl_writer_close(w);
    info("pairs-from-data: %d pairs written to %s in %.1fs; dropped %d whose sample equals the data's answer and %d "
         "with a blank sample", written, out, now_seconds() - t, same, blank);
    if (written == 0) warn("pairs-from-data: no pairs: the model already gives the data's answers");

    generations_free(g, used);
    free(g);
    free(rendered.ids);
    free(rendered.tokens);
    free(rendered.lens);
    for (int i = 0; i < n; i++) {
        intvec_free(&pieces[i].ids);
        free(pieces[i].prompt_json);
        free(pieces[i].prefix);
        free(pieces[i].answer);
    }
    free(pieces);
    free(which);
    free(pos);
    model_dir_free(&ck);
    return 0;
}
