"""torch_train_step.py — PyTorch's training step for the same model, for `make bench`.

A Hugging Face-style Llama (RMSNorm, rotate-half RoPE, grouped-query attention
with an explicit causal mask, SwiGLU), fp32, AdamW with gradient clipping, on
random tokens. Prints one JSON line: tokens/s and peak resident memory.

usage: torch_train_step.py V C L NH NKV F T B TIED STEPS THREADS
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, C, L, NH, NKV, FF, T, B, TIED, STEPS, THREADS = map(int, sys.argv[1:12])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
HS = C // NH


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

    def forward(self, x, cos, sin, mask):
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, NH, HS).transpose(1, 2)
        k = self.k_proj(h).view(B, T, NKV, HS).transpose(1, 2)
        v = self.v_proj(h).view(B, T, NKV, HS).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if NKV != NH:
            k = k.repeat_interleave(NH // NKV, dim=1)
            v = v.repeat_interleave(NH // NKV, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask, dim=-1) @ v
        x = x + self.o_proj(att.transpose(1, 2).reshape(B, T, C))
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
        emb = torch.cat([torch.outer(torch.arange(T).float(), inv_freq)] * 2, dim=-1)
        self.register_buffer("cos", emb.cos()[None, None])
        self.register_buffer("sin", emb.sin()[None, None])
        self.register_buffer("mask", torch.full((T, T), float("-inf")).triu(1))

    def forward(self, tokens):
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.lm_head(self.norm(x))


model = Llama()
decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-4, betas=(0.9, 0.95), foreach=True)
tokens = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))


def step():
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(tokens).view(-1, V), targets.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


for _ in range(2):  # warm-up: allocator, thread pool
    step()
t = time.perf_counter()
for _ in range(STEPS):
    step()
elapsed = time.perf_counter() - t
print(json.dumps({"tokens_per_s": B * T * STEPS / elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
