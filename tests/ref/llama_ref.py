"""llama_ref.py — an independent PyTorch reference of lmforge's model, for the tests.

Written from the Hugging Face Llama/Qwen2/Qwen3 definitions (RMSNorm in float32
semantics, rotate-half RoPE, grouped-query attention by repeating k/v heads,
SwiGLU MLP), in float64 so that it serves as the exact answer. Also: an
explicit head_dim (q/k/v/o widths NH*HS, NKV*HS), RoPE scaling of the inverse
frequencies ("linear", and "llama3" as transformers' llama3 rope parameters
define it), Llama's attention_bias (o_proj bias as well as q/k/v), and
Qwen3's per-head RMSNorm of q and k before RoPE.

Usage: llama_ref.py DIR
DIR/meta.json   {"config": {...}, "tensors": [{"name", "offset", "shape"}], "B", "T",
                 "steps", "optim": {...}, "has_doc_start"}
DIR/params.bin  float32 parameters in lmforge's buffer layout
DIR/tokens.bin  int32 (B, T);  DIR/targets.bin int32 (B, T), -100 = not counted
DIR/doc_start.bin int32 (B, T) if has_doc_start
Writes DIR/ref_logits.bin (float32 (B, T, OUT)), DIR/ref_grads.bin (float32, the
parameter layout; the gradient of the mean cross-entropy, or of sum(out * dout)
for a score head with DIR/dout.bin), DIR/ref_loss.txt, and, when steps > 0,
DIR/ref_losses.txt with the loss before each of `steps` AdamW updates.
"""
import json
import math
import sys

import numpy as np
import torch

torch.set_num_threads(2)
DT = torch.float64


def rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def inverse_frequencies(cfg, HS):
    """theta^(-2i/HS) in float32 as transformers computes it, then scaled (in float64)."""
    inv_freq = (1.0 / (cfg["rope_theta"] ** (torch.arange(0, HS, 2, dtype=torch.float32) / HS))).to(DT)
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv_freq
    factor = rs["factor"]
    if rs["rope_type"] == "linear":
        return inv_freq / factor
    assert rs["rope_type"] == "llama3"
    low, high, orig = rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    # long wavelengths (low frequencies) are slowed down by factor, short ones kept
    scaled = torch.where(wavelen > orig / low, inv_freq / factor, inv_freq)
    smooth = (orig / wavelen - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= orig / high) & (wavelen <= orig / low)
    return torch.where(medium, blended, scaled)


def forward(P, cfg, tokens, doc_start):
    B, T = tokens.shape
    C, NH, NKV = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"]
    HS = cfg.get("head_dim") or C // NH
    eps = cfg["norm_eps"]
    t_idx = torch.arange(T).unsqueeze(0).expand(B, T)
    if doc_start is None:
        doc_start = torch.zeros(B, T, dtype=torch.long)
    pos = t_idx - doc_start  # (B, T)
    inv_freq = inverse_frequencies(cfg, HS)
    angles = pos.to(DT).unsqueeze(-1) * inv_freq  # (B, T, HS/2)
    emb = torch.cat((angles, angles), dim=-1)
    cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)  # (B, 1, T, HS)
    # key j visible from query t: doc_start[t] <= j <= t
    j = torch.arange(T).view(1, 1, T)
    visible = (j <= t_idx.unsqueeze(-1)) & (j >= doc_start.unsqueeze(-1))  # (B, T, T)
    mask = torch.zeros(B, 1, T, T, dtype=DT).masked_fill(~visible.unsqueeze(1), float("-inf"))

    x = P["model.embed_tokens.weight"][tokens]
    for l in range(cfg["n_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, P[p + "input_layernorm.weight"], eps)
        q = h @ P[p + "self_attn.q_proj.weight"].T
        k = h @ P[p + "self_attn.k_proj.weight"].T
        v = h @ P[p + "self_attn.v_proj.weight"].T
        if cfg["qkv_bias"]:
            q = q + P[p + "self_attn.q_proj.bias"]
            k = k + P[p + "self_attn.k_proj.bias"]
            v = v + P[p + "self_attn.v_proj.bias"]
        q = q.view(B, T, NH, HS).transpose(1, 2)
        k = k.view(B, T, NKV, HS).transpose(1, 2)
        v = v.view(B, T, NKV, HS).transpose(1, 2)
        if cfg.get("qk_norm"):  # Qwen3: each head normalised on its own, before RoPE
            q = rmsnorm(q, P[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, P[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // NKV, dim=1)
        v = v.repeat_interleave(NH // NKV, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask, dim=-1) @ v
        x = x + att.transpose(1, 2).reshape(B, T, NH * HS) @ P[p + "self_attn.o_proj.weight"].T
        if cfg.get("o_bias"):
            x = x + P[p + "self_attn.o_proj.bias"]
        h = rmsnorm(x, P[p + "post_attention_layernorm.weight"], eps)
        gate = h @ P[p + "mlp.gate_proj.weight"].T
        up = h @ P[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ P[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, P["model.norm.weight"], eps)
    if cfg.get("head", 0) == 1:
        head = P["score.weight"]
    elif cfg["tie_embeddings"]:
        head = P["model.embed_tokens.weight"]
    else:
        head = P["lm_head.weight"]
    return x @ head.T


def main(d):
    meta = json.load(open(f"{d}/meta.json"))
    cfg, B, T = meta["config"], meta["B"], meta["T"]
    flat = np.fromfile(f"{d}/params.bin", dtype=np.float32)
    P, order = {}, []
    for t in meta["tensors"]:
        n = int(np.prod(t["shape"]))
        arr = flat[t["offset"] : t["offset"] + n].reshape(t["shape"]).astype(np.float64)
        P[t["name"]] = torch.tensor(arr, requires_grad=True)
        order.append(t)
    tokens = torch.tensor(np.fromfile(f"{d}/tokens.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)
    targets = torch.tensor(np.fromfile(f"{d}/targets.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)
    doc_start = None
    if meta.get("has_doc_start"):
        doc_start = torch.tensor(np.fromfile(f"{d}/doc_start.bin", dtype=np.int32).reshape(B, T), dtype=torch.long)
    score_head = cfg.get("head", 0) == 1

    def loss_fn():
        out = forward(P, cfg, tokens, doc_start)
        if score_head:
            dout = torch.tensor(np.fromfile(f"{d}/dout.bin", dtype=np.float32).reshape(out.shape), dtype=DT)
            return out, (out * dout).sum()
        return out, torch.nn.functional.cross_entropy(out.reshape(B * T, -1), targets.reshape(-1), ignore_index=-100)

    out, loss = loss_fn()
    loss.backward()
    out.detach().numpy().astype(np.float32).tofile(f"{d}/ref_logits.bin")
    grads = np.zeros_like(flat)
    for t in order:
        n = int(np.prod(t["shape"]))
        grads[t["offset"] : t["offset"] + n] = P[t["name"]].grad.numpy().reshape(-1)
    grads.tofile(f"{d}/ref_grads.bin")
    open(f"{d}/ref_loss.txt", "w").write(repr(loss.item()))

    steps = meta.get("steps", 0)
    if steps:
        o = meta["optim"]
        decay = [P[t["name"]] for t in order if t["decay"]]
        no_decay = [P[t["name"]] for t in order if not t["decay"]]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            _, loss = loss_fn()
            loss.backward()
            if o["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(list(P.values()), o["grad_clip"])
            opt.step()
            losses.append(loss.item())
        open(f"{d}/ref_losses.txt", "w").write("\n".join(repr(x) for x in losses))


if __name__ == "__main__":
    main(sys.argv[1])
