"""torch_generate.py — PyTorch's KV-cache generation loop for the same model, for `make bench`.

The Llama of torch_llama.py, fp32, random weights, under torch.inference_mode.
Greedy decoding of B random prompts of P tokens for NEW new tokens: one prefill
pass, then one pass per token over the B sequences, the head on the last
position only. Two caches, as people write them:
  dynamic — torch.cat onto the cache at every step (Hugging Face's DynamicCache);
  static  — a preallocated (B, NKV, P+NEW, HS) buffer written in place.
Each is timed REPEATS times; prints one JSON line with every time.

usage: torch_generate.py V C L NH NKV F TIED B P NEW THREADS REPEATS
"""
import json
import sys
import time

import torch

from torch_llama import Llama

V, C, L, NH, NKV, FF, TIED, B, P, NEW, THREADS, REPEATS = map(int, sys.argv[1:13])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
HS = C // NH
MAX_T = P + NEW


class DynamicCache:
    """Grows by torch.cat at every step, as Hugging Face's DynamicCache does."""

    def __init__(self):
        self.k = self.v = None

    def update(self, k, v, start):
        if self.k is not None:
            k, v = torch.cat((self.k, k), dim=2), torch.cat((self.v, v), dim=2)
        self.k, self.v = k, v
        return k, v


class StaticCache:
    """A preallocated (B, NKV, P+NEW, HS) buffer, written in place."""

    def __init__(self):
        self.k, self.v = torch.empty(B, NKV, MAX_T, HS), torch.empty(B, NKV, MAX_T, HS)

    def update(self, k, v, start):
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


def generate(model, prompts, static):
    caches = [StaticCache() if static else DynamicCache() for _ in range(L)]
    logits = model(prompts, 0, caches, last_only=True)
    out = []
    for i in range(NEW):
        token = logits.argmax(-1, keepdim=True)
        out.append(token)
        if i + 1 < NEW:
            logits = model(token, P + i, caches, last_only=True)
    return torch.cat(out, dim=1)


model = Llama(V, C, L, NH, NKV, FF, TIED, MAX_T).eval()
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
