#!/bin/sh
# fuzz_tokenizer.sh — fuzzes the tokenizer loaders (tokenizer.json, and
# GPT-2's encoder.json + vocab.bpe) with libFuzzer, ASan and UBSan:
#   sh scripts/fuzz_tokenizer.sh [SECONDS]        (default 300)
# Needs clang, libclang-rt-14-dev and libomp-14-dev. An input that crashes
# is saved in tests/tokenizer/fuzz_regressions/, which the unit tests replay.
set -e
SECONDS_TO_RUN=${1:-300}
OUT=build/fuzz
REGRESSIONS=tests/tokenizer/fuzz_regressions
command -v clang >/dev/null 2>&1 || { echo "fuzz_tokenizer.sh: needs clang (apt-get install clang libclang-rt-14-dev libomp-14-dev)" >&2; exit 1; }
make --no-print-directory build/lmforge >/dev/null
mkdir -p "$OUT/corpus" "$OUT/crashes" "$REGRESSIONS"

# Seeds: a small trained tokenizer as tokenizer.json (also in the other
# shapes the loader knows: NFC, merges as pairs, stripping added tokens,
# ByteLevel's own regex, string splits), and as GPT-2's files.
if [ ! -f "$OUT/corpus/seed-json" ]; then
    head -c 200000 tests/tokenizer/texts.jsonl > "$OUT/seed-text.jsonl"
    build/lmforge tokenizer train --vocab-size 400 --out "$OUT/seed" "$OUT/seed-text.jsonl" >/dev/null
    /usr/bin/python3 - "$OUT/seed/tokenizer.json" "$OUT/corpus" <<'PY'
import copy, json, sys
base = json.load(open(sys.argv[1]))
def write(name, first_byte, data):
    with open(sys.argv[2] + "/" + name, "wb") as f:
        f.write(bytes([first_byte]) + data)
write("seed-json", 0, json.dumps(base, ensure_ascii=False).encode())
qwen = copy.deepcopy(base)
qwen["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}]}
qwen["model"]["merges"] = [m.split(" ") for m in qwen["model"]["merges"]]
qwen["model"]["ignore_merges"] = True
qwen["added_tokens"].append({"id": 400, "content": "<mask>", "lstrip": True, "rstrip": True, "special": False})
write("seed-json-nfc", 2, json.dumps(qwen, ensure_ascii=False).encode())
gpt2 = copy.deepcopy(base)
gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
write("seed-json-bytelevel", 4, json.dumps(gpt2, ensure_ascii=False).encode())
splits = copy.deepcopy(base)
splits["pre_tokenizer"]["pretokenizers"].insert(0, {"type": "Split", "pattern": {"String": "\n"}, "behavior": "Isolated", "invert": False})
write("seed-json-splits", 6, json.dumps(splits, ensure_ascii=False).encode())
model = base["model"]
write("seed-gpt2", 1, json.dumps(model["vocab"], ensure_ascii=False).encode() + b"\x00" +
      ("#version: 0.2\n" + "\n".join(model["merges"]) + "\n").encode())
PY
fi
cat > "$OUT/json.dict" <<'DICT'
"\"model\""
"\"BPE\""
"\"vocab\""
"\"merges\""
"\"added_tokens\""
"\"pre_tokenizer\""
"\"Split\""
"\"ByteLevel\""
"\"Sequence\""
"\"pretokenizers\""
"\"Regex\""
"\"String\""
"\"Isolated\""
"\"normalizer\""
"\"NFC\""
"\"ignore_merges\""
"\"use_regex\""
"\"special\""
"\"lstrip\""
"\"rstrip\""
"\"content\""
"\"id\""
"true"
"false"
"null"
DICT

SOURCES=$(ls src/tokenizer/*.c src/base/util.c src/base/intvec.c)
# shellcheck disable=SC2086
clang -std=c11 -D_GNU_SOURCE -g -O1 -fopenmp -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    tests/tokenizer/fuzz_tokenizer_load.c $SOURCES -lpcre2-8 -lcjson -lm -o "$OUT/fuzz_tokenizer_load"
"$OUT/fuzz_tokenizer_load" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -dict="$OUT/json.dict" -artifact_prefix="$OUT/crashes/" -print_final_stats=1 "$OUT/corpus" || true
found=0
for f in "$OUT"/crashes/*; do
    [ -f "$f" ] || continue
    cp "$f" "$REGRESSIONS/$(basename "$f")"
    found=$((found + 1))
done
echo "fuzz_tokenizer.sh: $found crashing input(s) saved in $REGRESSIONS"
[ "$found" = 0 ]
