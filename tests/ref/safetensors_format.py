"""safetensors_format.py — the safetensors framing by hand, for the PyTorch
references (there is no safetensors package here): an 8-byte little-endian
header length, a JSON header ({name: {dtype, shape, data_offsets}} and
"__metadata__") padded with spaces to a multiple of 8 bytes, then the raw
data of the tensors.
"""
import json
import struct


def write(path, header, data):
    """Writes the header (a dict) and the data (bytes) as a safetensors file."""
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read(path):
    """(header, data) of a safetensors file; raises ValueError, saying why,
    unless its framing is what the Rust reader demands."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    if n % 8 != 0:
        raise ValueError(f"header length {n} is not a multiple of 8")
    header_text = blob[8 : 8 + n]
    if not header_text.startswith(b"{"):
        raise ValueError("header does not start with '{'")
    header = json.loads(header_text)
    data = blob[8 + n :]
    if header.get("__metadata__", {}).get("format") != "pt":
        raise ValueError("__metadata__ lacks format=pt")
    # The tensors must tile the data buffer exactly.
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError(f"gap or overlap in the data at byte {pos}")
        pos = end
    if pos != len(data):
        raise ValueError(f"tensors cover {pos} bytes of a {len(data)}-byte data buffer")
    return header, data
