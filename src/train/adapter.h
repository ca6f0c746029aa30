/* adapter.h — training LoRA adapters instead of a model: what the trainer
 * trains (the adapter's parameters), saves (PEFT's files, with the
 * tokenizer) and loads back on resume, for every stage that takes --lora. */
#ifndef LMF_ADAPTER_H
#define LMF_ADAPTER_H

#include "../base/args.h"
#include "../model/lora.h"
#include "../tokenizer/tokenizer.h"
#include "optimizer.h"

/* The --lora flags, as a stage's Option rows (--lora, --lora-r, --lora-alpha, --lora-dropout, --lora-targets). */
typedef struct {
    int use;
    LoraConfig cfg;
    const char *targets;
} LoraOptions;

/* Off; rank 8, alpha 16, dropout 0.05, every projection (lora_config_defaults). */
LoraOptions lora_options_defaults(void);
#define LORA_OPTIONS(o)                                                                                           \
    OPT_FLAG("lora", &(o)->use, "train LoRA adapters on a frozen model instead of the whole model"),             \
        OPT_INT("lora-r", &(o)->cfg.rank, "LoRA rank r"),                                                          \
        OPT_FLOAT("lora-alpha", &(o)->cfg.alpha, "LoRA alpha: the update is scaled by alpha / r"),                 \
        OPT_FLOAT("lora-dropout", &(o)->cfg.dropout, "dropout on the adapters' input"),                           \
        OPT_STR("lora-targets", &(o)->targets, "projections with adapters: q,k,v,o,gate,up,down or all-linear")

typedef struct {
    Lora *lora;
    const Tokenizer *tok;
    const char *base_model; /* recorded in adapter_config.json */
} Adapter;

/* A new adapter on m (attached: m->lora) from the parsed flags, drawn from seed. */
Adapter adapter_attach(Model *m, const LoraOptions *o, const Tokenizer *tok, const char *base_model, uint64_t seed);
/* Detaches and frees it. */
void adapter_detach(Adapter *a, Model *m);

/* The trainer's hooks (TrainConfig.trainable/save_model/load_model, or a TrainPart's), ctx an Adapter *. */
ParamSet adapter_params(void *ctx);
void adapter_save(void *ctx, const char *dir);
void adapter_load(void *ctx, const char *dir);

#endif
