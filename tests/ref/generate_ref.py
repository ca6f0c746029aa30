"""generate_ref.py — an independent reference for lmforge's KV-cache generation, for the tests.

Reads a Hugging Face checkpoint directory as lmforge writes it (config.json with
Llama or Qwen2 keys, model.safetensors in F32), and decodes greedily the way
Hugging Face's generate() does with a DynamicCache: the prompt in one pass,
then one token per pass, each layer's keys and values concatenated onto its
cache, RoPE at the position after the cache. float64 throughout, so that it
serves as the exact answer; each prompt is decoded on its own.

Usage: generate_ref.py MODEL_DIR PROMPTS_JSON MAX_NEW OUT_JSON
PROMPTS_JSON is a list of token lists; OUT_JSON gets, per prompt,
{"tokens": [...], "margins": [...]}: the greedy tokens, and at each step the gap
between the best and second-best logit (how far the choice is from a tie).
"""
import json
import math
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(2)
DT = torch.float64


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"generate_ref.py: {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np.float32).reshape(t["shape"])
        tensors[name] = torch.tensor(arr.astype(np.float64))
    return tensors


def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Model:
    def __init__(self, d):
        self.cfg = json.load(open(f"{d}/config.json"))
        self.P = load_safetensors(f"{d}/model.safetensors")
        c = self.cfg
        self.C, self.NH = c["hidden_size"], c["num_attention_heads"]
        self.NKV = c.get("num_key_value_heads", self.NH)
        self.HS = self.C // self.NH
        self.eps = c["rms_norm_eps"]
        self.bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.HS, 2, dtype=torch.float32) / self.HS))
        tied = c.get("tie_word_embeddings", False)
        self.head = self.P["model.embed_tokens.weight"] if tied else self.P["lm_head.weight"]

    def forward(self, tokens, cache):
        """tokens (T) at positions len(cache)...; cache: per layer [k, v] of shape (NKV, t, HS), extended in place."""
        T, NH, NKV, HS = len(tokens), self.NH, self.NKV, self.HS
        start = 0 if cache[0] is None else cache[0][0].shape[1]
        angles = torch.arange(start, start + T, dtype=DT).unsqueeze(-1) * self.inv_freq.to(DT)
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos().unsqueeze(0), emb.sin().unsqueeze(0)  # (1, T, HS)
        mask = torch.full((T, start + T), float("-inf"), dtype=DT).triu(start + 1)
        x = self.P["model.embed_tokens.weight"][torch.tensor(tokens)]
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            W = lambda name: self.P[p + name]
            h = rmsnorm(x, W("input_layernorm.weight"), self.eps)
            q, k, v = (h @ W(f"self_attn.{n}_proj.weight").T for n in "qkv")
            if self.bias:
                q, k, v = q + W("self_attn.q_proj.bias"), k + W("self_attn.k_proj.bias"), v + W("self_attn.v_proj.bias")
            q = q.view(T, NH, HS).transpose(0, 1)
            k = k.view(T, NKV, HS).transpose(0, 1)
            v = v.view(T, NKV, HS).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache[l] is not None:
                k, v = torch.cat((cache[l][0], k), dim=1), torch.cat((cache[l][1], v), dim=1)
            cache[l] = [k, v]
            k = k.repeat_interleave(NH // NKV, dim=0)
            v = v.repeat_interleave(NH // NKV, dim=0)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask, dim=-1) @ v
            x = x + att.transpose(0, 1).reshape(T, self.C) @ W("self_attn.o_proj.weight").T
            h = rmsnorm(x, W("post_attention_layernorm.weight"), self.eps)
            gate, up = h @ W("mlp.gate_proj.weight").T, h @ W("mlp.up_proj.weight").T
            x = x + (torch.nn.functional.silu(gate) * up) @ W("mlp.down_proj.weight").T
        return rmsnorm(x[-1], self.P["model.norm.weight"], self.eps) @ self.head.T


def main(model_dir, prompts_path, max_new, out_path):
    model = Model(model_dir)
    results = []
    for prompt in json.load(open(prompts_path)):
        cache = [None] * model.cfg["num_hidden_layers"]
        logits = model.forward(prompt, cache)
        tokens, margins = [], []
        for step in range(max_new):
            top = torch.topk(logits, 2).values
            tokens.append(int(logits.argmax()))
            margins.append(float(top[0] - top[1]))
            if step + 1 < max_new:
                logits = model.forward([tokens[-1]], cache)
        results.append({"tokens": tokens, "margins": margins})
    json.dump(results, open(out_path, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
