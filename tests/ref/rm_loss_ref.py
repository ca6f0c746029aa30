"""rm_loss_ref.py — a PyTorch reference of the reward model's losses, for the tests.

Usage: rm_loss_ref.py DIR
DIR/rm_case.json  {"groups": [{"scores": [...], "ranking": [...], "margin": m}]}
                  ranking: response indices best to worst, a nested list = tied responses
Writes DIR/ref.json {"loss": L, "grads": [[dL/dscore per response] per group]}, where
L = mean over groups of (mean over the group's pairs of -log sigmoid(r_better - r_worse - m)),
computed in float64 with autograd. Pairs are derived here from the ranking, independently
of lmforge: every two responses at different positions, tied ones excluded.
"""
import json
import sys

import torch

torch.set_num_threads(1)


def ranks_of(ranking, k):
    ranks = [None] * k
    for position, entry in enumerate(ranking):
        for index in entry if isinstance(entry, list) else [entry]:
            ranks[index] = position
    return ranks


def main(d):
    case = json.load(open(f"{d}/rm_case.json"))
    scores = [torch.tensor(g["scores"], dtype=torch.float64, requires_grad=True) for g in case["groups"]]
    losses = []
    for g, s in zip(case["groups"], scores):
        ranks = ranks_of(g["ranking"], len(g["scores"]))
        better, worse = zip(*[(i, j) for i in range(len(ranks)) for j in range(len(ranks)) if ranks[i] < ranks[j]])
        diff = s[list(better)] - s[list(worse)] - g.get("margin", 0.0)
        losses.append(-torch.nn.functional.logsigmoid(diff).mean())
    loss = torch.stack(losses).mean()
    loss.backward()
    json.dump({"loss": loss.item(), "grads": [s.grad.tolist() for s in scores]}, open(f"{d}/ref.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1])
