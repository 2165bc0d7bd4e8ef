// The test harness shared by e2e.mjs and browser.mjs: `ok` / `not ok` lines, cleanups run
// once at the end, an overall timeout, and the closing `N passed, M failed` line that
// run-e2e.sh and run-browser.sh count.

let passed = 0;
let failed = 0;
let finished = false;
let cleanupWaitMs = 2000;
let overall;

/** Functions run (each for at most the cleanup wait, last added first) before exiting. */
export const cleanups = [];

export function trimSlash(s) {
  return s ? s.replace(/\/+$/, "") : s;
}

export function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}

export function notOk(name, detail) {
  failed++;
  const d = detail === undefined ? "" : `: ${String(detail).replace(/\s+/g, " ").slice(0, 1500)}`;
  console.log(`not ok - ${name}${d}`);
}

export function show(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs the cleanups, prints the counts and exits (1 if anything failed, or with `code`). */
export async function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  for (const c of cleanups.reverse()) {
    try {
      await Promise.race([Promise.resolve().then(c), sleep(cleanupWaitMs)]);
    } catch {
      /* best effort */
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed > 0 ? 1 : 0));
}

/** Fails the run after `timeoutMs`, or on an unhandled error; cleanups get `waitMs` each. */
export function guard(timeoutMs, waitMs) {
  cleanupWaitMs = waitMs;
  overall = setTimeout(() => {
    notOk(`overall timeout of ${timeoutMs / 1000} s`);
    finish(1);
  }, timeoutMs);
  process.on("unhandledRejection", (e) => {
    notOk("unhandled rejection", e && e.stack ? e.stack : show(e));
    finish(1);
  });
  process.on("uncaughtException", (e) => {
    notOk("uncaught exception", e && e.stack ? e.stack : show(e));
    finish(1);
  });
}
