/* fuzz.c — libFuzzer targets for lmforge's parsers (`make fuzz`).
 *
 * One source, one binary per target, picked by -DFUZZ_TARGET:
 *   1 jsonl        a JSONL file read as each kind of record: text corpus,
 *                  prompts, SFT, DPO pairs, reward-model preferences and
 *                  scoring records (the first byte picks the kind)
 *   2 json         a whole JSON file: config.json (model_dir_read_config),
 *                  a generic json_read_file, tokenizer.json (first byte)
 *   3 safetensors  a .safetensors file, or a model.safetensors.index.json
 *                  beside a valid shard (first byte)
 *   4 recipe       a pipeline recipe
 *
 * Bad input is reported with die(), which would end the process; the
 * harness sets lmf_on_die to jump back here instead, so a refusal counts as
 * a normal run and only a crash or a sanitizer report is a finding. What a
 * refused input had allocated is abandoned (run with -detect_leaks=0), and
 * the file descriptors it had opened are closed. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/base/json_util.h"
#include "../../src/base/util.h"
#include "../../src/data/chat_data.h"
#include "../../src/base/jsonl.h"
#include "../../src/data/preference_pairs.h"
#include "../../src/data/rm_data.h"
#include "../../src/data/sft_data.h"
#include "../../src/data/text_data.h"
#include "../../src/io/model_dir.h"
#include "../../src/io/safetensors.h"
#include "../../src/pipeline/recipe.h"
#include "../../src/tokenizer/tokenizer.h"

static jmp_buf back;
static void jump_back(void) { longjmp(back, 1); }

static char *dir;      /* a private folder for the files the parsers read */
static Tokenizer *tok; /* for the record kinds that render text */

static char *in_dir(const char *name) { return path_join(dir, name); }

static void write_file(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) abort();
}

/* At exit: the files the targets write, then the folder (fork mode starts
 * many processes, each with its own). */
static void remove_dir(void) {
    static const char *const names[] = {"corpus.txt", "d.jsonl", "config.json", "tokenizer.json",
                                        "a.safetensors", "m.safetensors", "model.safetensors.index.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = in_dir(names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char tmpl[] = "/tmp/lmforge-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    dir = xstrdup(tmpl);
    atexit(remove_dir);
    lmf_quiet = 1;
#if FUZZ_TARGET == 1
    /* A small tokenizer, trained once. */
    char *corpus = in_dir("corpus.txt");
    const char *text = "Name a fruit. An apple or a pear. Say a tool: a hammer, a saw.\n\n";
    FILE *f = fopen(corpus, "w");
    for (int i = 0; i < 50; i++) fputs(text, f);
    fclose(f);
    BpeTrainOptions o = {.vocab_size = 300, .min_frequency = 2};
    const char *files[] = {corpus};
    tok = tokenizer_train(files, 1, &o);
    free(corpus);
#endif
#if FUZZ_TARGET == 3
    /* The shard an index may name: one F32 tensor "p". */
    StWriter *w = st_writer_new();
    static const float v[2] = {1, 2};
    st_writer_add(w, "p", ST_F32, 1, (int64_t[]){2}, v);
    char *shard = in_dir("a.safetensors");
    st_writer_save(w, shard);
    st_writer_free(w);
    free(shard);
#endif
    return 0;
}

static void run(uint8_t kind, const uint8_t *data, size_t len) {
    (void)kind;
#if FUZZ_TARGET == 1
    char *path = in_dir("d.jsonl");
    write_file(path, data, len);
    const char *paths[] = {path};
    switch (kind % 6) {
    case 0: {
        IntVec ids = tokenize_inputs(paths, 1, tok);
        intvec_free(&ids);
        break;
    }
    case 1: {
        int n;
        Conversation *c = load_prompts(path, &n);
        for (int i = 0; i < n; i++) conversation_free(&c[i]);
        free(c);
        break;
    }
    case 2: {
        SftOptions o = {.max_len = 32};
        sft_data_free(sft_data_load(paths, 1, tok, &o));
        break;
    }
    case 3: {
        PrefPairs p = pref_pairs_load(paths, 1, tok, kind & 8 ? 32 : 8);
        pref_pairs_free(&p);
        break;
    }
    case 4: preference_set_free(preference_set_load(paths, 1, tok, 32, 0)); break;
    case 5: {
        SeqSet *s = response_set_load(paths, 1, tok, 32);
        seq_set_free(s);
        free(s);
        break;
    }
    }
    free(path);
#elif FUZZ_TARGET == 2
    char *path = in_dir(kind % 3 == 2 ? "tokenizer.json" : "config.json");
    write_file(path, data, len);
    if (kind % 3 == 0) {
        model_dir_read_config(dir);
    } else if (kind % 3 == 1) {
        cJSON_Delete(json_read_file(path));
    } else {
        char *error = NULL;
        Tokenizer *t = tokenizer_from_json((const char *)data, len, path, &error);
        if (t) tokenizer_free(t);
        free(error);
    }
    free(path);
#elif FUZZ_TARGET == 3
    int is_index = kind & 1;
    char *path = in_dir(is_index ? "model.safetensors.index.json" : "m.safetensors");
    write_file(path, data, len);
    SafeTensors *st = st_open(path);
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_tensor(st, i);
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) continue;
        size_t n = st_numel(t);
        float *dst = xmalloc(sizeof(float) * (n ? n : 1));
        st_read_f32(t, dst, n);
        free(dst);
    }
    st_close(st);
    free(path);
#elif FUZZ_TARGET == 4
    char *text = xstrndup((const char *)data, len);
    RecipeVar vars[] = {{"OUT", "runs", 0}};
    Plan p = recipe_parse(text, "fuzz.recipe", vars, 1);
    plan_free(&p);
    free(text);
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    /* The lowest free descriptor now: any at or above it after a refusal
     * were opened by the input's run (a reader's FILE), and are closed. */
    int first_fd = dup(0);
    if (first_fd < 0) abort();
    close(first_fd);
    lmf_on_die = jump_back;
    if (setjmp(back) == 0) {
        run(data[0], data + 1, size - 1);
    } else {
        for (int fd = first_fd; fd < first_fd + 8; fd++) close(fd);
    }
    lmf_on_die = NULL;
    return 0;
}
