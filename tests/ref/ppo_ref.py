"""ppo_ref.py — PyTorch reference for src/train/ppo_math.c (tests only).

Reads a JSON object of inputs on stdin, prints a JSON object of outputs: the
KL estimates, rewards, GAE advantages and returns, whitened advantages, and
both clipped losses with their gradients from autograd. Written the way TRL's
PPOTrainer computes them.
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
logp, ref = torch.tensor(d["logp"]), torch.tensor(d["ref_logp"])
n, score = d["n"], torch.tensor(d["score"])
values, beta, gamma, lam = torch.tensor(d["values"]), d["beta"], d["gamma"], d["lam"]

log_ratio = ref - logp
k1 = -log_ratio
k3 = log_ratio.exp() - 1 - log_ratio
rewards = -beta * (k1 if d["kl"] == 1 else k3)
ends = torch.cumsum(torch.tensor(n), 0) - 1
rewards[ends] += score

adv = torch.zeros_like(rewards)
start = 0
for length in n:
    last = 0.0
    for i in reversed(range(length)):
        t = start + i
        next_v = values[t + 1] if i + 1 < length else 0.0
        delta = rewards[t] + gamma * next_v - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    start += length
returns = adv + values
white = (adv - adv.mean()) / (adv.var(unbiased=False).sqrt() + 1e-8)

eps = d["eps"]
new = torch.tensor(d["logp_new"], requires_grad=True)
old = torch.tensor(d["logp_old"])
A = torch.tensor(d["adv"])
ratio = (new - old).exp()
pg = torch.max(-A * ratio, -A * ratio.clamp(1 - eps, 1 + eps)).sum()
pg.backward()

v = torch.tensor(d["v"], requires_grad=True)
v_old, R = torch.tensor(d["v_old"]), torch.tensor(d["R"])
v_clip = v_old + (v - v_old).clamp(-eps, eps)
vf = (0.5 * torch.max((v - R) ** 2, (v_clip - R) ** 2)).sum()
vf.backward()

print(json.dumps({"k1": k1.tolist(), "k3": k3.tolist(), "rewards": rewards.tolist(), "adv": adv.tolist(),
                  "returns": returns.tolist(), "white": white.tolist(), "pg": pg.item(), "dlogp": new.grad.tolist(),
                  "vf": vf.item(), "dv": v.grad.tolist()}))
