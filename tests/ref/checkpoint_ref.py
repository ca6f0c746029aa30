"""checkpoint_ref.py — Hugging Face checkpoints read and written independently
of lmforge, for tests/test_model_dir.c.

There is no transformers or safetensors package here, so this follows the
formats by hand: safetensors is an 8-byte little-endian header length, a JSON
header ({name: {dtype, shape, data_offsets}}, "__metadata__"), then the raw
data; a sharded checkpoint adds model.safetensors.index.json with a
"weight_map"; config.json uses the LlamaForCausalLM / Qwen2ForCausalLM keys.
The model itself is tests/ref/llama_ref.py's float64 forward().

  checkpoint_ref.py make ROOT
      writes checkpoints as transformers would, one per subfolder of ROOT
      (tied and untied embeddings, grouped-query attention, Qwen2's q/k/v
      biases, F32, BF16 and F16, single-file and sharded): ROOT/NAME/ckpt/,
      ROOT/NAME/tokens.bin (int32 (B, T)), ROOT/NAME/probe.json {"B", "T"} and
      ROOT/NAME/ref_logits.bin (float32 (B, T, V)) computed from the stored
      (rounded) weights.
  checkpoint_ref.py logits CASE...
      for each CASE folder holding ckpt/ (written by lmforge), tokens.bin and
      probe.json: checks ckpt/ is in the Hugging Face layout (files, config
      keys, tensor names and shapes, safetensors framing) and writes
      CASE/ref_logits.bin.

Exits non-zero with a reason on any failure.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_format  # noqa: E402
from llama_ref import DT, forward  # noqa: E402


def fail(msg):
    print("checkpoint_ref.py:", msg)
    sys.exit(1)


# ---- safetensors by hand ----


def read_safetensors(path):
    """{name: float64 numpy array}, checking the framing as the Rust reader does."""
    try:
        header, data = safetensors_format.read(path)
    except ValueError as e:
        fail(f"{path}: {e}")
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[begin:end]
        if entry["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif entry["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).astype(np.float64)
        else:
            fail(f"{path}: tensor {name} has dtype {entry['dtype']}")
        out[name] = arr.reshape(entry["shape"])
    return out


def encode_tensor(t, dtype):
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()


def write_safetensors(path, tensors, dtype):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        raw = encode_tensor(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    safetensors_format.write(path, header, b"".join(chunks))
    return offset


def read_checkpoint_tensors(ckpt):
    index = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(index):
        weight_map = json.load(open(index))["weight_map"]
        P = {}
        for shard in sorted(set(weight_map.values())):
            P.update(read_safetensors(os.path.join(ckpt, shard)))
        return P
    return read_safetensors(os.path.join(ckpt, "model.safetensors"))


# ---- the Hugging Face names and shapes, from config.json alone ----


def ref_config(hf):
    """llama_ref's configuration from Hugging Face keys."""
    arch = hf["architectures"][0]
    qwen3 = arch.startswith("Qwen3")
    attention_bias = not arch.startswith("Qwen2") and hf.get("attention_bias", False)
    NH = hf["num_attention_heads"]
    return {
        "head_dim": hf.get("head_dim") or hf["hidden_size"] // NH,
        "rope_scaling": hf.get("rope_scaling"),
        "qk_norm": qwen3,
        "o_bias": attention_bias,
        "dim": hf["hidden_size"],
        "n_layers": hf["num_hidden_layers"],
        "n_heads": hf["num_attention_heads"],
        "n_kv_heads": hf.get("num_key_value_heads", hf["num_attention_heads"]),
        "norm_eps": hf.get("rms_norm_eps", 1e-6),
        "rope_theta": hf.get("rope_theta", 10000.0),
        "tie_embeddings": hf.get("tie_word_embeddings", False),
        "qkv_bias": arch.startswith("Qwen2") or attention_bias,
    }


def expected_shapes(hf):
    C, F, V = hf["hidden_size"], hf["intermediate_size"], hf["vocab_size"]
    NH = hf["num_attention_heads"]
    rc = ref_config(hf)
    HS = rc["head_dim"]
    KV = hf.get("num_key_value_heads", NH) * HS
    bias = rc["qkv_bias"]
    shapes = {"model.embed_tokens.weight": [V, C], "model.norm.weight": [C]}
    for l in range(hf["num_hidden_layers"]):
        p = f"model.layers.{l}."
        shapes[p + "input_layernorm.weight"] = [C]
        shapes[p + "post_attention_layernorm.weight"] = [C]
        shapes[p + "self_attn.q_proj.weight"] = [NH * HS, C]
        shapes[p + "self_attn.k_proj.weight"] = [KV, C]
        shapes[p + "self_attn.v_proj.weight"] = [KV, C]
        shapes[p + "self_attn.o_proj.weight"] = [C, NH * HS]
        if rc["o_bias"]:
            shapes[p + "self_attn.o_proj.bias"] = [C]
        if rc["qk_norm"]:
            shapes[p + "self_attn.q_norm.weight"] = [HS]
            shapes[p + "self_attn.k_norm.weight"] = [HS]
        if bias:
            shapes[p + "self_attn.q_proj.bias"] = [NH * HS]
            shapes[p + "self_attn.k_proj.bias"] = [KV]
            shapes[p + "self_attn.v_proj.bias"] = [KV]
        shapes[p + "mlp.gate_proj.weight"] = [F, C]
        shapes[p + "mlp.up_proj.weight"] = [F, C]
        shapes[p + "mlp.down_proj.weight"] = [C, F]
    if not hf.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = [V, C]
    return shapes


def logits_of(ckpt, tokens):
    hf = json.load(open(os.path.join(ckpt, "config.json")))
    P = {k: torch.tensor(v, dtype=DT) for k, v in read_checkpoint_tensors(ckpt).items()}
    with torch.no_grad():
        return forward(P, ref_config(hf), tokens, None), hf, P


def load_probe(case):
    probe = json.load(open(os.path.join(case, "probe.json")))
    B, T = probe["B"], probe["T"]
    tokens = np.fromfile(os.path.join(case, "tokens.bin"), dtype=np.int32).reshape(B, T)
    return torch.tensor(tokens, dtype=torch.long)


# ---- lmforge -> reference ----

REQUIRED_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]
REQUIRED_KEYS = ["architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
                 "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
                 "rms_norm_eps", "rope_theta", "tie_word_embeddings", "hidden_act", "torch_dtype"]


def check_layout(ckpt):
    for name in REQUIRED_FILES:
        if not os.path.exists(os.path.join(ckpt, name)):
            fail(f"{ckpt}: {name} is missing")
    hf = json.load(open(os.path.join(ckpt, "config.json")))
    missing = [k for k in REQUIRED_KEYS if k not in hf]
    if missing:
        fail(f"{ckpt}/config.json lacks {missing}")
    arch = hf["architectures"][0]
    if arch not in ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"):
        fail(f"{ckpt}/config.json: architecture {arch}")
    model_types = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}
    if hf["model_type"] != model_types[arch]:
        fail(f"{ckpt}/config.json: model_type {hf['model_type']} does not go with {arch}")
    if hf["torch_dtype"] != "float32" or hf["hidden_act"] != "silu":
        fail(f"{ckpt}/config.json: torch_dtype {hf['torch_dtype']}, hidden_act {hf['hidden_act']}")
    tok = json.load(open(os.path.join(ckpt, "tokenizer.json")))
    if tok.get("model", {}).get("type") != "BPE":
        fail(f"{ckpt}/tokenizer.json: model.type is not BPE")
    if not os.path.exists(os.path.join(ckpt, "model.safetensors")):
        fail(f"{ckpt}: model.safetensors is missing")
    shapes = {k: list(v.shape) for k, v in read_checkpoint_tensors(ckpt).items()}
    expected = expected_shapes(hf)
    if shapes != expected:
        extra = sorted(set(shapes) - set(expected))
        absent = sorted(set(expected) - set(shapes))
        wrong = sorted(k for k in set(shapes) & set(expected) if shapes[k] != expected[k])
        fail(f"{ckpt}: tensors differ from Hugging Face's: extra {extra}, missing {absent}, wrong shape {wrong}")


def logits_command(cases):
    for case in cases:
        ckpt = os.path.join(case, "ckpt")
        check_layout(ckpt)
        out, _, _ = logits_of(ckpt, load_probe(case))
        out.numpy().astype(np.float32).tofile(os.path.join(case, "ref_logits.bin"))


# ---- reference -> lmforge ----

CASES = [
    # name, architecture, V, C, L, NH, NKV, F, tied, dtype, shards, rope_theta, eps
    ("llama_tied_bf16", "LlamaForCausalLM", 96, 32, 2, 4, 4, 48, True, "BF16", 1, 10000.0, 1e-5),
    ("llama_untied_gqa_sharded", "LlamaForCausalLM", 101, 48, 3, 6, 2, 80, False, "F32", 3, 500000.0, 1e-6),
    ("qwen2_bias_gqa_tied_bf16_sharded", "Qwen2ForCausalLM", 80, 40, 2, 5, 1, 64, True, "BF16", 2, 1000000.0, 1e-6),
    ("qwen2_bias_untied_f16", "Qwen2ForCausalLM", 64, 24, 2, 3, 3, 40, False, "F16", 1, 10000.0, 1e-6),
]


def random_weights(hf, gen):
    """Weights large enough that attention, norms and biases all matter."""
    P = {}
    for name, shape in expected_shapes(hf).items():
        if name.endswith("norm.weight"):
            P[name] = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            P[name] = 0.3 * torch.randn(shape, generator=gen)
        else:
            P[name] = 0.15 * torch.randn(shape, generator=gen)
    return P


def hf_config(arch, V, C, L, NH, NKV, F, tied, dtype, theta, eps):
    hf = {
        "architectures": [arch],
        "vocab_size": V, "hidden_size": C, "intermediate_size": F, "num_hidden_layers": L,
        "num_attention_heads": NH, "num_key_value_heads": NKV, "max_position_embeddings": 128,
        "rms_norm_eps": eps, "rope_theta": theta, "tie_word_embeddings": tied, "hidden_act": "silu",
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
        "initializer_range": 0.02, "use_cache": True, "bos_token_id": 1, "eos_token_id": 2,
        "attention_dropout": 0.0, "rope_scaling": None, "transformers_version": "4.44.0",
    }
    if arch.startswith("Qwen2"):
        hf.update({"model_type": "qwen2", "use_sliding_window": False, "sliding_window": None,
                   "max_window_layers": L})
    else:
        hf.update({"model_type": "llama", "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    return hf


def write_checkpoint(ckpt, hf, P, dtype, n_shards):
    os.makedirs(ckpt)
    json.dump(hf, open(os.path.join(ckpt, "config.json"), "w"), indent=2)
    names = list(P)
    if n_shards == 1:
        write_safetensors(os.path.join(ckpt, "model.safetensors"), P, dtype)
        return
    weight_map, total = {}, 0
    for s in range(n_shards):
        file = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: P[n] for n in names[s::n_shards]}  # interleaved, as a size-balanced split may be
        total += write_safetensors(os.path.join(ckpt, file), part, dtype)
        weight_map.update({n: file for n in part})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    json.dump(index, open(os.path.join(ckpt, "model.safetensors.index.json"), "w"), indent=2)


def make_command(root):
    gen = torch.Generator().manual_seed(2024)
    for name, arch, V, C, L, NH, NKV, F, tied, dtype, shards, theta, eps in CASES:
        case = os.path.join(root, name)
        os.makedirs(case)
        hf = hf_config(arch, V, C, L, NH, NKV, F, tied, dtype, theta, eps)
        write_checkpoint(os.path.join(case, "ckpt"), hf, random_weights(hf, gen), dtype, shards)
        B, T = 2, 13
        tokens = torch.randint(0, V, (B, T), generator=gen)
        tokens.numpy().astype(np.int32).tofile(os.path.join(case, "tokens.bin"))
        json.dump({"B": B, "T": T}, open(os.path.join(case, "probe.json"), "w"))
        # the logits of the weights as stored (rounded to BF16/F16), read back by hand
        out, _, _ = logits_of(os.path.join(case, "ckpt"), tokens)
        out.numpy().astype(np.float32).tofile(os.path.join(case, "ref_logits.bin"))
    print("\n".join(c[0] for c in CASES))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make_command(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "logits":
        logits_command(sys.argv[2:])
    else:
        fail("usage: checkpoint_ref.py make ROOT | logits CASE...")
