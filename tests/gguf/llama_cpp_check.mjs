// llama_cpp_check.mjs — runs a GGUF file written by `lmforge export gguf` in
// real llama.cpp (the prebuilt binaries of npm's node-llama-cpp, CPU only)
// and prints what it computes, for tests/test_export_gguf.c to compare:
//
//   LMF_LLAMA_CPP_DIR=DIR node tests/gguf/llama_cpp_check.mjs REQUEST.json > ANSWER.json
//
// DIR holds node_modules/node-llama-cpp (tests/gguf/fetch_llama_cpp.sh puts
// it there); ES modules ignore NODE_PATH, so the package is imported by path.
//
// REQUEST: {"model": "m.gguf", "vocab_size": V, "context": n, "kv_f32": bool,
//           "flash_attention": bool (absent: llama.cpp decides), "threads": n (default 1), "texts": [...], "logprob_seqs": [[ids]...],
//           "greedy": [{"prompt": [ids], "max_new": n}], "stop_ids": [ids]}
//           "next_only": bool (logprobs: only each next token's, for perplexity)
// ANSWER:  {"tokens_special": [[ids]], "tokens_plain": [[ids]],
//           "logprobs": [[[V log-probs] per position] per sequence],
//           "greedy": [[ids]]}
// The log-probs are log-softmax of llama.cpp's logits (null where the
// probability underflows to 0); greedy decoding stops after a stop id.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const pkg = `${process.env.LMF_LLAMA_CPP_DIR}/node_modules/node-llama-cpp/dist/index.js`;
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(pkg).href);

const req = JSON.parse(readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: req.model });
// The KV cache in f32 ("kv_f32": true) takes llama.cpp's default f16 cache out
// of the comparison, so that what differs is the file alone.
const kv = req.kv_f32 ? { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } : {};
const fa = req.flash_attention === undefined ? {} : { flashAttention: req.flash_attention };
const context = await model.createContext({ contextSize: req.context ?? 128, sequences: 1, threads: req.threads ?? 1, ...kv, ...fa });
const sequence = context.getSequence();
const nVocab = req.vocab_size;

const tokensSpecial = (req.texts ?? []).map((t) => Array.from(model.tokenize(t, true)));
const tokensPlain = (req.texts ?? []).map((t) => Array.from(model.tokenize(t, false)));

const probsNext = { generateNext: { probabilities: true, options: { temperature: 0 } } };

const logprobs = [];
for (const ids of req.logprob_seqs ?? []) {
    await sequence.clearHistory();
    const out = await sequence.controlledEvaluate(ids.map((t) => [t, probsNext]));
    const rows = [];
    for (let i = 0; i < ids.length; i++) {
        if (req.next_only) { // only the log-prob of the token that follows (perplexity)
            if (i + 1 < ids.length) rows.push(Math.log(out[i].next.probabilities.get(ids[i + 1]) ?? 0));
            continue;
        }
        const row = new Array(nVocab).fill(null);
        for (const [tok, p] of out[i].next.probabilities) if (p > 0) row[tok] = Math.log(p);
        rows.push(row);
    }
    logprobs.push(rows);
}

const stop = new Set(req.stop_ids ?? []);
const greedy = [];
for (const g of req.greedy ?? []) {
    await sequence.clearHistory();
    const produced = [];
    if (g.max_new > 0)
        for await (const tok of sequence.evaluate(g.prompt, { temperature: 0, yieldEogToken: true })) {
            produced.push(tok);
            if (stop.has(tok) || produced.length >= g.max_new) break;
        }
    greedy.push(produced);
}

process.stdout.write(JSON.stringify({ tokens_special: tokensSpecial, tokens_plain: tokensPlain, logprobs, greedy }));
await context.dispose();
await model.dispose();
await llama.dispose();
