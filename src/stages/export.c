/* export.c — `lmforge export gguf`: a checkpoint (or a LoRA adapter, merged
 * into its base as `lmforge merge` does) as one GGUF file for llama.cpp,
 * ollama and the other programs built on it (io/gguf_export.h). */
#include <stdlib.h>
#include <string.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../io/model_dir.h"
#include "../io/gguf_export.h"
#include "../io/lora_files.h"
#include "stages.h"

/* The model in DIR; an adapter directory is merged into its base model, its
 * own tokenizer (the one it was trained with) preferred. */
static ModelDir load_model(const char *dir, const char *base_dir) {
    char *adapter_config = path_join(dir, "adapter_config.json");
    int is_adapter = file_exists(adapter_config);
    free(adapter_config);
    if (!is_adapter) {
        if (base_dir) die("export gguf: --base is for LoRA adapters, and %s is a full checkpoint", dir);
        return model_dir_load(dir);
    }
    char *recorded = lora_base_model_path(dir);
    if (!base_dir && !recorded) die("export gguf: %s/adapter_config.json names no base model; pass --base", dir);
    ModelDir ck = model_dir_load(base_dir ? base_dir : recorded);
    Lora *lora = lora_load(dir, &ck.model->cfg);
    lora_merge(lora, ck.model);
    lora_free(lora);
    char *adapter_tokenizer = path_join(dir, "tokenizer.json");
    if (file_exists(adapter_tokenizer)) {
        tokenizer_free(ck.tokenizer);
        ck.tokenizer = tokenizer_load(dir);
    }
    free(adapter_tokenizer);
    free(recorded);
    return ck;
}

static GgmlType parse_type(const char *s) {
    if (strcmp(s, "f32") == 0) return GGML_F32;
    if (strcmp(s, "f16") == 0) return GGML_F16;
    if (strcmp(s, "q8_0") == 0) return GGML_Q8_0;
    die("export gguf: --type must be f32, f16 or q8_0, not %s", s);
}

/* The last part of a path, for general.name. */
static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    return s;
}

static int export_gguf(int argc, char **argv) {
    const char *out = NULL, *type_name = "f16", *base_dir = NULL, *name = NULL;
    Option opts[] = {
        OPT_STR("out", &out, "the .gguf file to write (atomically)"),
        OPT_STR("type", &type_name, "matrices as f32, f16 or q8_0 (norms and biases stay f32)"),
        OPT_STR("base", &base_dir, "for a LoRA adapter: its base checkpoint (default: the one the adapter names)"),
        OPT_STR("name", &name, "general.name in the file (default: the model directory's name)"),
        OPT_END};
    char **positional;
    int n = args_parse("export gguf", "MODEL",
                       "Write a checkpoint as one GGUF v3 file that llama.cpp and ollama load: architecture llama "
                       "(qwen2 when q/k/v have biases), tensors under llama.cpp's names, the tokenizer and the ChatML "
                       "template. A LoRA adapter directory is merged into its base first. A model llama.cpp cannot "
                       "run as lmforge does is refused, with the reason.",
                       opts, argc, argv, &positional);
    if (n != 1) die("export gguf: expected one MODEL directory (see lmforge export gguf --help)");
    if (!out) die("export gguf: --out FILE.gguf is required");
    const char *dir = positional[0];
    GgmlType type = parse_type(type_name);
    ModelDir ck = load_model(dir, base_dir);
    const char *why = gguf_export_check(ck.model, ck.tokenizer);
    if (why) die("export gguf: %s cannot be exported: %s", dir, why);
    double t0 = now_seconds();
    GgufExportStats s = gguf_export(ck.model, ck.tokenizer, type, name ? name : base_name(dir), out);
    info("wrote %s: %s, %s, %d tensors, %.1f MB of weights in %.2f s%s", out,
         gguf_export_arch(&ck.model->cfg), ggml_type_name(type), s.n_tensors, (double)s.bytes / 1e6, now_seconds() - t0,
         s.n_f16_fallback ? " (matrices whose rows are not a multiple of 32 values in f16)" : "");
    model_dir_free(&ck);
    free(positional);
    return 0;
}

int cmd_export(int argc, char **argv) {
    static const char usage[] = "usage: lmforge export gguf MODEL --out FILE.gguf [--type f32|f16|q8_0]\n";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        /* one format so far: its flags are the command's */
        printf("%s\nExport a model to another format; gguf (llama.cpp, ollama) is the one there is.\n\n", usage);
        char *help[] = {"gguf", "--help", NULL};
        return export_gguf(2, help);
    }
    if (argc < 2) die("export: which format? (lmforge export gguf MODEL --out FILE.gguf)");
    if (strcmp(argv[1], "gguf") == 0) return export_gguf(argc - 1, argv + 1);
    die("export: unknown format '%s'; gguf is the one supported", argv[1]);
}
