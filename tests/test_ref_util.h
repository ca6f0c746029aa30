/* test_ref_util.h — the fixtures of the PyTorch references in tests/ref/
 * (llama_ref.py's layout, which lora_ref.py extends): what the model, SFT
 * and LoRA tests write for them, and what they read back. */
#ifndef LMF_TEST_REF_UTIL_H
#define LMF_TEST_REF_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "../src/model/lora.h"
#include "../src/train/optimizer.h"

/* Writes meta.json, params.bin, tokens.bin, targets.bin and (if doc_start
 * is not NULL) doc_start.bin for llama_ref.py / lora_ref.py, and with an
 * adapter lora_params.bin and its tensors in meta.json. */
void test_write_reference_fixture(const char *dir, const Model *m, const Lora *lora, int B, int T, const int *tokens,
                                  const int *targets, const int *doc_start);
/* The same without an adapter, asking llama_ref.py for `steps` AdamW updates
 * with oc as well (the loss before each goes to ref_losses.txt). */
void test_write_reference_training_fixture(const char *dir, const Model *m, int B, int T, const int *tokens,
                                           const int *targets, const int *doc_start, int steps, const OptimConfig *oc);
/* Writes bytes into dir/name (an extra input such as dout.bin). */
void test_write_reference_file(const char *dir, const char *name, const void *data, size_t bytes);
/* n floats from dir/name, which must hold exactly that many (caller frees). */
float *test_read_floats(const char *dir, const char *name, size_t n);
double test_read_number(const char *dir, const char *name);

/* x[0..n) as a JSON array, for the references' JSON inputs (caller owns). */
cJSON *test_json_floats(const float *x, int n);
/* Checks got[0..n) against ref's array `key`: each within tol · (1 + |want|). */
void test_check_json_floats(const cJSON *ref, const char *key, const float *got, int n, double tol);

/* Fills m with random weights spread enough that logits are far from uniform (model_init_random's 0.02 gives
 * near-ties everywhere): matrices and biases normal(0, 0.25), norms 1 + normal(0, norm_spread). */
void test_randomize_weights(Model *m, uint64_t seed, float norm_spread);

#endif
