// sentiment_judge.js — the gold judge of the demo's sentiment family: a
// reward program (src/pipeline/reward_program.h) that scores how positive a
// completion is with VADER (Hutto & Gilbert 2014), from the npm package
// vader-sentiment that scripts/npm_cache.sh installs:
//
//   stdin   {"prompt": ..., "completion": "..."}   one JSON object a line
//   stdout  {"reward": (compound + 1) / 2}          one line each, in order
//
// compound is VADER's normalised score in [-1, 1] of the completion alone
// (the prompt, the opening words of a sentence, is not scored), so the
// reward is in [0, 1]: 0.5 neutral, above it positive.
'use strict';
const path = require('path');
const readline = require('readline');

const cache = process.env.LMF_NPM_CACHE || path.join(process.env.HOME || '/tmp', '.cache', 'lmforge-npm');
const packageDir = path.join(cache, 'vader-sentiment', 'node_modules', 'vader-sentiment');
let vader;
try {
    vader = require(packageDir);
} catch (e) {
    process.stderr.write(`sentiment_judge.js: the npm package vader-sentiment is not in ${packageDir}: ` +
                         'run `sh scripts/npm_cache.sh`\n');
    process.exit(2);
}

const lines = readline.createInterface({input: process.stdin, terminal: false});
let n = 0;
lines.on('line', (line) => {
    n++;
    if (!line.trim()) return;
    let request;
    try {
        request = JSON.parse(line);
    } catch (e) {
        process.stderr.write(`sentiment_judge.js: line ${n}: not JSON: ${e.message}\n`);
        process.exit(1);
    }
    if (typeof request.completion !== 'string') {
        process.stderr.write(`sentiment_judge.js: line ${n}: field "completion" must be a string\n`);
        process.exit(1);
    }
    const compound = vader.SentimentIntensityAnalyzer.polarity_scores(request.completion).compound;
    process.stdout.write(JSON.stringify({reward: (compound + 1) / 2}) + '\n');
});
