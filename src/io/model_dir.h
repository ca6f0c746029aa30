/* model_dir.h — a model directory in Hugging Face's layout: how models are
 * saved and loaded. (A *checkpoint* is something else: a training run's
 * RUN_DIR/checkpoint-STEP/, see train/run_dir.h, which holds a model
 * directory plus the optimizer and data state.)
 *
 * A directory holds config.json (LlamaForCausalLM / Qwen2ForCausalLM keys, or
 * the ...ForSequenceClassification variants for a scalar head),
 * model.safetensors (or a sharded model.safetensors.index.json) with the
 * Hugging Face tensor names, tokenizer.json + tokenizer_config.json, and
 * generation_config.json. That is what transformers, vLLM and the llama.cpp
 * converters read, and what lmforge reads back: its own checkpoints and
 * public Llama / Qwen2 / Mistral / SmolLM / TinyLlama ones (F32, F16, BF16).
 *
 * A model with q/k/v biases is written as Qwen2 (Llama's attention_bias also
 * puts a bias on o_proj, which this architecture does not have). */
#ifndef LMF_MODEL_DIR_H
#define LMF_MODEL_DIR_H

#include "../model/model.h"
#include "../tokenizer/tokenizer.h"

typedef struct {
    Model *model;
    Tokenizer *tokenizer; /* NULL when the directory has no tokenizer */
    /* Score heads: the reward statistics lmforge rm stores, so that PPO can
     * centre scores (0 and 1 when absent). */
    double reward_mean, reward_std;
} ModelDir;

/* Reads DIR/config.json; dies naming the file and field on anything missing,
 * inconsistent or unsupported. */
ModelConfig model_dir_read_config(const char *dir);
/* Loads the model (and tokenizer, if present). Dies with a clear message on
 * a missing, truncated or mismatched tensor. */
ModelDir model_dir_load(const char *dir);
void model_dir_free(ModelDir *c);

/* Loads the parameters saved in DIR into an existing model, whose
 * configuration must be the one in DIR/config.json (dies otherwise). */
void model_dir_load_params(const char *dir, Model *m);

/* Writes the model (F32), its config, the tokenizer (if not NULL) and a
 * generation config into DIR (created if needed). Each file is written
 * atomically; reward_mean/std are stored for score heads. */
void model_dir_save(const char *dir, const Model *m, const Tokenizer *tok, double reward_mean, double reward_std);

/* Copies every tensor of src into dst whose name and shape dst also has
 * (e.g. a reward model initialised from an SFT model: all but the head).
 * Returns the number of tensors copied. */
int model_copy_matching(Model *dst, const Model *src);

#endif
