/* test_sft.c — supervised fine-tuning: the loss mask token by token and its
 * loss against PyTorch, packing against one-by-one, truncation and skips,
 * bad records, and the lmforge sft command (checkpoints, exact resume,
 * LoRA + merge, and held-out accuracy rising on real demo data). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../src/base/json_util.h"
#include "../src/base/util.h"
#include "../src/data/sft_data.h"
#include "../src/io/lora_files.h"
#include "../src/io/model_dir.h"
#include "../src/model/generate.h"
#include "../src/train/lm_loss.h"
#include "test.h"
#include "test_sft_util.h"

/* A hand-built chat: system, user, assistant, user, assistant. */
static const char *chat_roles[5] = {"system", "user", "assistant", "user", "assistant"};
static const char *chat_contents[5] = {"You are a helpful assistant.", "What is the capital of France?", "Paris.",
                                       "And of Kenya?", "Nairobi, the capital of Kenya."};
static const char *chat_jsonl =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
    "{\"role\":\"user\",\"content\":\"What is the capital of France?\"},{\"role\":\"assistant\",\"content\":\"Paris.\"},"
    "{\"role\":\"user\",\"content\":\"And of Kenya?\"},"
    "{\"role\":\"assistant\",\"content\":\"Nairobi, the capital of Kenya.\"}]}\n"
    "{\"prompt\":\"What is 2 + 3?\",\"completion\":\"The answer is 5.\"}\n";

static void push_encoded(const Tokenizer *t, const char *text, int marked, IntVec *ids, IntVec *mask) {
    int before = ids->len;
    tokenizer_encode(t, text, strlen(text), 1, ids);
    for (int i = before; i < ids->len; i++) intvec_push(mask, marked);
}

/* The expected tokens and mask, built piece by piece: each message is
 * "<|im_start|>ROLE\n" (context), CONTENT and "<|im_end|>" (trained when an
 * assistant's turn is), then "\n" (context). */
static void expected_chat(const Tokenizer *t, const char **roles, const char **contents, int n, int last_only,
                          IntVec *ids, IntVec *mask) {
    for (int i = 0; i < n; i++) {
        int trained = strcmp(roles[i], "assistant") == 0 && (!last_only || i == n - 1);
        char *head = xsprintf("<|im_start|>%s\n", roles[i]);
        push_encoded(t, head, 0, ids, mask);
        push_encoded(t, contents[i], trained, ids, mask);
        push_encoded(t, "<|im_end|>", trained, ids, mask);
        push_encoded(t, "\n", 0, ids, mask);
        free(head);
    }
}

static void check_example(const Tokenizer *t, const SftExample *e, const IntVec *ids, const IntVec *mask,
                          const char *label) {
    CHECK_MSG(e->len == ids->len, "%s: %d tokens, expected %d", label, e->len, ids->len);
    for (int i = 0; i < LMF_MIN(e->len, ids->len); i++) {
        char *text = tokenizer_decode(t, &ids->data[i], 1, NULL);
        CHECK_MSG(e->ids[i] == ids->data[i], "%s: token %d is %d, expected %d (%s)", label, i, e->ids[i],
                  ids->data[i], text);
        CHECK_MSG(e->mask[i] == mask->data[i], "%s: token %d (%s) has mask %d, expected %d", label, i, text,
                  e->mask[i], mask->data[i]);
        free(text);
    }
}

static char *write_data(const char *dir, const char *text) { return test_write_text(dir, "data.jsonl", text); }

TEST(sft_loss_mask_is_exactly_the_assistant_tokens) {
    char *dir = test_tmpdir("sft-mask");
    Tokenizer *t = test_chat_tokenizer(dir);
    char *path = write_data(dir, chat_jsonl);
    const char *paths[1] = {path};
    for (int last_only = 0; last_only < 2; last_only++) {
        SftOptions o = {256, last_only};
        SftData *d = sft_data_load(paths, 1, t, &o);
        CHECK_EQ_INT(d->n, 2);
        IntVec ids = {0}, mask = {0};
        expected_chat(t, chat_roles, chat_contents, 5, last_only, &ids, &mask);
        check_example(t, &d->items[0], &ids, &mask, last_only ? "chat, last turn only" : "chat, every turn");
        /* the trained tokens, decoded, are the assistant turns and their <|im_end|> */
        IntVec trained = {0};
        for (int i = 0; i < d->items[0].len; i++)
            if (d->items[0].mask[i]) intvec_push(&trained, d->items[0].ids[i]);
        char *text = tokenizer_decode(t, trained.data, trained.len, NULL);
        const char *want = last_only ? "Nairobi, the capital of Kenya.<|im_end|>"
                                     : "Paris.<|im_end|>Nairobi, the capital of Kenya.<|im_end|>";
        CHECK_MSG(strcmp(text, want) == 0, "trained text \"%s\"", text);
        free(text);
        intvec_free(&trained);
        /* prompt/completion: the completion only, whatever last_only says */
        ids.len = mask.len = 0;
        const char *pc_roles[2] = {"user", "assistant"}, *pc_contents[2] = {"What is 2 + 3?", "The answer is 5."};
        expected_chat(t, pc_roles, pc_contents, 2, 0, &ids, &mask);
        check_example(t, &d->items[1], &ids, &mask, "prompt/completion");
        /* the prompt for generation and the reference answer */
        CHECK_EQ_INT(d->items[0].prompt.n, 4);
        CHECK(strcmp(d->items[0].reference, chat_contents[4]) == 0);
        CHECK(d->items[1].prompt.n == 1 && strcmp(d->items[1].prompt.msgs[0].content, "What is 2 + 3?") == 0);
        /* targets: the next token where that token is trained, -100 elsewhere */
        Batch b = {0};
        int idx[2] = {0, 1};
        long n_targets = sft_make_batch(&b, d, idx, 2, 256, 1, 0);
        long expected_targets = 0;
        for (int k = 0; k < 2; k++) {
            const SftExample *e = &d->items[k];
            int start = k == 0 ? 0 : d->items[0].len; /* both fit in one packed row */
            for (int i = 0; i < e->len; i++) {
                int want_target = i + 1 < e->len && e->mask[i + 1] ? e->ids[i + 1] : -100;
                CHECK_MSG(b.targets[start + i] == want_target, "example %d position %d: target %d, expected %d", k,
                          i, b.targets[start + i], want_target);
                CHECK_EQ_INT(b.doc_start[start + i], start);
                expected_targets += want_target >= 0;
            }
        }
        CHECK_EQ_INT(n_targets, expected_targets);
        CHECK_EQ_INT(b.B, 1);
        CHECK_EQ_INT(b.T, d->items[0].len + d->items[1].len);
        batch_free(&b);
        intvec_free(&ids);
        intvec_free(&mask);
        sft_data_free(d);
    }
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
    tokenizer_free(t);
}

/* The loss of the masked batch against llama_ref.py, whose targets the test
 * builds itself from the expected mask. */
TEST(sft_loss_matches_pytorch) {
    if (!have_torch()) SKIP("python3-torch is not installed (apt-get install python3-torch)");
    char *dir = test_tmpdir("sft-ref");
    Tokenizer *t = test_chat_tokenizer(dir);
    IntVec ids = {0}, mask = {0};
    expected_chat(t, chat_roles, chat_contents, 5, 0, &ids, &mask);
    int T = ids.len;
    int *targets = xmalloc(sizeof(int) * (size_t)T);
    for (int i = 0; i < T; i++) targets[i] = i + 1 < T && mask.data[i + 1] ? ids.data[i + 1] : -100;
    Model *m = test_small_model(tokenizer_vocab_size(t), 32, 2, 4, 2, 17, 3.0f);
    test_write_reference_fixture(dir, m, NULL, 1, T, ids.data, targets, NULL);
    CHECK(test_system("/usr/bin/python3 tests/ref/llama_ref.py %s", dir) == 0);

    char *path = write_data(dir, chat_jsonl);
    const char *paths[1] = {path};
    SftOptions o = {256, 0};
    SftData *d = sft_data_load(paths, 1, t, &o);
    Batch b = {0};
    int idx[1] = {0};
    sft_make_batch(&b, d, idx, 1, 256, 1, 0);
    model_forward(m, b.tokens, b.doc_start, b.B, b.T, 0);
    long count;
    double loss = lm_loss_sum(m, b.targets, &count) / (double)count;
    double ref = test_read_number(dir, "ref_loss.txt");
    CHECK_MSG(fabs(loss - ref) < 1e-5 * fabs(ref), "loss %.8f vs PyTorch %.8f", loss, ref);
    batch_free(&b);
    sft_data_free(d);
    model_free(m);
    free(targets);
    intvec_free(&ids);
    intvec_free(&mask);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
    tokenizer_free(t);
}

/* ---- packing ---- */

static const char *mixed_jsonl =
    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"}]}\n"
    "{\"prompt\":\"What is the capital of Kenya?\",\"completion\":\"Nairobi.\"}\n"
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"2 + 3?\"},"
    "{\"role\":\"assistant\",\"content\":\"5\"},{\"role\":\"user\",\"content\":\"Write house in capital letters.\"},"
    "{\"role\":\"assistant\",\"content\":\"HOUSE\"}]}\n"
    "{\"prompt\":[{\"role\":\"user\",\"content\":\"Spell it backwards.\"}],"
    "\"completion\":[{\"role\":\"assistant\",\"content\":\"esuoh\"}]}\n"
    "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France? Answer in one word.\"},"
    "{\"role\":\"assistant\",\"content\":\"Paris\"}]}\n";

/* Loss sum and gradients (of the model, or of the adapter when one is
 * attached) of examples idx[0..n) laid out as one batch, normalised by norm. */
static double batch_loss_and_grads(Model *m, const SftData *d, const int *idx, int n, int max_row, int packed,
                                   double norm) {
    Batch b = {0};
    sft_make_batch(&b, d, idx, n, max_row, packed, 0);
    model_forward(m, b.tokens, b.doc_start, b.B, b.T, 1);
    long count;
    double loss = lm_loss_sum_and_grad(m, b.targets, norm, &count);
    model_backward(m);
    batch_free(&b);
    return loss;
}

TEST(sft_packing_is_exact) {
    enum { ROW = 100 }; /* tokens per packed row */
    char *dir = test_tmpdir("sft-packing");
    Tokenizer *t = test_chat_tokenizer(dir);
    char *path = write_data(dir, mixed_jsonl);
    const char *paths[1] = {path};
    SftOptions o = {ROW, 0};
    SftData *d = sft_data_load(paths, 1, t, &o);
    CHECK_EQ_INT(d->n, 5);
    int idx[5] = {0, 1, 2, 3, 4};
    Batch probe = {0};
    double norm = (double)sft_make_batch(&probe, d, idx, 5, ROW, 1, 0);
    int shared = 0; /* positions of an example that starts inside a row, after another */
    for (int i = 0; i < probe.B * probe.T; i++) shared += probe.doc_start[i] > 0 && probe.doc_start[i] != i % probe.T;
    CHECK_MSG(probe.B >= 2 && shared > 0, "the examples should share rows and need several: %d rows", probe.B);
    batch_free(&probe);

    for (int with_lora = 0; with_lora < 2; with_lora++) {
        Model *m = test_small_model(tokenizer_vocab_size(t), 32, 2, 4, 2, 23, 2.0f);
        Lora *l = NULL;
        float *grads;
        size_t n_grads;
        const ParamTensor *tensors;
        int n_tensors;
        if (with_lora) {
            LoraConfig lc = lora_config_defaults();
            lc.dropout = 0; /* masks depend on the layout; exactness is about the model */
            l = lora_new(&m->cfg, &lc, 3);
            for (size_t i = 0; i < l->n_params; i++) l->params[i] += 0.05f * (float)((i * 7919) % 13) - 0.3f;
            m->lora = l;
            grads = l->grads;
            n_grads = l->n_params;
            tensors = l->tensors;
            n_tensors = l->n_tensors;
        } else {
            model_alloc_grads(m);
            grads = m->grads;
            n_grads = m->n_params;
            tensors = m->tensors;
            n_tensors = m->n_tensors;
        }
        float *one_by_one = xalloc_floats(n_grads);
        double loss_single = 0;
        memset(grads, 0, n_grads * sizeof(float));
        for (int i = 0; i < 5; i++) loss_single += batch_loss_and_grads(m, d, &idx[i], 1, ROW, 0, norm);
        memcpy(one_by_one, grads, n_grads * sizeof(float));
        for (int packed = 1; packed >= 0; packed--) {
            memset(grads, 0, n_grads * sizeof(float));
            double loss = batch_loss_and_grads(m, d, idx, 5, ROW, packed, norm);
            const char *what = packed ? "packed" : "padded";
            CHECK_MSG(fabs(loss - loss_single) < 1e-5 * loss_single, "%s%s: loss %.8f, one by one %.8f", what,
                      with_lora ? " (LoRA)" : "", loss, loss_single);
            /* float32 sums over tokens in another order, with cancellation in
             * the attention adapters' sums: 1e-3 of the largest entry (a
             * mask crossing examples gives errors of order 1) */
            for (int i = 0; i < n_tensors; i++) {
                const ParamTensor *pt = &tensors[i];
                size_t n = (size_t)pt->rows * (pt->cols ? (size_t)pt->cols : 1);
                double e = rel_error(grads + pt->offset, one_by_one + pt->offset, n);
                CHECK_MSG(e < 1e-3, "%s: gradient of %s differs from one by one, relative error %.3g", what,
                          pt->name, e);
            }
        }
        free(one_by_one);
        m->lora = NULL;
        lora_free(l);
        model_free(m);
    }
    sft_data_free(d);
    test_system("rm -rf %s", dir);
    free(path);
    free(dir);
    tokenizer_free(t);
}

/* Micro-batches of SFT change shape all the time: a packed pass must compute
 * the same after a larger pass as in a fresh model (the positions of packed
 * documents once shared memory with doc_start beyond the current size). */
TEST(sft_packed_pass_does_not_depend_on_earlier_passes) {
    int tokens[192], doc_start[192];
    for (int i = 0; i < 192; i++) tokens[i] = (i * 37 + 5) % 50;
    for (int i = 0; i < 37; i++) doc_start[i] = i < 9 ? 0 : i < 20 ? 9 : 20;
    Model *fresh = test_small_model(50, 32, 2, 4, 2, 41, 2.0f), *used = test_small_model(50, 32, 2, 4, 2, 41, 2.0f);
    int zeros[192] = {0};
    model_forward(used, tokens, zeros, 2, 30, 1); /* a larger packed pass first (60 tokens: 37 < 60 < 3 * 37) */
    model_forward(fresh, tokens, doc_start, 1, 37, 1);
    model_forward(used, tokens, doc_start, 1, 37, 1);
    CHECK(memcmp(fresh->act.out, used->act.out, sizeof(float) * 37 * 50) == 0);
    model_free(fresh);
    model_free(used);
}

/* ---- truncation, skips, bad records ---- */

/* Tokens before the first trained one, and from there to the end. */
static int prompt_part(const SftExample *e) {
    int first = 0;
    while (first < e->len && !e->mask[first]) first++;
    return first;
}

TEST(sft_truncation_and_skips_are_counted) {
    char *dir = test_tmpdir("sft-trunc");
    Tokenizer *t = test_chat_tokenizer(dir);
    const char *long_text = "The capital of France is Paris. The capital of Kenya is Nairobi. You are a helpful "
                            "assistant. Write house in capital letters. What is the capital of France?";
    char *text = xsprintf("{\"prompt\":\"Hi\",\"completion\":\"Hello\"}\n"       /* fits */
                          "{\"prompt\":\"%s\",\"completion\":\"Paris\"}\n"       /* loses its prompt's start */
                          "{\"prompt\":\"Hi\",\"completion\":\"%s\"}\n"          /* loses the answer's end */
                          "{\"prompt\":\"%s %s\",\"completion\":\"%s\"}\n",      /* loses both */
                          long_text, long_text, long_text, long_text, long_text);
    char *path = write_data(dir, text);
    const char *paths[1] = {path};
    SftOptions full = {100000, 0};
    SftData *whole = sft_data_load(paths, 1, t, &full);
    CHECK_EQ_INT(whole->n, 4);
    const SftExample *w = whole->items;
    /* the longest sequence kept: the first example, and the second's answer part, fit */
    int max_len = LMF_MAX(w[0].len, w[1].len - prompt_part(&w[1]));
    CHECK(w[1].len > max_len && w[2].len - prompt_part(&w[2]) > max_len && prompt_part(&w[2]) < max_len);
    CHECK(prompt_part(&w[3]) >= max_len);
    SftOptions cut = {max_len, 0};
    SftData *d = sft_data_load(paths, 1, t, &cut);
    CHECK_EQ_INT(d->stats.n_records, 4);
    CHECK_EQ_INT(d->stats.n_truncated, 3);
    CHECK_EQ_INT(d->stats.n_response_cut, 2); /* the long answers */
    CHECK_EQ_INT(d->stats.n_skipped, 0);      /* the length policy keeps the start of every answer */
    CHECK_EQ_INT(d->n, 4);
    CHECK_EQ_INT(d->stats.n_tokens_dropped, w[1].len + w[2].len + w[3].len - 3L * max_len);
    /* the long prompt lost its start: the example is the last max_len tokens, answer intact */
    const SftExample *e = &d->items[1];
    CHECK_EQ_INT(e->len, max_len);
    CHECK(memcmp(e->ids, w[1].ids + w[1].len - max_len, sizeof(int) * (size_t)max_len) == 0);
    CHECK(memcmp(e->mask, w[1].mask + w[1].len - max_len, sizeof(int) * (size_t)max_len) == 0);
    /* the long answers kept their start, after one prompt token that predicts it */
    for (int k = 2; k < 4; k++) {
        CHECK_EQ_INT(d->items[k].len, max_len);
        CHECK_EQ_INT(prompt_part(&d->items[k]), 1);
        CHECK(memcmp(d->items[k].ids, w[k].ids + prompt_part(&w[k]) - 1, sizeof(int) * (size_t)max_len) == 0);
    }
    sft_data_free(whole);
    sft_data_free(d);
    test_system("rm -rf %s", dir);
    free(text);
    free(path);
    free(dir);
    tokenizer_free(t);
}

typedef struct {
    const char *path;
    Tokenizer *tok;
} LoadCase;
static void load_records(void *ctx) {
    LoadCase *c = ctx;
    const char *paths[1] = {c->path};
    SftOptions o = {256, 0};
    sft_data_load(paths, 1, c->tok, &o);
}

TEST(sft_bad_records_name_file_line_and_field) {
    char *dir = test_tmpdir("sft-bad");
    Tokenizer *t = test_chat_tokenizer(dir);
    const char *good = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n";
    const struct {
        const char *line, *message;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"bot\",\"content\":\"x\"}]}",
         ":2: field \"messages\"[1]: unknown role \"bot\" (system, user or assistant)"},
        {"{\"messages\":[{\"role\":\"user\"},{\"role\":\"assistant\",\"content\":\"x\"}]}",
         ":2: field \"messages\"[0]: \"content\" is missing"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":7}]}",
         ":2: field \"messages\"[1]: \"content\" must be a string"},
        {"{\"messages\":[]}", ":2: field \"messages\" is an empty list of messages"},
        {"{\"messages\":[{\"role\":\"assistant\",\"content\":\"Hi\"},{\"role\":\"user\",\"content\":\"x\"}]}",
         ":2: field \"messages\": the chat ends with a user turn; it must end with an assistant turn"},
        {"{\"messages\":\"Hi\"}", ":2: field \"messages\" must be a list of messages"},
        {"{\"text\":\"Hi\"}", ":2: needs a \"messages\" field, or \"prompt\" and \"completion\" fields"},
        {"{\"prompt\":\"Hi\"}", ":2: field \"completion\" is missing"},
        {"{\"prompt\":\"Hi\",\"completion\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         ":2: field \"completion\" must be a string or a list of one assistant message"},
        {"{\"prompt\":[{\"role\":\"user\",\"content\":false}],\"completion\":\"x\"}",
         ":2: field \"prompt\"[0]: \"content\" must be a string"},
    };
    for (size_t i = 0; i < LMF_ARRAY_LEN(cases); i++) {
        char *text = xsprintf("%s%s\n", good, cases[i].line);
        char *path = test_write_text(dir, "bad.jsonl", text);
        char *expected = xsprintf("%s%s", path, cases[i].message); /* "DIR/bad.jsonl:2: field ..." */
        LoadCase c = {path, t};
        CHECK_DIES(load_records, &c, expected);
        free(expected);
        free(path);
        free(text);
    }
    test_system("rm -rf %s", dir);
    free(dir);
    tokenizer_free(t);
}

/* ---- the command ---- */

/* A base checkpoint (small random model + the test tokenizer) and a few
 * dozen chats, in dir. */
static void make_cli_fixture(const char *dir, Tokenizer **tok_out) {
    Tokenizer *t = test_chat_tokenizer(dir);
    Model *m = test_small_model(tokenizer_vocab_size(t), 32, 2, 4, 2, 31, 1.0f);
    char *base = path_join(dir, "base");
    model_dir_save(base, m, t, 0.0, 1.0);
    char *path = path_join(dir, "train.jsonl");
    FILE *f = xfopen(path, "w");
    const char *words[6] = {"house", "Paris", "Kenya", "capital", "letters", "answer"};
    for (int i = 0; i < 40; i++)
        fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"Say %s and %s.\"},"
                   "{\"role\":\"assistant\",\"content\":\"%s %s\"}]}\n",
                words[i % 6], words[(i / 6) % 6], words[i % 6], words[(i / 6) % 6]);
    fclose(f);
    free(path);
    free(base);
    model_free(m);
    *tok_out = t;
}

static int run_sft(const char *dir, const char *run, const char *extra) {
    return test_system("%s sft --init %s/base --out %s/%s --batch 4 --seq-len 48 --lr 3e-3 --schedule constant "
                       "--warmup 0 --eval-fraction 0.1 --eval-every 3 --eval-prompts 3 --max-new-tokens 6 "
                       "--save-every 3 %s --data %s/train.jsonl >> %s/log 2>&1",
                       lmforge_bin(), dir, dir, run, extra, dir, dir);
}

/* The losses of metrics.jsonl, one per step. */
static int read_losses(const char *dir, const char *run, double *losses, int max) {
    char *path = xsprintf("%s/%s/metrics.jsonl", dir, run), *text = read_file(path, NULL);
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        losses[n++] = json_get_double(j, "loss", path);
        cJSON_Delete(j);
    }
    free(text);
    free(path);
    return n;
}

static void check_resume_is_exact(const char *dir, const char *flags, const char *label) {
    char *a = xsprintf("straight%s", label), *b = xsprintf("resumed%s", label);
    char *steps6 = xsprintf("--steps 6 %s", flags), *steps3 = xsprintf("--steps 3 %s", flags);
    /* extending a 3-step run to 6 steps changes a setting: --resume-override says that is meant */
    char *resume = xsprintf("--steps 6 --resume --resume-override %s", flags);
    CHECK_EQ_INT(run_sft(dir, a, steps6), 0);
    CHECK_EQ_INT(run_sft(dir, b, steps3), 0);
    CHECK_EQ_INT(run_sft(dir, b, resume), 0);
    double la[8], lb[8];
    int na = read_losses(dir, a, la, 8), nb = read_losses(dir, b, lb, 8);
    CHECK_EQ_INT(na, 6);
    CHECK_EQ_INT(nb, 6);
    for (int s = 0; s < LMF_MIN(na, nb); s++)
        CHECK_MSG(la[s] == lb[s], "%s step %d: loss %.9g straight, %.9g resumed", label, s + 1, la[s], lb[s]);
    CHECK(la[5] < la[0]); /* and it learns */
    free(a);
    free(b);
    free(steps6);
    free(steps3);
    free(resume);
}

TEST(sft_cli_writes_a_checkpoint_and_resumes_exactly) {
    char *dir = test_tmpdir("sft-cli");
    Tokenizer *t;
    make_cli_fixture(dir, &t);
    check_resume_is_exact(dir, "", "");
    /* the final model: a full checkpoint with the chat template */
    char *model_dir = xsprintf("%s/straight/model", dir), *config = path_join(model_dir, "tokenizer_config.json");
    cJSON *j = json_read_file(config);
    CHECK(strstr(json_get_string(j, "chat_template", config), "<|im_start|>") != NULL);
    cJSON_Delete(j);
    ModelDir ck = model_dir_load(model_dir);
    CHECK(ck.tokenizer != NULL && ck.model->lora == NULL);
    model_dir_free(&ck);
    /* held-out answers of the last evaluation, and its figures */
    char *gen = xsprintf("%s/straight/generations/step-6.jsonl", dir), *text = read_file(gen, NULL);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *g = cJSON_Parse(line);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(g, "prompt")) && cJSON_IsString(cJSON_GetObjectItem(g, "reference")) &&
              cJSON_IsString(cJSON_GetObjectItem(g, "response")));
        cJSON_Delete(g);
    }
    CHECK_EQ_INT(lines, 3);
    char *metrics = xsprintf("%s/straight/metrics.jsonl", dir), *mtext = read_file(metrics, NULL);
    CHECK(strstr(mtext, "\"eval/loss\"") && strstr(mtext, "\"eval/exact_match\""));
    free(mtext);
    free(metrics);
    free(text);
    free(gen);
    free(config);
    free(model_dir);
    test_system("rm -rf %s", dir);
    free(dir);
    tokenizer_free(t);
}

TEST(sft_cli_takes_its_data_from_repeated_data_flags) {
    char *dir = test_tmpdir("sft-cli-data");
    Tokenizer *t;
    make_cli_fixture(dir, &t);
    char *lm = realpath(lmforge_bin(), NULL); /* the commands run in dir */
    if (!lm) SKIP("the lmforge binary is not built");
    /* the 40 records of train.jsonl, given twice: 80 examples */
    CHECK(test_system("cd '%s' && %s sft --init base --out run --steps 1 --eval-fraction 0 --eval-prompts 0 "
                      "--data train.jsonl --data train.jsonl > log 2>&1 && grep -q 'training data: 80 examples' log",
                      dir, lm) == 0);
    CHECK(test_system("cd '%s' && %s sft --init base --out run2 train.jsonl 2> err.txt", dir, lm) == 1);
    CHECK(test_system("grep -q 'sft: unexpected argument train.jsonl (data files go after --data)' '%s/err.txt'", dir) == 0);
    CHECK(test_system("cd '%s' && %s sft --init base --out run2 2> err.txt", dir, lm) == 1);
    CHECK(test_system("grep -q 'sft: --data is required' '%s/err.txt'", dir) == 0);
    CHECK(test_system("cd '%s' && %s sft --data train.jsonl --out run2 2> err.txt", dir, lm) == 1);
    CHECK(test_system("grep -q 'sft: --init is required' '%s/err.txt'", dir) == 0);
    if (!test_failed()) test_system("rm -rf '%s'", dir);
    free(lm);
    free(dir);
    tokenizer_free(t);
}

TEST(sft_cli_lora_resumes_exactly_and_merges) {
    char *dir = test_tmpdir("sft-lora-cli");
    Tokenizer *t;
    make_cli_fixture(dir, &t);
    check_resume_is_exact(dir, "--lora --lora-r 4 --lora-dropout 0.1 --lr 1e-2", "-lora");
    /* only the adapter is saved, in PEFT's layout, with the tokenizer */
    char *adapter = xsprintf("%s/straight-lora/model", dir);
    const char *present[] = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                             "tokenizer_config.json"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(present); i++) {
        char *p = path_join(adapter, present[i]);
        CHECK_MSG(file_exists(p), "%s is missing", p);
        free(p);
    }
    char *weights = path_join(adapter, "model.safetensors");
    CHECK(!file_exists(weights));
    /* merged with the base named in adapter_config.json: the logits of base + adapter */
    CHECK_EQ_INT(test_system("%s merge --adapter %s --out %s/merged >> %s/log 2>&1", lmforge_bin(), adapter, dir, dir), 0);
    char *base_dir = path_join(dir, "base"), *merged_dir = path_join(dir, "merged");
    ModelDir base = model_dir_load(base_dir), merged = model_dir_load(merged_dir);
    Lora *l = lora_load(adapter, &base.model->cfg);
    int tokens[12] = {5, 80, 3, 99, 250, 7, 18, 42, 61, 150, 2, 9};
    size_t n = 12 * (size_t)base.model->cfg.vocab_size;
    base.model->lora = l;
    model_forward(base.model, tokens, NULL, 1, 12, 0);
    model_forward(merged.model, tokens, NULL, 1, 12, 0);
    double e = rel_error(merged.model->act.out, base.model->act.out, n);
    CHECK_MSG(e < 1e-5, "merged logits differ from base + adapter: relative error %.3g", e);
    /* the held-out answers of the last evaluation are the merged model's greedy answers: the
     * generator applied the adapters (unmerged) */
    char *gen = xsprintf("%s/straight-lora/generations/step-6.jsonl", dir), *text = read_file(gen, NULL);
    int lines = 0, stop_ids[2];
    SampleOptions o = sample_options_default();
    o.temperature = 0;
    o.max_new_tokens = 6;
    o.stop_ids = stop_ids;
    o.n_stop_ids = generation_stop_ids(merged.tokenizer, stop_ids);
    o.tokenizer = merged.tokenizer;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(line);
        ChatMessage user = {"user", json_get_string(j, "prompt", gen)};
        IntVec ids = {0};
        render_prompt(merged.tokenizer, &(Conversation){&user, 1}, &ids);
        const int *prompt = ids.data;
        Generation g;
        generate_batch(merged.model, &prompt, &ids.len, 1, &o, &g);
        const char *response = json_get_string(j, "response", gen);
        CHECK_MSG(strcmp(g.text, response) == 0, "held-out answer %d: \"%s\", the merged model says \"%s\"", lines,
                  response, g.text);
        generations_free(&g, 1);
        intvec_free(&ids);
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(lines, 3);
    free(text);
    free(gen);
    base.model->lora = NULL;
    lora_free(l);
    model_dir_free(&base);
    model_dir_free(&merged);
    free(base_dir);
    free(merged_dir);
    free(weights);
    free(adapter);
    test_system("rm -rf %s", dir);
    free(dir);
    tokenizer_free(t);
}

/* Gold score (lmforge gold score --json, "overall" mean) of a generations file. */
static double gold_score(const char *dir, const char *generations) {
    char *out = xsprintf("%s/score.json", dir);
    if (test_system("%s gold score --tasks %s/data/tasks/heldout.jsonl %s --json > %s 2>> %s/log", lmforge_bin(), dir,
                    generations, out, dir) != 0) {
        free(out);
        return -1;
    }
    cJSON *j = json_read_file(out);
    double mean = json_get_double(json_get_object(j, "overall", out), "mean", out);
    cJSON_Delete(j);
    free(out);
    return mean;
}

/* The demo's word-count task ("How many words are in: eye have lose?" -> 3),
 * held-out sentences: a model pretrained a little on the demo text never
 * answers in the chat format; after SFT it counts. */
TEST_SLOW(sft_raises_held_out_accuracy_on_demo_data) {
    if (!dir_exists("/usr/share/games/bsdgames/quiz") || !dir_exists("/usr/share/wordnet") ||
        !dir_exists("/usr/share/games/fortunes") || test_system("command -v bible > /dev/null") != 0)
        SKIP("the demo data's Debian packages are missing (make deps)");
    char *dir = test_tmpdir("sft-accuracy");
    const char *lm = lmforge_bin();
    int rc = test_system("%s demo-data --out %s/data --families word_count --max-tasks-per-family 1500 "
                         "--max-pretrain-mb 0.5 > %s/log 2>&1",
                         lm, dir, dir);
    rc = rc ? rc : test_system("%s tokenizer train --vocab-size 1024 --out %s/tok %s/data/pretrain/train.txt >> %s/log 2>&1",
                               lm, dir, dir, dir);
    rc = rc ? rc : test_system("%s pretrain --tokenizer %s/tok --dim 64 --layers 2 --heads 4 --seq-len 128 --batch 8 "
                               "--steps 40 --eval-every 40 --out %s/pretrained %s/data/pretrain/train.txt >> %s/log 2>&1",
                               lm, dir, dir, dir, dir);
    rc = rc ? rc : test_system("%s sft --init %s/pretrained/model --out %s/sft --eval %s/data/sft/heldout.jsonl "
                               "--epochs 5 --batch 32 --lr 3e-3 --eval-every 1000 --eval-at-start --eval-prompts 150 "
                               "--max-new-tokens 4 --data %s/data/sft/train.jsonl >> %s/log 2>&1",
                               lm, dir, dir, dir, dir, dir);
    CHECK_MSG(rc == 0, "a command failed; see %s/log", dir);
    if (rc) return;
    char *before = xsprintf("%s/sft/generations/step-0.jsonl", dir);
    char *last = xsprintf("%s/sft/generations/step-%d.jsonl", dir, (1200 + 31) / 32 * 5);
    double acc_before = gold_score(dir, before), acc_after = gold_score(dir, last);
    CHECK_MSG(acc_before >= 0 && acc_before < 0.15, "the pretrained model scores %.3f", acc_before);
    CHECK_MSG(acc_after > 0.5 && acc_after > acc_before + 0.4, "held-out accuracy %.3f after SFT, %.3f before",
              acc_after, acc_before);
    printf("  held-out exact match: %.3f before SFT, %.3f after\n", acc_before, acc_after);
    free(before);
    free(last);
    if (!test_failed()) test_system("rm -rf %s", dir);
    free(dir);
}
