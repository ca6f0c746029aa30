// browser_test.js — the label page driven in Debian's chromium through the
// DevTools protocol (puppeteer-core), the way people use it:
//   node tests/label/browser_test.js URL OUT_DIR [SCREENSHOT_DIR]
//   node tests/label/browser_test.js --stream URL OUT_DIR
// URL is `lmforge label`'s, serving five prompts, the third of which has an
// answer holding markup. Two labelers, ann and bob, in two browser
// contexts (no shared storage). ann ranks her first prompt with the keys,
// her second by dragging the answers into order, reloads the page on her
// third (it comes back, her two rankings counted), meets the markup answer
// there as plain text with no script run, and ranks on until nothing is
// left; bob, at the same time, gets other prompts. Every ranking submitted
// is written to OUT_DIR/clicked.jsonl as {"prompt": the last turn's text,
// "ranked": the answers' texts best first}, for the C test to compare with
// --out. With --stream the server is `lmforge label --from-stdin`, whose
// input waits for OUT_DIR/go (and ends at OUT_DIR/done): the page, open and waiting, must pick up the
// prompt that then arrives by itself, and rank it. Exits non-zero with a
// message on the first thing that is wrong.
'use strict';
const puppeteer = require('puppeteer-core');
const fs = require('fs');
const path = require('path');

const stream = process.argv[2] === '--stream';
const [url, outDir, shots] = process.argv.slice(stream ? 3 : 2);
const clicked = [];

function check(ok, what) {
    if (!ok) throw new Error(what);
}

// The prompt shown (the last turn's text) and the answers' texts, top first.
async function shown(page) {
    await page.waitForSelector('#task:not([hidden]) #answer-1');
    return page.evaluate(() => {
        const turns = document.querySelectorAll('#chat .text');
        return {
            prompt: turns.length ? turns[turns.length - 1].textContent : '',
            answers: Array.from(document.querySelectorAll('#answers .answer .text'), (e) => e.textContent),
            progress: document.getElementById('progress').textContent,
        };
    });
}

// After a submit: the page has moved on (another prompt, or none left).
async function movedOn(page, prompt) {
    await page.waitForFunction(
        (p) => {
            if (!document.getElementById('finished').hidden) return true;
            const turns = document.querySelectorAll('#chat .text');
            return !document.getElementById('task').hidden && turns.length && turns[turns.length - 1].textContent !== p;
        },
        {},
        prompt,
    );
}

// Ranks the prompt on screen by pressing the answers' numbers in `keys`
// order (1-based positions), then Enter.
async function rankByKeys(page, keys) {
    const s = await shown(page);
    for (const k of keys) await page.keyboard.press(String(k));
    await page.waitForSelector('#submit:not([disabled])');
    await page.keyboard.press('Enter');
    clicked.push({ prompt: s.prompt, ranked: keys.map((k) => s.answers[k - 1]) });
    await movedOn(page, s.prompt);
}

// Drags the card at position `from` (1-based) by its number below the last
// card, with the mouse in small steps, and submits the order shown.
async function rankByDrag(page) {
    const s = await shown(page);
    const grip = await page.$('#answer-1 .num');
    const a = await grip.boundingBox();
    const last = await (await page.$('#answer-' + s.answers.length)).boundingBox();
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    const y1 = last.y + last.height - 2;
    for (let i = 1; i <= 10; i++) await page.mouse.move(a.x + a.width / 2, a.y + ((y1 - a.y) * i) / 10);
    await page.mouse.up();
    // the first answer is now last; the others moved up, in their order
    const expected = s.answers.slice(1).concat([s.answers[0]]);
    await page.waitForFunction(
        (e) => JSON.stringify(Array.from(document.querySelectorAll('#answers .answer .text'), (x) => x.textContent)) === e,
        {},
        JSON.stringify(expected),
    );
    await page.waitForSelector('#submit:not([disabled])');
    const after = await shown(page);
    check(JSON.stringify(after.answers) === JSON.stringify(expected), 'the drag did not reorder the answers');
    await page.click('#submit');
    clicked.push({ prompt: s.prompt, ranked: expected });
    await movedOn(page, s.prompt);
}

// The page open before any prompt exists; the prompt comes while it waits.
async function streamed(browser) {
    const page = await (await browser.createBrowserContext()).newPage();
    page.setDefaultTimeout(20000);
    await page.goto(url + '?labeler=dan');
    await page.waitForFunction(() => /Waiting for the model/.test(document.getElementById('done-text').textContent) &&
        !document.getElementById('finished').hidden);
    fs.writeFileSync(path.join(outDir, 'go'), '');
    await rankByKeys(page, [2, 1, 3]);
    await page.waitForFunction(() => /Waiting for the model/.test(document.getElementById('done-text').textContent) &&
        !document.getElementById('finished').hidden);
    fs.writeFileSync(path.join(outDir, 'done'), ''); // the input ends: the server with it
}

async function main() {
    const browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
        protocolTimeout: 60000,
    });
    try {
        if (stream) return await streamed(browser);
        const open = async (labeler) => {
            const context = await browser.createBrowserContext();
            const page = await context.newPage();
            page.setDefaultTimeout(20000);
            await page.setViewport({ width: 1100, height: 800 });
            page.on('pageerror', (e) => console.error('page error (' + labeler + '): ' + e.message));
            await page.goto(url + '?labeler=' + labeler);
            return page;
        };
        const ann = await open('ann');
        if (shots) {
            // the page at phone width, for the README: ann's prompt in a second tab (a labeler gets the prompt
            // they hold)
            const phone = await ann.browserContext().newPage();
            await phone.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
            await phone.goto(url + '?labeler=ann');
            await shown(phone);
            await phone.keyboard.press('2');
            await phone.screenshot({ path: path.join(shots, 'label-phone.png') });
            await phone.close();
        }

        // 1: keys, best first: the third answer shown, then the first, then the second
        await rankByKeys(ann, [3, 1, 2]);
        // 2: by drag
        if (shots) {
            await ann.keyboard.press('3');
            await ann.screenshot({ path: path.join(shots, 'label-desktop.png') });
            await ann.keyboard.press('Backspace');
        }
        await rankByDrag(ann);

        // 3: a reload in the middle: the same prompt comes back, the two rankings counted
        const before = await shown(ann);
        await ann.keyboard.press('1'); // placed, not submitted
        await ann.reload();
        const again = await shown(ann);
        check(again.prompt === before.prompt, 'after the reload another prompt: ' + again.prompt + ' (was ' + before.prompt + ')');
        check(/2 of 5 rankings done/.test(again.progress) && /you: 2/.test(again.progress), 'progress after the reload: ' + again.progress);

        // another labeler at the same time, in a context of its own, gets another prompt
        const bob = await open('bob');
        const b = await shown(bob);
        check(b.prompt !== again.prompt, 'bob got the prompt ann holds: ' + b.prompt);

        // the markup answer is text: visible as written, and nothing of it ran or became an element
        const markup = again.answers.find((t) => t.indexOf('<script>') >= 0);
        check(markup, 'no answer holding <script> on ann\'s third prompt: ' + JSON.stringify(again.answers));
        const inert = await ann.evaluate(() => ({
            pwned: typeof window.pwned,
            elements: document.querySelectorAll('#answers script, #answers img').length,
            visible: Array.from(document.querySelectorAll('#answers .text')).some(
                (e) => e.textContent.indexOf('<script>') >= 0 && e.offsetHeight > 0,
            ),
        }));
        check(inert.pwned === 'undefined', 'a script in an answer ran (window.pwned is ' + inert.pwned + ')');
        check(inert.elements === 0 && inert.visible, 'the markup answer is not plain visible text: ' + JSON.stringify(inert));
        await rankByKeys(ann, [2, 3, 1]);
        await rankByKeys(bob, [1, 2, 3]);

        // on until nothing is left for either
        for (const page of [ann, bob]) {
            for (;;) {
                const finished = await page.evaluate(() => !document.getElementById('finished').hidden);
                if (finished) break;
                await rankByKeys(page, [1, 2, 3]);
            }
        }
        const done = await ann.evaluate(() => document.getElementById('progress').textContent);
        check(/5 of 5 rankings done, 0 left/.test(done), 'progress at the end: ' + done);
    } finally {
        fs.writeFileSync(path.join(outDir, 'clicked.jsonl'), clicked.map((c) => JSON.stringify(c) + '\n').join(''));
        await browser.close();
    }
}

main().then(
    () => console.log('browser test: ' + clicked.length + ' rankings submitted'),
    (e) => {
        console.error('browser test: ' + e.message);
        process.exit(1);
    },
);
