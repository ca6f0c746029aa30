/* generate_cmd.c — using a model: `lmforge generate` samples continuations of
 * prompts in batches, `lmforge chat` talks with it in ChatML, streaming its
 * tokens, and `lmforge eval` measures its loss and perplexity on text.
 *
 * Prompts are plain text (a Llama 3 tokenizer's BOS in front) or chats:
 * {"messages": [...]} lines, or any prompt with --chat, rendered in ChatML
 * with the assistant's generation prompt. Generation stops at the
 * tokenizer's end-of-text token and at <|im_end|>, as the
 * generation_config.json lmforge writes says. */
#include <cjson/cJSON.h>
#include <editline/readline.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/args.h"
#include "../base/progress.h"
#include "../base/util.h"
#include "../data/chat_data.h"
#include "../base/jsonl.h"
#include "../data/selection.h"
#include "../data/text_data.h"
#include "../io/model_dir.h"
#include "../model/generate.h"
#include "../tokenizer/chat.h"
#include "../tokenizer/unicode.h"
#include "../train/lm_loss.h"
#include "eval_tokens.h"
#include "sample_progress.h"
#include "stages.h"

/* ---- shared by the three commands ---- */

static ModelDir load_language_model(const char *command, const char *dir) {
    ModelDir ck = model_dir_load(dir);
    if (ck.model->cfg.head != HEAD_LM) die("%s: %s has a score head, not a language-model head", command, dir);
    if (!ck.tokenizer) die("%s: %s has no tokenizer.json", command, dir);
    return ck;
}

/* Sampling as the generation_config.json that lmforge writes suggests. */
static SampleOptions suggested_sampling(void) {
    SampleOptions o = sample_options_default();
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    return o;
}

/* ---- prompts ---- */

typedef struct {
    int n;
    cJSON **given; /* (n) each prompt as given: a string or a messages array, echoed in JSONL output */
    IntVec *ids;   /* (n) its tokens */
} PromptSet;

static void prompts_add(PromptSet *ps, cJSON *given, IntVec ids) {
    ps->given = xrealloc(ps->given, sizeof(cJSON *) * (size_t)(ps->n + 1));
    ps->ids = xrealloc(ps->ids, sizeof(IntVec) * (size_t)(ps->n + 1));
    ps->given[ps->n] = given;
    ps->ids[ps->n] = ids;
    ps->n++;
}

static void prompts_free(PromptSet *ps) {
    for (int i = 0; i < ps->n; i++) {
        cJSON_Delete(ps->given[i]);
        intvec_free(&ps->ids[i]);
    }
    free(ps->given);
    free(ps->ids);
}

/* msgs[0..n) (a system message first if `system` is set and the chat has
 * none) in ChatML, ending with the assistant's generation prompt. */
static IntVec encode_chat(const Tokenizer *tok, const ChatMessage *msgs, int n, const char *system) {
    int add_system = system && (n == 0 || strcmp(msgs[0].role, "system") != 0);
    ChatMessage *all = xmalloc(sizeof(ChatMessage) * (size_t)(n + 1));
    if (add_system) all[0] = (ChatMessage){"system", system};
    memcpy(all + add_system, msgs, sizeof(ChatMessage) * (size_t)n);
    IntVec ids = {0};
    chat_render(tok, all, n + add_system, 1, 0, &ids, NULL);
    free(all);
    return ids;
}

/* Plain text, BOS first if the tokenizer has one. An empty prompt starts
 * from the end-of-text token: the start of a new document to the model. */
static IntVec encode_text(const Tokenizer *tok, const char *text) {
    IntVec ids = {0};
    if (tokenizer_bos_id(tok) >= 0) intvec_push(&ids, tokenizer_bos_id(tok));
    tokenizer_encode(tok, text, strlen(text), 1, &ids);
    if (ids.len == 0) {
        if (tokenizer_eos_id(tok) < 0) die("the prompt is empty and the tokenizer has no end-of-text token to start from");
        intvec_push(&ids, tokenizer_eos_id(tok));
    }
    return ids;
}

static IntVec encode_prompt(const Tokenizer *tok, const char *text, int chat, const char *system) {
    if (!chat) return encode_text(tok, text);
    return encode_chat(tok, &(ChatMessage){"user", text}, 1, system);
}

/* The "messages" field of a JSONL record, checked item by item; the strings
 * stay owned by the record. */
static ChatMessage *read_messages(const JsonlRecord *rec, const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    if (*n == 0) jsonl_die(rec, "field \"messages\" is empty");
    ChatMessage *msgs = xmalloc(sizeof(ChatMessage) * (size_t)*n);
    for (int i = 0; i < *n; i++) {
        const cJSON *m = cJSON_GetArrayItem(arr, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m)) jsonl_die(rec, "field \"messages[%d]\" must be an object", i);
        if (!cJSON_IsString(role)) jsonl_die(rec, "field \"messages[%d].role\" must be a string", i);
        if (!cJSON_IsString(content)) jsonl_die(rec, "field \"messages[%d].content\" must be a string", i);
        if (strcmp(role->valuestring, "assistant") != 0 && jsonl_text_is_blank(content->valuestring))
            jsonl_die(rec, "field \"messages[%d]\": the %s message is empty (or only white space)", i,
                      role->valuestring);
        const char *r = role->valuestring;
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0)
            jsonl_die(rec, "field \"messages[%d].role\" is \"%s\", not system, user or assistant", i, r);
        msgs[i] = (ChatMessage){r, content->valuestring};
    }
    return msgs;
}

/* How prompts become tokens, and how many fit. */
typedef struct {
    const Tokenizer *tok;
    int chat;           /* plain prompts as a user turn */
    const char *system; /* or NULL */
    int context;        /* the model's max_seq_len */
} PromptEncoding;

/* A prompt needs room for at least one new token. Returns the reason it does not fit, or NULL. */
static const char *too_long(const IntVec *ids, const PromptEncoding *e) {
    static char why[128];
    if (ids->len < e->context) return NULL;
    snprintf(why, sizeof why, "the prompt is %d tokens long, but the model's context is %d tokens", ids->len,
             e->context);
    return why;
}

/* {"prompt": "..."} or {"messages": [...]} per line; "-" reads stdin. */
static void read_prompt_file(PromptSet *ps, const char *path, const PromptEncoding *e) {
    JsonlReader *r = strcmp(path, "-") == 0 ? jsonl_open_stream(stdin, "stdin") : jsonl_open(path);
    JsonlRecord rec;
    while (jsonl_next(r, &rec)) {
        const char *prompt = jsonl_opt_string(&rec, "prompt");
        const cJSON *messages = jsonl_opt_array(&rec, "messages");
        if (prompt && messages) jsonl_die(&rec, "has both \"prompt\" and \"messages\"; give one");
        if (!prompt && !messages) jsonl_die(&rec, "field \"prompt\" (or \"messages\") is missing");
        if (prompt && jsonl_text_is_blank(prompt)) jsonl_die(&rec, "field \"prompt\" is empty (or only white space)");
        IntVec ids;
        if (prompt) {
            ids = encode_prompt(e->tok, prompt, e->chat, e->system);
        } else {
            int n;
            ChatMessage *msgs = read_messages(&rec, messages, &n);
            ids = encode_chat(e->tok, msgs, n, e->system);
            free(msgs);
        }
        const char *why = too_long(&ids, e);
        if (why) jsonl_die(&rec, "%s", why);
        prompts_add(ps, prompt ? cJSON_CreateString(prompt) : cJSON_Duplicate(messages, 1), ids);
    }
    jsonl_close(r);
}

/* Keeps the prompts --limit and --shuffle select (data/selection.h), in their order. */
static void prompts_select(PromptSet *ps, int limit, int shuffle, uint64_t seed) {
    int used;
    int *which = selection_make(ps->n, limit, shuffle, seed, &used);
    PromptSet kept = {0};
    for (int i = 0; i < used; i++) {
        prompts_add(&kept, ps->given[which[i]], ps->ids[which[i]]);
        ps->given[which[i]] = NULL; /* moved */
        ps->ids[which[i]] = (IntVec){0};
    }
    prompts_free(ps);
    *ps = kept;
    free(which);
}

/* ---- lmforge generate ---- */

static void write_jsonl(const char *out_path, const PromptSet *ps, const Generation *g, int K) {
    JsonlWriter *w = out_path ? jsonl_writer_open(out_path) : NULL;
    for (int i = 0; i < ps->n; i++) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddItemToObject(obj, "prompt", cJSON_Duplicate(ps->given[i], 1));
        cJSON *responses = K > 1 ? cJSON_AddArrayToObject(obj, "responses") : NULL;
        for (int k = 0; k < K; k++) {
            /* the JSONL writer mends bad UTF-8, but a NUL would end the string early: text_len keeps it */
            char *text = utf8_sanitize(g[i * K + k].text, g[i * K + k].text_len);
            if (responses) cJSON_AddItemToArray(responses, cJSON_CreateString(text));
            else cJSON_AddStringToObject(obj, "response", text);
            free(text);
        }
        if (w) jsonl_write(w, obj);
        else jsonl_print(stdout, obj);
        cJSON_Delete(obj);
    }
    if (w) jsonl_writer_close(w);
}

/* Each response on its own; a header line tells them apart when there are several. */
static void write_text(const char *out_path, const PromptSet *ps, const Generation *g, int K) {
    AtomicFile af = {0};
    FILE *f = stdout;
    if (out_path) {
        af = atomic_open(out_path);
        f = af.f;
    }
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < K; k++) {
            if (ps->n * K > 1) fprintf(f, "=== prompt %d, sample %d ===\n", i + 1, k + 1);
            fwrite(g[i * K + k].text, 1, g[i * K + k].text_len, f);
            fputc('\n', f);
        }
    if (out_path) atomic_commit(&af);
    else fflush(stdout);
}

int cmd_generate(int argc, char **argv) {
    OptList prompt_texts = {0}, stops = {0};
    const char *prompts_file = NULL, *format = "text", *out_path = NULL, *system = NULL;
    int chat = 0, seed = 0, limit = 0, shuffle = 0;
    SampleOptions o = suggested_sampling();
    Option opts[] = {
        OPT_LIST("prompt", &prompt_texts, "a prompt (give several for a batch)"),
        OPT_STR("prompts", &prompts_file, "JSONL file of {\"prompt\": ...} or {\"messages\": [...]} lines (- for stdin)"),
        SELECTION_OPTIONS(&limit, &shuffle, "prompts"),
        OPT_FLAG("chat", &chat, "render plain prompts as a user turn in ChatML (messages always are)"),
        OPT_STR("system", &system, "system message put before chat prompts that have none"),
        OPT_INT("n", &o.n_samples, "samples per prompt"),
        OPT_FLOAT("temperature", &o.temperature, "sampling temperature; 0 is greedy"),
        OPT_INT("top-k", &o.top_k, "sample among the K most likely tokens (0: all)"),
        OPT_FLOAT("top-p", &o.top_p, "sample within the smallest set of tokens holding this probability (1: all)"),
        OPT_INT("max-new-tokens", &o.max_new_tokens, "tokens generated per sample at most"),
        OPT_LIST("stop", &stops, "stop a sample where its text contains this string (cut before it)"),
        OPT_INT("seed", &seed, "random seed: the same seed gives the same samples at any batch size"),
        OPT_INT("batch-size", &o.batch_size, "sequences decoded together (memory grows with it)"),
        OPT_STR("format", &format, "output: text, or jsonl ({\"prompt\", \"response\"} or {\"prompt\", \"responses\"})"),
        OPT_STR("out", &out_path, "write the output to this file instead of stdout"),
        OPT_END};
    char **pos;
    int npos = args_parse("generate", "MODEL", "Sample continuations of prompts from a model, batched through a KV cache.",
                          opts, argc, argv, &pos);
    if (npos != 1) die("generate: expected one MODEL directory, got %d arguments (see lmforge generate --help)", npos);
    if (strcmp(format, "text") != 0 && strcmp(format, "jsonl") != 0)
        die("generate: --format must be text or jsonl, not %s", format);
    if (!prompt_texts.n && !prompts_file) die("generate: no prompt given: use --prompt TEXT or --prompts FILE.jsonl");
    if (seed < 0) die("generate: --seed must be >= 0");
    const int n_samples = o.n_samples;
    if (n_samples < 1) die("generate: --n must be at least 1");

    ModelDir ck = load_language_model("generate", pos[0]);
    PromptSet ps = {0};
    PromptEncoding enc = {ck.tokenizer, chat, system, ck.model->cfg.max_seq_len};
    for (int i = 0; i < prompt_texts.n; i++) {
        IntVec ids = encode_prompt(ck.tokenizer, prompt_texts.items[i], chat, system);
        const char *why = too_long(&ids, &enc);
        if (why) die("generate: --prompt number %d: %s", i + 1, why);
        prompts_add(&ps, cJSON_CreateString(prompt_texts.items[i]), ids);
    }
    if (prompts_file) read_prompt_file(&ps, prompts_file, &enc);
    if (ps.n == 0) die("generate: %s holds no prompts", prompts_file);
    if (limit || shuffle) prompts_select(&ps, limit, shuffle, (uint64_t)seed);

    int stop_ids[2];
    o.stop_ids = stop_ids;
    o.n_stop_ids = generation_stop_ids(ck.tokenizer, stop_ids);
    o.stop_strings = stops.items;
    o.n_stop_strings = stops.n;
    o.tokenizer = ck.tokenizer;
    o.seed = (uint64_t)seed;
    SampleProgress sp;
    if (out_path) sample_progress_start(&sp, &o, (long)ps.n * n_samples); /* stdout is free for a progress line */

    const int **prompts = xmalloc(sizeof(int *) * (size_t)ps.n);
    int *lens = xmalloc(sizeof(int) * (size_t)ps.n);
    for (int i = 0; i < ps.n; i++) prompts[i] = ps.ids[i].data, lens[i] = ps.ids[i].len;
    Generation *g = xcalloc((size_t)ps.n * n_samples, sizeof(Generation));
    generate_batch(ck.model, (const int *const *)prompts, lens, ps.n, &o, g);
    if (out_path) sample_progress_finish(&sp);

    if (strcmp(format, "jsonl") == 0) write_jsonl(out_path, &ps, g, n_samples);
    else write_text(out_path, &ps, g, n_samples);

    generations_free(g, ps.n * n_samples);
    free(g);
    free(prompts);
    free(lens);
    prompts_free(&ps);
    free(prompt_texts.items);
    free(stops.items);
    free(pos);
    model_dir_free(&ck);
    return 0;
}

/* ---- lmforge chat ---- */

/* Prints a reply as its tokens arrive. A token may end inside a UTF-8
 * character, so bytes are held back until the character is complete. */
typedef struct {
    const Tokenizer *tok;
    const int *stop_ids;
    int n_stop_ids;
    char pending[8];
    int n_pending;
} ChatStream;

/* Bytes at the end of s[0..n) that begin a UTF-8 character still missing its continuation bytes. */
static int incomplete_tail(const unsigned char *s, int n) {
    for (int back = 1; back <= 3 && back <= n; back++) {
        unsigned char b = s[n - back];
        if ((b & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static void stream_token(void *ctx, int seq, int token, int done) {
    (void)seq;
    (void)done;
    ChatStream *cs = ctx;
    for (int i = 0; i < cs->n_stop_ids; i++)
        if (token == cs->stop_ids[i]) return;
    size_t n;
    char *bytes = tokenizer_decode(cs->tok, &token, 1, &n);
    /* the held-back bytes, then the new ones; what is complete goes out */
    size_t total = (size_t)cs->n_pending + n;
    char *all = xmalloc(total + 1);
    memcpy(all, cs->pending, (size_t)cs->n_pending);
    memcpy(all + cs->n_pending, bytes, n);
    int hold = incomplete_tail((const unsigned char *)all, (int)total);
    fwrite(all, 1, total - (size_t)hold, stdout);
    fflush(stdout);
    memcpy(cs->pending, all + total - hold, (size_t)hold);
    cs->n_pending = hold;
    free(all);
    free(bytes);
}

/* The user's next message, without its line end (malloc'ed), or NULL at the
 * end of input. On a terminal, a line editor (libedit): arrow keys move in
 * the line and through the earlier messages instead of reaching the model as
 * escape codes; Ctrl-D on an empty line ends with a newline, so the shell's
 * prompt starts on a line of its own. Piped input is read as it is. */
static char *read_message(int interactive) {
    if (interactive) {
        char *line = readline("> ");
        if (!line) {
            printf("\n");
            fflush(stdout);
            return NULL;
        }
        if (*line) add_history(line);
        return line;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = getline(&line, &cap, stdin);
    if (got < 0) {
        free(line);
        return NULL;
    }
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
    return line;
}

int cmd_chat(int argc, char **argv) {
    const char *system = NULL;
    int seed = 0;
    SampleOptions o = suggested_sampling();
    o.max_new_tokens = 256;
    Option opts[] = {
        OPT_STR("system", &system, "system message that starts the conversation"),
        OPT_FLOAT("temperature", &o.temperature, "sampling temperature; 0 is greedy"),
        OPT_INT("top-k", &o.top_k, "sample among the K most likely tokens (0: all)"),
        OPT_FLOAT("top-p", &o.top_p, "sample within the smallest set of tokens holding this probability (1: all)"),
        OPT_INT("max-new-tokens", &o.max_new_tokens, "tokens per reply at most"),
        OPT_INT("seed", &seed, "random seed (turn t uses seed + t)"),
        OPT_END};
    char **pos;
    int npos = args_parse("chat", "MODEL",
                          "Chat with a model in ChatML. Type a message and press Enter; the reply streams as it is "
                          "generated. /reset starts a new conversation, /quit (or end of input) leaves.",
                          opts, argc, argv, &pos);
    if (npos != 1) die("chat: expected one MODEL directory, got %d arguments (see lmforge chat --help)", npos);
    if (seed < 0) die("chat: --seed must be >= 0");
    ModelDir ck = load_language_model("chat", pos[0]);
    const Tokenizer *tok = ck.tokenizer;
    const int context = ck.model->cfg.max_seq_len;
    int stop_ids[2];
    ChatStream cs = {.tok = tok, .stop_ids = stop_ids, .n_stop_ids = generation_stop_ids(tok, stop_ids)};
    o.stop_ids = stop_ids;
    o.n_stop_ids = cs.n_stop_ids;
    o.tokenizer = tok;
    o.batch_size = 1;
    o.on_token = stream_token;
    o.on_token_ctx = &cs;

    Conversation conv = {0};
    if (system) conversation_add(&conv, "system", system);
    int first = system ? 1 : 0, interactive = isatty(STDIN_FILENO), turn = 0;
    if (interactive) fprintf(stderr, "Chatting with %s: /reset starts over, /quit or Ctrl-D leaves.\n", pos[0]);
    char *line;
    while ((line = read_message(interactive))) {
        size_t got = strlen(line);
        if (strcmp(line, "/quit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            conversation_drop(&conv, first, conv.n - first);
            if (interactive) fprintf(stderr, "(new conversation)\n");
            free(line);
            continue;
        }
        if (got == 0) {
            free(line);
            continue;
        }
        conversation_add(&conv, "user", line);
        free(line);
        IntVec ids = encode_chat(tok, conv.msgs, conv.n, NULL);
        /* Past the context, the oldest exchanges go (the system message stays). */
        int dropped = 0;
        while (ids.len >= context && conv.n - first > 1) {
            conversation_drop(&conv, first, LMF_MIN(2, conv.n - first - 1));
            intvec_free(&ids);
            ids = encode_chat(tok, conv.msgs, conv.n, NULL);
            dropped = 1;
        }
        if (dropped) fprintf(stderr, "(the oldest turns were dropped to fit the model's context of %d tokens)\n", context);
        if (ids.len >= context) {
            fprintf(stderr, "(this message does not fit the model's context of %d tokens; it was not sent)\n", context);
            conversation_drop(&conv, conv.n - 1, 1);
            intvec_free(&ids);
            continue;
        }
        o.seed = (uint64_t)seed + (uint64_t)turn++;
        cs.n_pending = 0;
        Generation g;
        const int *prompt = ids.data;
        generate_batch(ck.model, &prompt, &ids.len, 1, &o, &g);
        fwrite(cs.pending, 1, (size_t)cs.n_pending, stdout); /* a reply cut inside a character */
        printf("\n");
        fflush(stdout);
        conversation_add(&conv, "assistant", g.text);
        generations_free(&g, 1);
        intvec_free(&ids);
    }
    free(line); /* after /quit */
    conversation_free(&conv);
    free(pos);
    model_dir_free(&ck);
    return 0;
}

/* ---- lmforge eval ---- */

static void show_eval_progress(void *ctx, long windows_done, long n_windows, double loss_sum, long counted) {
    (void)n_windows; /* the progress line knows it */
    Progress *p = ctx;
    progress_add_tokens(p, (double)counted - p->tokens);
    progress_update(p, windows_done, "loss %.4f", loss_sum / counted);
}

int cmd_eval(int argc, char **argv) {
    int seq_len = 0, batch = 8, json = 0;
    const char *format = "text", *token_ids = NULL, *tokens_file = NULL;
    Option opts[] = {
        OPT_INT("seq-len", &seq_len, "tokens per window T (0: the model's context, at most 1024)"),
        OPT_INT("batch", &batch, "windows per forward pass"),
        OPT_STR("format", &format, "output: text, or json ({\"loss\", \"perplexity\", \"tokens\", \"windows\"})"),
        OPT_FLAG("json", &json, "the same as --format json (with token ids: each token's log-prob too)"),
        OPT_STR("tokens", &token_ids, "evaluate these token ids (\"1,2,3\") instead of text: no tokenizer needed"),
        OPT_STR("tokens-file", &tokens_file, "evaluate token ids instead of text: one sequence per line, ids "
                                             "separated by commas or spaces"),
        OPT_END};
    char **inputs;
    int n_inputs = args_parse("eval", "MODEL FILES...",
                              "Loss and perplexity of a model on text: .txt files, .jsonl files with a \"text\" field, "
                              "or folders of them. The text is cut into consecutive windows of T+1 tokens; each "
                              "window predicts its last T tokens. With --tokens or --tokens-file, token ids are "
                              "evaluated instead, each sequence on its own, and the model needs no tokenizer.",
                              opts, argc, argv, &inputs);
    if (json) format = "json";
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
        die("eval: --format must be text or json, not %s", format);
    if (token_ids || tokens_file) { /* eval_tokens.c */
        if (token_ids && tokens_file) die("eval: give --tokens or --tokens-file, not both");
        if (n_inputs != 1) die("eval: with --tokens or --tokens-file, give the MODEL directory alone");
        int rc = eval_token_sequences(inputs[0], token_ids, tokens_file, strcmp(format, "json") == 0);
        free(inputs);
        return rc;
    }
    if (n_inputs < 2) die("eval: expected a MODEL directory and at least one text file (see lmforge eval --help)");
    if (seq_len < 0 || batch < 1) die("eval: --seq-len and --batch must be positive");
    ModelDir ck = load_language_model("eval", inputs[0]);
    Model *m = ck.model;
    const int T = seq_len > 0 ? seq_len : LMF_MIN(m->cfg.max_seq_len, 1024);
    if (T > m->cfg.max_seq_len) die("eval: --seq-len %d is above the model's context of %d tokens", T, m->cfg.max_seq_len);

    IntVec tokens = tokenize_inputs((const char *const *)inputs + 1, n_inputs - 1, ck.tokenizer);
    if (tokens.len < 2) die("eval: the text holds %d token(s); at least 2 are needed", tokens.len);
    const long n_windows = (tokens.len - 2) / T + 1;
    Progress p;
    progress_init(&p, "window", 0, n_windows);
    p.out = stderr; /* stdout carries the result */
    p.tty = isatty(STDERR_FILENO);
    long counted;
    double loss_sum = lm_loss_windows(m, tokens.data, tokens.len, T, batch, &counted, show_eval_progress, &p);
    progress_finish(&p);
    double loss = loss_sum / counted;
    if (strcmp(format, "json") == 0)
        printf("{\"loss\": %.6f, \"perplexity\": %.6f, \"tokens\": %ld, \"windows\": %ld, \"seq_len\": %d}\n", loss,
               exp(loss), counted, n_windows, T);
    else
        printf("loss %.6f  perplexity %.4f  (%ld tokens predicted, %ld windows of up to %d)\n", loss, exp(loss),
               counted, n_windows, T);
    intvec_free(&tokens);
    free(inputs);
    model_dir_free(&ck);
    return 0;
}
