/* gguf_export.h — a model and its tokenizer as a GGUF file that llama.cpp
 * runs: architecture "llama" (or "qwen2" for q/k/v biases), its
 * hyper-parameters, the tensors under llama.cpp's names, and the tokenizer.
 *
 * Hugging Face rotates q and k in the "rotate-half" layout (pairs i and
 * i + HS/2 of a head); llama.cpp's "llama" architecture rotates adjacent
 * pairs (2i, 2i + 1). llama.cpp's converter reorders each head's rows of
 * q_proj and k_proj so that both compute the same attention, and so do we
 * (gguf_permute_rope_rows), q/k biases included. Its "qwen2" and "qwen3" rotate halves: no reordering.
 *
 * An explicit head_dim goes in attention.key_length / value_length; linear
 * RoPE scaling in rope.scaling.type / factor; Llama 3's frequency scaling as
 * llama.cpp's converter writes it, a rope_freqs tensor (HS/2) by which
 * llama.cpp divides each pair's frequency ("llama" only). */
#ifndef LMF_GGUF_EXPORT_H
#define LMF_GGUF_EXPORT_H

#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "../base/gguf.h"

/* llama.cpp's architecture for the model: "qwen3" (per-head q/k norms), "qwen2" (biases on q/k/v alone), else
 * "llama" (no biases, or biases on q, k, v and o). */
const char *gguf_export_arch(const ModelConfig *c);

/* NULL when llama.cpp can run the model as we do, else a one-line reason. */
const char *gguf_export_check(const Model *m, const Tokenizer *t);

typedef struct {
    int n_tensors;
    int n_f16_fallback; /* matrices written f16 because their rows are not a multiple of 32 (q8_0 only) */
    size_t bytes;       /* tensor data */
} GgufExportStats;

/* Writes PATH atomically; matrices in `type`, vectors (norms, biases) in
 * f32. `name` goes to general.name. Dies with gguf_export_check's reason. */
GgufExportStats gguf_export(const Model *m, const Tokenizer *t, GgmlType type, const char *name, const char *path);

/* w (n_heads·head_size, cols), row-major, to out (same shape): within each
 * head, row j·HS/2 + i becomes row 2i + j (i < HS/2, j ∈ {0, 1}). */
void gguf_permute_rope_rows(const float *w, int n_heads, int head_size, int cols, float *out);

#endif
