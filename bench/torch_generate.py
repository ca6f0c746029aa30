"""torch_generate.py — PyTorch's KV-cache generation loop for the same model, for `make bench`.

A Hugging Face-style Llama (RMSNorm, rotate-half RoPE, grouped-query attention,
SwiGLU, tied or untied head), fp32, random weights, under torch.inference_mode.
Greedy decoding of B random prompts of P tokens for NEW new tokens: one prefill
pass, then one pass per token over the B sequences, the head on the last
position only. Two caches, as people write them:
  dynamic — torch.cat onto the cache at every step (Hugging Face's DynamicCache);
  static  — a preallocated (B, NKV, P+NEW, HS) buffer written in place.
Each is timed REPEATS times; prints one JSON line with every time.

usage: torch_generate.py V C L NH NKV F TIED B P NEW THREADS REPEATS
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, C, L, NH, NKV, FF, TIED, B, P, NEW, THREADS, REPEATS = map(int, sys.argv[1:13])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
HS = C // NH
MAX_T = P + NEW


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    return torch.cat((-x[..., HS // 2 :], x[..., : HS // 2]), dim=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm(C)
        self.q_proj = nn.Linear(C, NH * HS, bias=False)
        self.k_proj = nn.Linear(C, NKV * HS, bias=False)
        self.v_proj = nn.Linear(C, NKV * HS, bias=False)
        self.o_proj = nn.Linear(NH * HS, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C)
        self.gate_proj = nn.Linear(C, FF, bias=False)
        self.up_proj = nn.Linear(C, FF, bias=False)
        self.down_proj = nn.Linear(FF, C, bias=False)

    def forward(self, x, cos, sin, cache, start, static):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, NH, HS).transpose(1, 2)
        k = self.k_proj(h).view(b, t, NKV, HS).transpose(1, 2)
        v = self.v_proj(h).view(b, t, NKV, HS).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if static:
            cache[0][:, :, start : start + t] = k
            cache[1][:, :, start : start + t] = v
            k, v = cache[0][:, :, : start + t], cache[1][:, :, : start + t]
        else:
            if cache:
                k, v = torch.cat((cache[0], k), dim=2), torch.cat((cache[1], v), dim=2)
            cache[:] = [k, v]
        if NKV != NH:
            k = k.repeat_interleave(NH // NKV, dim=1)
            v = v.repeat_interleave(NH // NKV, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(HS)
        if t > 1:  # the prompt: causal mask
            scores = scores + torch.full((t, t), float("-inf")).triu(1)
        att = torch.softmax(scores, dim=-1) @ v
        x = x + self.o_proj(att.transpose(1, 2).reshape(b, t, C))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, C)
        self.layers = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        if TIED:
            self.lm_head.weight = self.embed_tokens.weight
        inv_freq = 1.0 / (10000 ** (torch.arange(0, HS, 2).float() / HS))
        emb = torch.cat([torch.outer(torch.arange(MAX_T).float(), inv_freq)] * 2, dim=-1)
        self.register_buffer("cos", emb.cos()[None, None])
        self.register_buffer("sin", emb.sin()[None, None])

    def forward(self, tokens, start, caches, static):
        t = tokens.shape[1]
        cos, sin = self.cos[:, :, start : start + t], self.sin[:, :, start : start + t]
        x = self.embed_tokens(tokens)
        for layer, cache in zip(self.layers, caches):
            x = layer(x, cos, sin, cache, start, static)
        return self.lm_head(self.norm(x[:, -1]))


def generate(model, prompts, static):
    if static:
        caches = [[torch.empty(B, NKV, MAX_T, HS), torch.empty(B, NKV, MAX_T, HS)] for _ in range(L)]
    else:
        caches = [[] for _ in range(L)]
    logits = model(prompts, 0, caches, static)
    out = []
    for i in range(NEW):
        token = logits.argmax(-1, keepdim=True)
        out.append(token)
        if i + 1 < NEW:
            logits = model(token, P + i, caches, static)
    return torch.cat(out, dim=1)


model = Llama().eval()
prompts = torch.randint(0, V, (B, P))
times = {}
with torch.inference_mode():
    for name, static in (("dynamic", False), ("static", True)):
        generate(model, prompts, static)  # warm-up: allocator, thread pool
        times[name] = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            generate(model, prompts, static)
            times[name].append(time.perf_counter() - t)
print(json.dumps({"tokens": B * NEW, "seconds": times}))
