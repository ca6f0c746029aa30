"""grpo_ref.py — PyTorch reference for src/train/grpo_math.c (tests only).

Reads a JSON object of inputs on stdin and prints a JSON object of outputs,
computed in float64 the way TRL's GRPOTrainer (advantages with
scale_rewards group / batch / none, and _compute_loss for each loss_type)
and RLOOTrainer (leave-one-out baseline) do, on padded (B, T) tensors with
a completion mask; the padded entries hold junk that must not matter.
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
G, eps = d["G"], d["eps"]
rewards = torch.tensor(d["rewards"])

grouped = rewards.view(-1, G)
mean = grouped.mean(dim=1).repeat_interleave(G)
out = {}
for scale in ("group", "batch", "none"):
    adv = rewards - mean
    if scale == "group":
        adv = adv / (grouped.std(dim=1).repeat_interleave(G) + eps)
    elif scale == "batch":
        adv = adv / (rewards.std().expand_as(rewards) + eps)
    out["adv_" + scale] = adv.tolist()
baseline = (grouped.sum(dim=1, keepdim=True) - grouped) / (G - 1)
out["adv_rloo"] = (grouped - baseline).view(-1).tolist()

mask = torch.tensor(d["mask"])
B, T = mask.shape
A = torch.tensor(d["adv"])
for loss_type in ("grpo", "bnpo", "dapo", "dr_grpo"):
    logp = torch.tensor(d["logp"], requires_grad=True)
    old, ref = torch.tensor(d["logp_old"]), torch.tensor(d["ref_logp"])
    coef_1 = torch.exp(logp - old)
    coef_2 = torch.clamp(coef_1, 1 - d["eps_low"], 1 + d["eps_high"])
    per_token_loss = -torch.min(coef_1 * A.unsqueeze(1), coef_2 * A.unsqueeze(1))
    if d["beta"] != 0:
        per_token_kl = torch.exp(ref - logp) - (ref - logp) - 1
        per_token_loss = per_token_loss + d["beta"] * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type in ("bnpo", "dapo"):
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    else:
        loss = (per_token_loss * mask).sum() / (B * d["max_completion_len"])
    loss.backward()
    out["loss_" + loss_type] = loss.item()
    out["dlogp_" + loss_type] = logp.grad.tolist()
low = ((coef_1 < 1 - d["eps_low"]) & (A.unsqueeze(1) < 0) & (mask > 0)).sum().item()
high = ((coef_1 > 1 + d["eps_high"]) & (A.unsqueeze(1) > 0) & (mask > 0)).sum().item()
out["low_clipped"], out["high_clipped"] = low, high
print(json.dumps(out))
