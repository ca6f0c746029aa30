/* test_gguf.c — the GGUF export without llama.cpp: files written by
 * gguf_export / `lmforge export gguf` parsed back by the tests' own reader
 * (test_gguf_util.c) and checked field by field against hand-computed
 * values: header, metadata, alignment, tensor names and shapes, the Q/K
 * reordering for llama.cpp's RoPE, f16 and q8_0 values, LoRA merging and
 * the refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/util.h"
#include "../src/io/lora_files.h"
#include "../src/io/model_dir.h"
#include "../src/base/gguf.h"
#include "../src/io/gguf_export.h"
#include "../src/io/safetensors.h"
#include "../src/tokenizer/tokenizer_gguf.h"
#include "test.h"
#include "test_gguf_util.h"

static const GgufTestShape LLAMA_TIED = {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .tie = 1};
static const GgufTestShape QWEN2 = {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .qkv_bias = 1};

TEST(gguf_f16_rounding) {
    /* hand-computed halves: exact values, ties to even, subnormals, overflow */
    struct {
        float x;
        uint16_t h;
    } cases[] = {
        {1.0f, 0x3c00},       {-2.0f, 0xc000},          {65504.0f, 0x7bff},       {65520.0f, 0x7c00},
        {1e6f, 0x7c00},       {1.0f / 3, 0x3555},       {0.1f, 0x2e66},           {ldexpf(1, -24), 0x0001},
        {ldexpf(1, -25), 0},  {ldexpf(3, -25), 0x0002}, {1 + ldexpf(1, -11), 0x3c00}, {1 + ldexpf(3, -11), 0x3c02},
        {1e-8f, 0},           {ldexpf(1, -14), 0x0400}, {ldexpf(1, -14) - ldexpf(1, -24), 0x03ff},
        {-0.0f, 0x8000},      {INFINITY, 0x7c00},       {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++)
        CHECK_MSG(gguf_f32_to_f16(cases[i].x) == cases[i].h, "f16(%g) = 0x%04x, expected 0x%04x", cases[i].x,
                  gguf_f32_to_f16(cases[i].x), cases[i].h);
    uint16_t nan = gguf_f32_to_f16(NAN);
    CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
}

TEST(gguf_q8_0_block) {
    float x[32], zeros[32] = {0};
    for (int j = 0; j < 32; j++) x[j] = (j - 16) * 0.5f; /* -8 .. 7.5: amax 8 */
    uint8_t b[34];
    gguf_quantize_q8_0(x, 32, b);
    /* d = 8/127 = 0.0629921 -> f16 0x2c08; q = roundf(x · 15.875), halves away from zero (±63.5 -> ±64) */
    static const int expected[32] = {-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48,
                                     -40,  -32,  -24,  -16,  -8,  0,   8,   16,  24,  32,  40,
                                     48,   56,   64,   71,   79,  87,  95,  103, 111, 119};
    CHECK_EQ_INT(b[0] | (b[1] << 8), 0x2c08);
    for (int j = 0; j < 32; j++) CHECK_EQ_INT((int8_t)b[2 + j], expected[j]);
    gguf_quantize_q8_0(zeros, 32, b); /* an all-zero block: d = 0, q = 0, no division by zero */
    for (int j = 0; j < 34; j++) CHECK_EQ_INT(b[j], 0);
}

TEST(gguf_permute_hand_example) {
    /* 2 heads of size 4, one column: rows (h, j, i) -> (h, i, j) */
    float w[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[8];
    gguf_permute_rope_rows(w, 2, 4, 1, out);
    const float expected[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int r = 0; r < 8; r++) CHECK_EQ_INT(out[r], expected[r]);
}

/* RoPE of one head at position pos: Hugging Face's rotate-half (pairs i, i + HS/2)
 * or llama.cpp's "normal" mode for llama (pairs 2i, 2i + 1), frequency theta^(-2i/HS). */
static void rope(float *v, int hs, int pos, int interleaved) {
    for (int i = 0; i < hs / 2; i++) {
        double a = pos * pow(10000.0, -2.0 * i / hs), c = cos(a), s = sin(a);
        int p = interleaved ? 2 * i : i, q = interleaved ? 2 * i + 1 : i + hs / 2;
        double x = v[p], y = v[q];
        v[p] = (float)(x * c - y * s);
        v[q] = (float)(y * c + x * s);
    }
}

TEST(gguf_permute_keeps_attention_scores) {
    /* q·k after rotate-half RoPE on the original rows equals q·k after the
     * interleaved RoPE on the reordered rows: what makes llama.cpp's attention ours */
    enum { HS = 8, C = 5 };
    float wq[HS * C], wk[HS * C], pq[HS * C], pk[HS * C], x[C], y[C];
    for (int i = 0; i < HS * C; i++) wq[i] = sinf(0.7f * i + 1), wk[i] = cosf(1.3f * i);
    for (int i = 0; i < C; i++) x[i] = 0.3f * i - 0.5f, y[i] = 0.2f - 0.1f * i * i;
    gguf_permute_rope_rows(wq, 1, HS, C, pq);
    gguf_permute_rope_rows(wk, 1, HS, C, pk);
    float q[HS], k[HS], q2[HS], k2[HS];
    for (int r = 0; r < HS; r++) {
        q[r] = k[r] = q2[r] = k2[r] = 0;
        for (int c = 0; c < C; c++)
            q[r] += wq[r * C + c] * x[c], k[r] += wk[r * C + c] * y[c], q2[r] += pq[r * C + c] * x[c],
                k2[r] += pk[r * C + c] * y[c];
    }
    rope(q, HS, 7, 0), rope(k, HS, 3, 0), rope(q2, HS, 7, 1), rope(k2, HS, 3, 1);
    double s1 = 0, s2 = 0;
    for (int r = 0; r < HS; r++) s1 += q[r] * k[r], s2 += q2[r] * k2[r];
    CHECK_NEAR(s1, s2, 1e-5);
}

static char *export_to(const Model *m, GgmlType type, const char *tag) {
    char *dir = test_tmpdir(tag), *path = path_join(dir, "model.gguf");
    free(dir);
    gguf_export(m, gguf_test_tokenizer(), type, "test", path);
    return path;
}

static void remove_export(char *path) {
    test_system("rm -rf \"$(dirname '%s')\"", path);
    free(path);
}

static int check_matrix(const GgufFile *f, const char *name, const float *want, int rows, int cols) {
    const GgufTensorInfo *t = gguf_tensor(f, name);
    if (!t) {
        test_fail(__FILE__, __LINE__, "tensor %s missing", name);
        return 0;
    }
    int ok = t->n_dims == (cols ? 2u : 1u) && t->ne[0] == (uint64_t)(cols ? cols : rows) &&
             (!cols || t->ne[1] == (uint64_t)rows);
    CHECK_MSG(ok, "tensor %s has the wrong shape", name);
    for (size_t i = 0; ok && i < (size_t)rows * (cols ? cols : 1); i++)
        if (gguf_tensor_value(t, i) != want[i]) {
            test_fail(__FILE__, __LINE__, "%s[%zu] = %g, expected %g", name, i, gguf_tensor_value(t, i), want[i]);
            return 0;
        }
    return ok;
}

TEST(gguf_header_metadata_tensors) {
    Model *m = gguf_test_model(LLAMA_TIED, 1);
    const Tokenizer *tok = gguf_test_tokenizer();
    char *path = export_to(m, GGML_F32, "gguf-hdr");
    GgufFile f = gguf_read(path);
    CHECK_MSG(!f.error, "%s", f.error ? f.error : "");
    if (f.error) goto done;
    const ModelConfig *c = &m->cfg;
    const int V = c->vocab_size, C = c->dim, KV = config_kv_width(c), F = c->ffn_hidden;
    CHECK_EQ_INT(f.version, 3);
    CHECK_EQ_INT(f.n_tensors, 1 + 9 * c->n_layers + 1); /* no output tensor: tied */
    char *arch = gguf_kv_str(&f, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0);
    free(arch);
    CHECK_EQ_INT(gguf_kv_u32(&f, "general.alignment"), 32);
    CHECK_EQ_INT(f.data_start % 32, 0);
    for (uint64_t i = 0; i < f.n_tensors; i++) CHECK_EQ_INT(f.tensors[i].offset % 32, 0);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.context_length"), 96);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.embedding_length"), C);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.block_count"), 2);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.feed_forward_length"), F);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.attention.head_count"), 4);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.attention.head_count_kv"), 2);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.rope.dimension_count"), 16);
    CHECK_EQ_INT(gguf_kv_u32(&f, "llama.vocab_size"), V);
    CHECK_NEAR(gguf_kv_f32(&f, "llama.rope.freq_base"), 10000, 0);
    CHECK_NEAR(gguf_kv_f32(&f, "llama.attention.layer_norm_rms_epsilon"), 1e-5f, 0);
    CHECK_EQ_INT(gguf_kv_u32(&f, "general.file_type"), 0);

    /* shapes fastest dimension first, values where the model has them */
    CHECK(check_matrix(&f, "token_embd.weight", m->w.embed, V, C));
    CHECK(!gguf_tensor(&f, "output.weight"));
    CHECK(check_matrix(&f, "output_norm.weight", m->w.final_norm, C, 0));
    const LayerWeights *lw = &m->w.layers[1];
    CHECK(check_matrix(&f, "blk.1.attn_norm.weight", lw->attn_norm, C, 0));
    CHECK(check_matrix(&f, "blk.1.attn_v.weight", lw->wqkv + (size_t)(C + KV) * C, KV, C));
    CHECK(check_matrix(&f, "blk.1.attn_output.weight", lw->wo, C, C));
    CHECK(check_matrix(&f, "blk.1.ffn_norm.weight", lw->mlp_norm, C, 0));
    CHECK(check_matrix(&f, "blk.1.ffn_gate.weight", lw->wgu, F, C));
    CHECK(check_matrix(&f, "blk.1.ffn_up.weight", lw->wgu + (size_t)F * C, F, C));
    CHECK(check_matrix(&f, "blk.1.ffn_down.weight", lw->wdown, C, F));
    /* q and k reordered head by head (k with the key/value heads) */
    float *pq = xmalloc(sizeof(float) * (size_t)C * C), *pk = xmalloc(sizeof(float) * (size_t)KV * C);
    gguf_permute_rope_rows(lw->wqkv, 4, 16, C, pq);
    gguf_permute_rope_rows(lw->wqkv + (size_t)C * C, 2, 16, C, pk);
    CHECK(check_matrix(&f, "blk.1.attn_q.weight", pq, C, C));
    CHECK(check_matrix(&f, "blk.1.attn_k.weight", pk, KV, C));
    /* row 1 of head 0 in the file is row HS/2 = 8 of q_proj */
    CHECK(gguf_tensor_value(gguf_tensor(&f, "blk.1.attn_q.weight"), 1 * C + 3) == lw->wqkv[8 * C + 3]);
    free(pq);
    free(pk);

    /* the tokenizer */
    char *model = gguf_kv_str(&f, "tokenizer.ggml.model"), *pre = gguf_kv_str(&f, "tokenizer.ggml.pre");
    CHECK(model && strcmp(model, "gpt2") == 0);
    CHECK(pre && strcmp(pre, "smaug-bpe") == 0); /* Llama 3's regex, every piece merged */
    free(model);
    free(pre);
    const GgufKv *tokens = gguf_kv(&f, "tokenizer.ggml.tokens"), *types = gguf_kv(&f, "tokenizer.ggml.token_type");
    CHECK(tokens && tokens->elem_type == 8 && tokens->n == (uint64_t)V);
    CHECK(types && types->elem_type == 5 && types->n == (uint64_t)V);
    const int space = tokenizer_token_id(tok, " "), im_end = tokenizer_token_id(tok, "<|im_end|>"),
              eos = tokenizer_eos_id(tok), the = tokenizer_token_id(tok, " the");
    CHECK(space >= 0 && im_end >= 0 && eos >= 0 && the >= 0);
    char *s_space = gguf_kv_str_at(&f, "tokenizer.ggml.tokens", (uint64_t)space),
         *s_the = gguf_kv_str_at(&f, "tokenizer.ggml.tokens", (uint64_t)the),
         *s_end = gguf_kv_str_at(&f, "tokenizer.ggml.tokens", (uint64_t)im_end);
    CHECK(s_space && strcmp(s_space, "\xc4\xa0") == 0); /* "Ġ": GPT-2's character for the space byte */
    CHECK(s_the && strcmp(s_the, "\xc4\xa0the") == 0);
    CHECK(s_end && strcmp(s_end, "<|im_end|>") == 0);
    free(s_space);
    free(s_the);
    free(s_end);
    int32_t type_end, type_the;
    memcpy(&type_end, types->value + 4 * (size_t)im_end, 4);
    memcpy(&type_the, types->value + 4 * (size_t)the, 4);
    CHECK_EQ_INT(type_end, GGUF_TOKEN_CONTROL);
    CHECK_EQ_INT(type_the, GGUF_TOKEN_NORMAL);
    const GgufKv *merges = gguf_kv(&f, "tokenizer.ggml.merges");
    CHECK(merges && merges->elem_type == 8 && merges->n > 0);
    /* every merge is two tokens of the vocabulary joined by one space */
    for (uint64_t i = 0; merges && i < merges->n; i += 7) {
        char *mg = gguf_kv_str_at(&f, "tokenizer.ggml.merges", i), *sp = strchr(mg, ' ');
        CHECK_MSG(sp && sp != mg && sp[1] && !strchr(sp + 1, ' '), "merge %llu is \"%s\"", (unsigned long long)i, mg);
        free(mg);
    }
    CHECK_EQ_INT(gguf_kv_u32(&f, "tokenizer.ggml.eos_token_id"), eos);
    CHECK_EQ_INT(gguf_kv_u32(&f, "tokenizer.ggml.bos_token_id"), eos);
    CHECK_EQ_INT(gguf_kv_u32(&f, "tokenizer.ggml.padding_token_id"), eos);
    CHECK_EQ_INT(gguf_kv_u32(&f, "tokenizer.ggml.eot_token_id"), im_end);
    CHECK_EQ_INT(gguf_kv_bool(&f, "tokenizer.ggml.add_bos_token"), 0);
    char *tpl = gguf_kv_str(&f, "tokenizer.chat_template");
    CHECK(tpl && strstr(tpl, "'<|im_start|>' + message['role']") && strstr(tpl, "add_generation_prompt"));
    free(tpl);
done:
    gguf_file_free(&f);
    remove_export(path);
    model_free(m);
}

TEST(gguf_qwen2_biases_not_permuted) {
    Model *m = gguf_test_model(QWEN2, 2);
    char *path = export_to(m, GGML_F32, "gguf-qwen2");
    GgufFile f = gguf_read(path);
    CHECK(!f.error);
    const int C = m->cfg.dim, KV = config_kv_width(&m->cfg), V = m->cfg.vocab_size;
    const LayerWeights *lw = &m->w.layers[0];
    char *arch = gguf_kv_str(&f, "general.architecture");
    CHECK(arch && strcmp(arch, "qwen2") == 0);
    free(arch);
    CHECK_EQ_INT(gguf_kv_u32(&f, "qwen2.attention.head_count_kv"), 2);
    CHECK(check_matrix(&f, "blk.0.attn_q.weight", lw->wqkv, C, C));
    CHECK(check_matrix(&f, "blk.0.attn_k.weight", lw->wqkv + (size_t)C * C, KV, C));
    CHECK(check_matrix(&f, "blk.0.attn_q.bias", lw->bqkv, C, 0));
    CHECK(check_matrix(&f, "blk.0.attn_k.bias", lw->bqkv + C, KV, 0));
    CHECK(check_matrix(&f, "blk.0.attn_v.bias", lw->bqkv + C + KV, KV, 0));
    CHECK(check_matrix(&f, "output.weight", m->w.head, V, C)); /* untied */
    gguf_file_free(&f);
    remove_export(path);
    model_free(m);
}

TEST(gguf_f16_and_q8_0_tensors) {
    /* dim 48: q/k/v/o rows of 48 values cannot be q8_0 blocks and fall back to f16 */
    GgufTestShape s = {.dim = 48, .n_layers = 1, .n_heads = 4, .n_kv_heads = 4, .tie = 0};
    Model *m = gguf_test_model(s, 3);
    const int C = m->cfg.dim, F = m->cfg.ffn_hidden;
    for (int k = 0; k < 2; k++) {
        GgmlType type = k == 0 ? GGML_F16 : GGML_Q8_0;
        char *path = export_to(m, type, "gguf-types");
        GgufFile f = gguf_read(path);
        CHECK(!f.error);
        CHECK_EQ_INT(gguf_kv_u32(&f, "general.file_type"), k == 0 ? 1 : 7);
        const GgufTensorInfo *norm = gguf_tensor(&f, "blk.0.attn_norm.weight"),
                             *gate = gguf_tensor(&f, "blk.0.ffn_gate.weight"),
                             *down = gguf_tensor(&f, "blk.0.ffn_down.weight"),
                             *wo = gguf_tensor(&f, "blk.0.attn_output.weight");
        CHECK(norm && norm->type == GGML_F32);
        /* rows of F = 128 values (ffn_down) take the type; rows of C = 48 (ffn_gate, o) fall back to f16 */
        CHECK(down && down->type == (uint32_t)type);
        CHECK(gate && gate->type == GGML_F16 && wo && wo->type == GGML_F16);
        if (!gate || !down) goto next;
        /* f16: each value rounded; q8_0: each block of a row as gguf_quantize_q8_0 makes it */
        for (size_t i = 0; i < (size_t)C * F; i++) {
            const float x = m->w.layers[0].wdown[i];
            float want = st_f16_to_f32(gguf_f32_to_f16(x));
            if (type == GGML_Q8_0) {
                uint8_t b[34];
                gguf_quantize_q8_0(m->w.layers[0].wdown + i / 32 * 32, 32, b);
                want = st_f16_to_f32((uint16_t)(b[0] | b[1] << 8)) * (float)(int8_t)b[2 + i % 32];
            }
            if (gguf_tensor_value(down, i) != want) {
                test_fail(__FILE__, __LINE__, "ffn_down[%zu] = %g, expected %g", i, gguf_tensor_value(down, i), want);
                break;
            }
        }
        CHECK(gguf_tensor_value(gate, 5) == st_f16_to_f32(gguf_f32_to_f16(m->w.layers[0].wgu[5])));
        /* and close to the f32 value: q8_0 within half a step d/2 = max|x|/254 of each block */
        for (size_t b = 0; b < (size_t)C * F / 32; b++) {
            const float *x = m->w.layers[0].wdown + 32 * b;
            float amax = 0, err = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            for (int j = 0; j < 32; j++) err = fmaxf(err, fabsf(gguf_tensor_value(down, 32 * b + j) - x[j]));
            CHECK(err <= (type == GGML_F16 ? amax / 1024 : amax / 254 * 1.01f + amax / 1024));
        }
    next:
        gguf_file_free(&f);
        remove_export(path);
    }
    model_free(m);
}

/* The checkpoint a CLI test exports. */
static char *save_checkpoint(const char *dir, const char *name, const Model *m, int with_tokenizer) {
    char *path = path_join(dir, name);
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    model_dir_save(path, m, with_tokenizer ? gguf_test_tokenizer() : NULL, 0, 1);
    lmf_quiet = quiet;
    return path;
}

TEST(gguf_cli_lora_adapter_exports_merged) {
    char *dir = test_tmpdir("gguf-lora");
    Model *m = gguf_test_model(LLAMA_TIED, 4);
    char *base = save_checkpoint(dir, "base", m, 1), *adapter = path_join(dir, "adapter");
    LoraConfig lc = lora_config_defaults();
    Lora *lora = lora_new(&m->cfg, &lc, 5);
    for (size_t i = 0; i < lora->n_params; i++) lora->params[i] = 0.05f * sinf((float)i); /* B too: not a no-op */
    int quiet = lmf_quiet;
    lmf_quiet = 1;
    lora_save(lora, adapter, base);
    lmf_quiet = quiet;
    lora_merge(lora, m);
    char *want = path_join(dir, "merged.gguf"), *got = path_join(dir, "cli.gguf");
    gguf_export(m, gguf_test_tokenizer(), GGML_F16, "same", want);
    CHECK_EQ_INT(test_system("'%s' export gguf '%s' --type f16 --name same --out '%s' >/dev/null 2>&1", lmforge_bin(),
                             adapter, got),
                 0);
    CHECK_EQ_INT(test_system("cmp -s '%s' '%s'", want, got), 0);
    lora_free(lora);
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(dir);
    free(base);
    free(adapter);
    free(want);
    free(got);
}

/* Runs `lmforge export ARGS`; checks it fails with a one-line message containing `expected`. */
static void check_refused(const char *dir, const char *args, const char *expected) {
    char *err = path_join(dir, "stderr.txt");
    int rc = test_system("'%s' export %s 2> '%s' >/dev/null", lmforge_bin(), args, err);
    char *text = read_file(err, NULL);
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    CHECK_MSG(rc != 0 && strstr(text, expected) && lines == 1, "export %s: rc %d, stderr \"%s\"", args, rc, text);
    free(text);
    free(err);
}

TEST(gguf_cli_refusals) {
    char *dir = test_tmpdir("gguf-refuse");
    Model *m = gguf_test_model(LLAMA_TIED, 6);
    char *plain = save_checkpoint(dir, "plain", m, 0), *good = save_checkpoint(dir, "good", m, 1);
    ModelConfig sc = m->cfg;
    sc.head = HEAD_SCORE;
    sc.tie_embeddings = 0;
    Model *rm = model_new(&sc);
    char *score = save_checkpoint(dir, "score", rm, 1);
    char args[4096];
    snprintf(args, sizeof args, "gguf '%s' --out '%s/x.gguf'", plain, dir);
    check_refused(dir, args, "has no tokenizer.json");
    snprintf(args, sizeof args, "gguf '%s' --out '%s/x.gguf'", score, dir);
    check_refused(dir, args, "score head");
    snprintf(args, sizeof args, "gguf '%s' --type q4_0 --out '%s/x.gguf'", good, dir);
    check_refused(dir, args, "--type must be f32, f16 or q8_0");
    snprintf(args, sizeof args, "gguf '%s'", good);
    check_refused(dir, args, "--out");
    snprintf(args, sizeof args, "onnx '%s' --out x", good);
    check_refused(dir, args, "unknown format");
    char *none = path_join(dir, "x.gguf"), *tmp = path_join(dir, "x.gguf.tmp");
    CHECK(!file_exists(none) && !file_exists(tmp)); /* nothing left behind */
    free(none);
    free(tmp);
    /* --help documents every flag */
    char *help = path_join(dir, "help.txt");
    CHECK_EQ_INT(test_system("'%s' export gguf --help > '%s'", lmforge_bin(), help), 0);
    char *text = read_file(help, NULL);
    CHECK(strstr(text, "--out") && strstr(text, "--type") && strstr(text, "--base") && strstr(text, "--name"));
    free(text);
    free(help);
    model_free(rm);
    model_free(m);
    test_system("rm -rf '%s'", dir);
    free(dir);
    free(plain);
    free(good);
    free(score);
}
