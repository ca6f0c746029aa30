"""torch_train_step.py — PyTorch's training step for the same model, for `make bench`.

The Llama of torch_llama.py, fp32, AdamW with gradient clipping, on random
tokens. Prints one JSON line: tokens/s and peak resident memory.

usage: torch_train_step.py V C L NH NKV F T B TIED STEPS THREADS
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

from torch_llama import Llama

V, C, L, NH, NKV, FF, T, B, TIED, STEPS, THREADS = map(int, sys.argv[1:12])
torch.set_num_threads(THREADS)
torch.manual_seed(0)

model = Llama(V, C, L, NH, NKV, FF, TIED, T)
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
