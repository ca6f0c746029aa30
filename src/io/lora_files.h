/* lora_files.h — LoRA adapters on disk, in PEFT's layout: DIR/adapter_config.json
 * and DIR/adapter_model.safetensors with names like
 * base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight, which
 * peft.PeftModel.from_pretrained loads (the adapters themselves: model/lora.h). */
#ifndef LMF_LORA_FILES_H
#define LMF_LORA_FILES_H

#include "../model/lora.h"

/* Writes DIR/adapter_config.json and DIR/adapter_model.safetensors
 * (atomically); base_model is recorded as base_model_name_or_path. */
void lora_save(const Lora *l, const char *dir, const char *base_model);
/* Reads an adapter saved by lora_save or by PEFT for a model of shape mc.
 * Dies naming the file and field or tensor on anything missing, malformed
 * or unsupported (DoRA, biases, modules_to_save, per-layer patterns). */
Lora *lora_load(const char *dir, const ModelConfig *mc);
/* Reads the tensors of DIR into an existing adapter of the same shape (resume). */
void lora_load_params(Lora *l, const char *dir);
/* base_model_name_or_path of DIR/adapter_config.json (malloc'ed), or NULL. */
char *lora_base_model_path(const char *dir);

#endif
