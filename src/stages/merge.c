/* merge.c — `lmforge merge`: folds a LoRA adapter into its base model,
 * W += (alpha/r)·B·A for every adapted projection, and writes a full
 * checkpoint that needs no adapter to run (lora.h). */
#include <stdlib.h>

#include "../base/args.h"
#include "../base/util.h"
#include "../io/lora_files.h"
#include "../io/model_dir.h"
#include "stages.h"

int cmd_merge(int argc, char **argv) {
    const char *adapter_dir = NULL, *base_dir = NULL, *out = NULL;
    Option opts[] = {
        OPT_STR("adapter", &adapter_dir, "the adapter: adapter_config.json + adapter_model.safetensors (PEFT layout)"),
        OPT_STR("base", &base_dir, "the base checkpoint (default: the adapter's base_model_name_or_path)"),
        OPT_STR("out", &out, "where the merged checkpoint is written"),
        OPT_END};
    char **positional;
    int n = args_parse("merge", "", "Fold a LoRA adapter into its base model and write a full checkpoint.", opts,
                       argc, argv, &positional);
    free(positional);
    if (n) die("merge: unexpected argument (see lmforge merge --help)");
    if (!adapter_dir || !out) die("merge: --adapter and --out are required");
    char *recorded = lora_base_model_path(adapter_dir);
    if (!base_dir) {
        if (!recorded) die("merge: %s/adapter_config.json names no base model; pass --base", adapter_dir);
        base_dir = recorded;
    }
    ModelDir base = model_dir_load(base_dir);
    Lora *lora = lora_load(adapter_dir, &base.model->cfg);
    lora_merge(lora, base.model);
    /* the adapter's tokenizer (saved by lmforge sft) holds the chat template it was trained with */
    char *adapter_tokenizer = path_join(adapter_dir, "tokenizer.json");
    Tokenizer *tok = file_exists(adapter_tokenizer) ? tokenizer_load(adapter_dir) : base.tokenizer;
    model_dir_save(out, base.model, tok, base.reward_mean, base.reward_std);
    info("merged %s (rank %d, %d tensors) into %s: written to %s", adapter_dir, lora->cfg.rank, lora->n_tensors,
         base_dir, out);
    if (tok != base.tokenizer) tokenizer_free(tok);
    free(adapter_tokenizer);
    lora_free(lora);
    model_dir_free(&base);
    free(recorded);
    return 0;
}
