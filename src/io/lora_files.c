/* lora_files.c — see lora_files.h. */
#include "lora_files.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../base/json_util.h"
#include "../base/util.h"
#include "safetensors.h"

void lora_save(const Lora *l, const char *dir, const char *base_model) {
    make_dirs(dir);
    StWriter *w = st_writer_new();
    for (int i = 0; i < l->n_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        int64_t shape[2] = {t->rows, t->cols};
        st_writer_add(w, t->name, ST_F32, 2, shape, l->params + t->offset);
    }
    char *path = path_join(dir, "adapter_model.safetensors");
    st_writer_save(w, path);
    st_writer_free(w);
    free(path);

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    if (base_model) cJSON_AddStringToObject(j, "base_model_name_or_path", base_model);
    else cJSON_AddNullToObject(j, "base_model_name_or_path");
    cJSON_AddNumberToObject(j, "r", l->cfg.rank);
    cJSON_AddNumberToObject(j, "lora_alpha", l->cfg.alpha);
    cJSON_AddNumberToObject(j, "lora_dropout", l->cfg.dropout);
    cJSON *targets = cJSON_AddArrayToObject(j, "target_modules");
    for (int i = 0; i < LORA_N_MODULES; i++)
        if (l->cfg.targets[i]) cJSON_AddItemToArray(targets, cJSON_CreateString(lora_module_name((LoraModule)i)));
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddBoolToObject(j, "fan_in_fan_out", 0);
    cJSON_AddBoolToObject(j, "inference_mode", 1);
    cJSON_AddBoolToObject(j, "init_lora_weights", 1);
    cJSON_AddBoolToObject(j, "use_rslora", l->cfg.use_rslora);
    cJSON_AddBoolToObject(j, "use_dora", 0);
    cJSON_AddNullToObject(j, "modules_to_save");
    cJSON_AddNullToObject(j, "layers_to_transform");
    path = path_join(dir, "adapter_config.json");
    json_write_file(path, j);
    free(path);
    cJSON_Delete(j);
}

/* Dies unless the optional field is absent, null, false, or an empty list or object. */
static void require_unset(const cJSON *j, const char *key, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    int unset = !v || cJSON_IsNull(v) || cJSON_IsFalse(v) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child);
    if (!unset) die("%s: field \"%s\" is set; lmforge does not support it", path, key);
}

Lora *lora_load(const char *dir, const ModelConfig *mc) {
    char *path = path_join(dir, "adapter_config.json");
    if (!file_exists(path)) die("%s: not a LoRA adapter directory (no adapter_config.json)", dir);
    cJSON *j = json_read_file(path);
    const char *type = json_get_string(j, "peft_type", path);
    if (strcmp(type, "LORA") != 0) die("%s: field \"peft_type\" is %s; only LORA adapters are supported", path, type);
    LoraConfig c = {0};
    c.rank = json_get_int(j, "r", path);
    c.alpha = json_get_float(j, "lora_alpha", path);
    c.dropout = json_opt_float(j, "lora_dropout", path, 0.0f);
    c.use_rslora = json_opt_bool(j, "use_rslora", path, 0);
    const char *bias = json_opt_string(j, "bias", path, "none");
    if (strcmp(bias, "none") != 0) die("%s: field \"bias\" is %s; only \"none\" is supported", path, bias);
    const char *unsupported[] = {"use_dora", "fan_in_fan_out", "modules_to_save", "layers_to_transform",
                                 "rank_pattern", "alpha_pattern"};
    for (size_t i = 0; i < LMF_ARRAY_LEN(unsupported); i++) require_unset(j, unsupported[i], path);
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    char *where = xsprintf("%s: field \"target_modules\"", path);
    if (cJSON_IsString(targets)) {
        lora_parse_targets(&c, targets->valuestring, where);
    } else {
        if (!cJSON_IsArray(targets) || cJSON_GetArraySize(targets) == 0)
            die("%s must be a non-empty list of module names", where);
        const cJSON *name;
        cJSON_ArrayForEach(name, targets) {
            if (!cJSON_IsString(name)) die("%s must hold strings", where);
            LoraConfig one = c;
            lora_parse_targets(&one, name->valuestring, where);
            for (int i = 0; i < LORA_N_MODULES; i++) c.targets[i] |= one.targets[i];
        }
    }
    free(where);
    cJSON_Delete(j);
    free(path);
    Lora *l = lora_alloc(mc, &c);
    lora_load_params(l, dir);
    return l;
}

void lora_load_params(Lora *l, const char *dir) {
    char *path = path_join(dir, "adapter_model.safetensors");
    if (!file_exists(path)) die("%s: no adapter_model.safetensors", dir);
    SafeTensors *st = st_open(path);
    for (int i = 0; i < l->n_tensors; i++) {
        const ParamTensor *t = &l->tensors[i];
        const StTensor *s = st_find(st, t->name);
        if (!s) die("%s: tensor %s is missing", path, t->name);
        if (s->ndim != 2 || s->shape[0] != t->rows || s->shape[1] != t->cols)
            die("%s: tensor %s has the wrong shape for this model and rank (expected [%d, %d])", path, t->name,
                t->rows, t->cols);
        st_read_f32(s, l->params + t->offset, (size_t)t->rows * t->cols);
    }
    if (st_count(st) != l->n_tensors) /* something the configuration does not account for */
        for (int i = 0; i < st_count(st); i++) {
            const char *name = st_tensor(st, i)->name;
            int known = 0;
            for (int k = 0; k < l->n_tensors && !known; k++) known = strcmp(l->tensors[k].name, name) == 0;
            if (!known) die("%s: tensor %s is not one of the adapter's (see target_modules)", path, name);
        }
    st_close(st);
    free(path);
}

char *lora_base_model_path(const char *dir) {
    char *path = path_join(dir, "adapter_config.json");
    if (!file_exists(path)) die("%s: not a LoRA adapter directory (no adapter_config.json)", dir);
    cJSON *j = json_read_file(path);
    const char *base = json_opt_string(j, "base_model_name_or_path", path, NULL);
    char *copy = base ? xstrdup(base) : NULL;
    cJSON_Delete(j);
    free(path);
    return copy;
}
