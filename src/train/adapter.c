/* adapter.c — see adapter.h. */
#include "adapter.h"

#include "../io/lora_files.h"

LoraOptions lora_options_defaults(void) {
    return (LoraOptions){.use = 0, .cfg = lora_config_defaults(), .targets = "q,k,v,o,gate,up,down"};
}

Adapter adapter_attach(Model *m, const LoraOptions *o, const Tokenizer *tok, const char *base_model, uint64_t seed) {
    LoraConfig lc = o->cfg;
    lora_parse_targets(&lc, o->targets, "--lora-targets");
    Adapter a = {lora_new(&m->cfg, &lc, seed), tok, base_model};
    m->lora = a.lora;
    return a;
}

void adapter_detach(Adapter *a, Model *m) {
    if (m && m->lora == a->lora) m->lora = NULL;
    lora_free(a->lora);
    a->lora = NULL;
}

ParamSet adapter_params(void *ctx) {
    Lora *l = ((Adapter *)ctx)->lora;
    return (ParamSet){l->params, l->grads, l->n_params, l->tensors, l->n_tensors};
}

void adapter_save(void *ctx, const char *dir) {
    Adapter *a = ctx;
    lora_save(a->lora, dir, a->base_model);
    tokenizer_save(a->tok, dir);
}

void adapter_load(void *ctx, const char *dir) { lora_load_params(((Adapter *)ctx)->lora, dir); }
