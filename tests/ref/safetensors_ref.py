"""safetensors_ref.py — an independent reference for lmforge's safetensors
reader and writer, built on PyTorch and numpy (no safetensors package here:
the format is simple enough to write and parse by hand, following the spec).

  safetensors_ref.py write FILE   writes F16/BF16 tensors converted by PyTorch,
                                  each next to its exact float32 value
  safetensors_ref.py check FILE   parses a file lmforge wrote and checks its
                                  layout and its BF16 rounding against PyTorch

Used by tests/test_io_safetensors.c; exits non-zero with a reason on failure.
"""
import sys

import numpy as np
import torch

import safetensors_format


def write(path):
    all_bits = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    tensors = {}  # name -> (dtype, shape, raw bytes)

    def add(name, t):
        dtype = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}[t.dtype]
        raw = t.contiguous().view(torch.int16 if t.element_size() == 2 else torch.int32).numpy().tobytes()
        tensors[name] = (dtype, list(t.shape), raw)

    # Every 16-bit pattern (zeros, subnormals, infinities, NaNs included),
    # with PyTorch's own conversion to float32 as the expected value.
    f16 = all_bits.view(torch.float16).reshape(256, 256)
    add("all_f16", f16)
    add("all_f16.f32", f16.float())
    bf16 = all_bits.view(torch.bfloat16)
    add("all_bf16", bf16)
    add("all_bf16.f32", bf16.float())
    torch.manual_seed(0)
    weights = torch.randn(3, 5, 7).bfloat16()
    add("randn_bf16", weights)
    add("randn_bf16.f32", weights.float())

    # Lay the data out in reverse name order, so a reader that assumed the
    # header's order instead of following data_offsets would fail.
    header = {"__metadata__": {"format": "pt", "source": "torch"}}
    data = b""
    for name in sorted(tensors, reverse=True):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    safetensors_format.write(path, header, data)


def fail(msg):
    print("safetensors_ref.py check:", msg)
    sys.exit(1)


def check(path):
    try:
        header, data = safetensors_format.read(path)
    except ValueError as e:
        fail(str(e))

    def raw(name, dtype):
        entry = header[name]
        begin, end = entry["data_offsets"]
        return np.frombuffer(data[begin:end], dtype=dtype), entry

    f32, f32_entry = raw("w_f32", np.float32)
    bf16, bf16_entry = raw("w_bf16", np.int16)
    if f32_entry["dtype"] != "F32" or bf16_entry["dtype"] != "BF16":
        fail("unexpected dtypes")
    if f32_entry["shape"] != bf16_entry["shape"] or int(np.prod(f32_entry["shape"])) != f32.size:
        fail("shapes do not match the data")
    expected = torch.from_numpy(f32.copy()).to(torch.bfloat16).view(torch.int16).numpy()
    nan = np.isnan(f32)
    if not np.array_equal(expected[~nan], bf16[~nan]):
        i = int(np.nonzero(expected != bf16)[0][0])
        fail(f"BF16 of {f32[i]!r}: lmforge wrote {bf16[i] & 0xFFFF:#06x}, PyTorch gives {expected[i] & 0xFFFF:#06x}")
    if not np.isnan(torch.from_numpy(bf16[nan].copy()).view(torch.bfloat16).float().numpy()).all():
        fail("a NaN did not stay NaN in BF16")


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
