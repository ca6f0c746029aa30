"""dpo_ref.py — an independent PyTorch reference of lmforge's DPO losses, for the tests.

Written from the papers and TRL's formulas, in float64, with the gradients
from autograd rather than by hand.

Usage: dpo_ref.py DIR
DIR/in.json   {"configs": [{"loss": "sigmoid"|"ipo", "beta", "label_smoothing", "nll_weight"}],
               "pairs": [{"chosen", "rejected", "ref_chosen", "ref_rejected", "chosen_tokens"}]}
Writes DIR/out.json: for each config, a list over the pairs of
{"loss", "dchosen", "drejected", "reward_chosen", "reward_rejected"}.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
DT = torch.float64


def pair_losses(cfg, pi_w, pi_l, ref_w, ref_l, n_w):
    beta = cfg["beta"]
    logits = (pi_w - ref_w) - (pi_l - ref_l)
    if cfg["loss"] == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        eps = cfg["label_smoothing"]
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    if cfg["nll_weight"] > 0:
        losses = losses + cfg["nll_weight"] * (-pi_w / n_w)
    return losses, beta * (pi_w - ref_w), beta * (pi_l - ref_l)


def main(d):
    spec = json.load(open(f"{d}/in.json"))
    pairs = spec["pairs"]
    col = lambda k: torch.tensor([p[k] for p in pairs], dtype=DT)
    out = []
    for cfg in spec["configs"]:
        pi_w = col("chosen").requires_grad_()
        pi_l = col("rejected").requires_grad_()
        losses, r_w, r_l = pair_losses(cfg, pi_w, pi_l, col("ref_chosen"), col("ref_rejected"), col("chosen_tokens"))
        # each pair's loss depends on its own log-probs only: the gradient of
        # the sum gives every pair's own derivatives
        losses.sum().backward()
        out.append([{"loss": losses[i].item(), "dchosen": pi_w.grad[i].item(), "drejected": pi_l.grad[i].item(),
                     "reward_chosen": r_w[i].item(), "reward_rejected": r_l[i].item()} for i in range(len(pairs))])
    json.dump(out, open(f"{d}/out.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1])
