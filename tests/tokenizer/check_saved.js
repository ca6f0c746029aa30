// check_saved.js — loads a tokenizer that lmforge saved with transformers.js
// (@lenml/tokenizers), the way a Hugging Face user would, and prints what it
// makes of the test texts and of a conversation:
//
//   NODE_PATH=$CACHE/node_modules node check_saved.js DIR TEXTS.jsonl
//
// prints {"ids": [[...] per text], "chat": "<rendered chat template>"}.
"use strict";
const fs = require("fs");
const { TokenizerLoader } = require("@lenml/tokenizers");

const [dir, textsFile] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(dir + "/tokenizer.json", "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json", "utf8")),
});
const texts = fs.readFileSync(textsFile, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l).text);
const chat = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Say hi." },
  { role: "assistant", content: "Hi.\n\nBye." },
  { role: "user", content: "Again <|im_end|> please" },
];
process.stdout.write(JSON.stringify({
  ids: texts.map((t) => tokenizer.encode(t, { add_special_tokens: false })),
  chat: tokenizer.apply_chat_template(chat, { tokenize: false, add_generation_prompt: true }),
}) + "\n");
