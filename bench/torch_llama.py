"""torch_llama.py — the PyTorch model that the benchmarks compare lmforge with.

A Hugging Face-style Llama (RMSNorm, rotate-half RoPE, grouped-query attention
with an explicit causal mask, SwiGLU, tied or untied head), written as people
write it, fp32, random weights. Shared by torch_train_step.py and
torch_generate.py; a KV cache is any object with update(k, v, start) that
returns the keys and values of every position so far.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(nn.Module):
    def __init__(self, C, NH, NKV, FF):
        super().__init__()
        self.NH, self.NKV, self.HS = NH, NKV, C // NH
        self.input_layernorm = RMSNorm(C)
        self.q_proj = nn.Linear(C, NH * self.HS, bias=False)
        self.k_proj = nn.Linear(C, NKV * self.HS, bias=False)
        self.v_proj = nn.Linear(C, NKV * self.HS, bias=False)
        self.o_proj = nn.Linear(NH * self.HS, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C)
        self.gate_proj = nn.Linear(C, FF, bias=False)
        self.up_proj = nn.Linear(C, FF, bias=False)
        self.down_proj = nn.Linear(FF, C, bias=False)

    def forward(self, x, cos, sin, mask, cache=None, start=0):
        b, t, c = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.NH, self.HS).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.NKV, self.HS).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.NKV, self.HS).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(k, v, start)
        if self.NKV != self.NH:
            k = k.repeat_interleave(self.NH // self.NKV, dim=1)
            v = v.repeat_interleave(self.NH // self.NKV, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.HS)
        if mask is not None:
            scores = scores + mask
        att = torch.softmax(scores, dim=-1) @ v
        x = x + self.o_proj(att.transpose(1, 2).reshape(b, t, c))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, V, C, L, NH, NKV, FF, tied, max_t):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, C)
        self.layers = nn.ModuleList(Block(C, NH, NKV, FF) for _ in range(L))
        self.norm = RMSNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        if tied:
            self.lm_head.weight = self.embed_tokens.weight
        HS = C // NH
        inv_freq = 1.0 / (10000 ** (torch.arange(0, HS, 2).float() / HS))
        emb = torch.cat([torch.outer(torch.arange(max_t).float(), inv_freq)] * 2, dim=-1)
        self.register_buffer("cos", emb.cos()[None, None])
        self.register_buffer("sin", emb.sin()[None, None])
        self.register_buffer("mask", torch.full((max_t, max_t), float("-inf")).triu(1))

    def forward(self, tokens, start=0, caches=None, last_only=False):
        """Logits of tokens at positions start, start+1, ... (of the last one only if last_only).
        Several tokens at once are a whole sequence from position 0 (the causal mask); a
        single one attends to everything in its caches (one per layer)."""
        t = tokens.shape[1]
        cos, sin = self.cos[:, :, start : start + t], self.sin[:, :, start : start + t]
        mask = self.mask[:t, :t] if t > 1 else None
        x = self.embed_tokens(tokens)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, caches[i] if caches else None, start)
        return self.lm_head(self.norm(x[:, -1] if last_only else x))
