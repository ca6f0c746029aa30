"""lora_ref.py — a PyTorch reference for lmforge's LoRA adapters, for the tests.

Reads the fixture of llama_ref.py (meta.json, params.bin, tokens.bin,
targets.bin, doc_start.bin) plus meta["lora"] = {"scale", "tensors": [{"name",
"offset", "shape"}]} with PEFT names (base_model.model.model.layers.N.
self_attn.q_proj.lora_A.weight) and DIR/lora_params.bin. Each adapted
projection becomes W + scale * B @ A — the same function as
x W^T + scale * (x A^T) B^T — and llama_ref's model runs on the result in
float64, the base frozen and A, B trainable.

Writes DIR/ref_logits.bin (float32 (B, T, V)), DIR/ref_loss.txt (mean
cross-entropy over targets != -100) and DIR/ref_lora_grads.bin (float32, the
layout of lora_params.bin).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import DT, forward  # noqa: E402

torch.set_num_threads(2)


def main(d):
    meta = json.load(open(f"{d}/meta.json"))
    cfg, B, T = meta["config"], meta["B"], meta["T"]
    flat = np.fromfile(f"{d}/params.bin", dtype=np.float32)
    P = {}
    for t in meta["tensors"]:
        n = int(np.prod(t["shape"]))
        P[t["name"]] = torch.tensor(flat[t["offset"]:t["offset"] + n].reshape(t["shape"]).astype(np.float64))
    lora = meta["lora"]
    lflat = np.fromfile(f"{d}/lora_params.bin", dtype=np.float32)
    L = {}
    for t in lora["tensors"]:
        n = int(np.prod(t["shape"]))
        arr = lflat[t["offset"]:t["offset"] + n].reshape(t["shape"]).astype(np.float64)
        L[t["name"]] = torch.tensor(arr, requires_grad=True)
    tokens = torch.tensor(np.fromfile(f"{d}/tokens.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)
    targets = torch.tensor(np.fromfile(f"{d}/targets.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)
    doc_start = None
    if meta.get("has_doc_start"):
        doc_start = torch.tensor(np.fromfile(f"{d}/doc_start.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)

    adapted = dict(P)
    prefix = "base_model.model."
    for name, A in L.items():
        if ".lora_A." not in name:
            continue
        Bm = L[name.replace(".lora_A.", ".lora_B.")]
        target = name[len(prefix):].replace(".lora_A.weight", ".weight")
        adapted[target] = adapted[target] + lora["scale"] * (Bm @ A)

    out = forward(adapted, cfg, tokens, doc_start)
    loss = torch.nn.functional.cross_entropy(out.reshape(B * T, -1), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    out.detach().numpy().astype(np.float32).tofile(f"{d}/ref_logits.bin")
    open(f"{d}/ref_loss.txt", "w").write(repr(loss.item()))
    grads = np.zeros_like(lflat)
    for t in lora["tensors"]:
        n = int(np.prod(t["shape"]))
        grads[t["offset"]:t["offset"] + n] = L[t["name"]].grad.numpy().reshape(-1)
    grads.tofile(f"{d}/ref_lora_grads.bin")


if __name__ == "__main__":
    main(sys.argv[1])
