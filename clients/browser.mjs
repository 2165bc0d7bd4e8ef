// Browser tests of Paygate's hosted checkout pages (/pay/{code}) in headless Chromium, driven
// over the DevTools protocol with playwright-core. Setup and assertions use GraphQL over fetch.
//
// Environment:
//   E2E_API          base URL of a running `paygate all`, e.g. http://127.0.0.1:18080
//   E2E_KEY          a sk_test_ key of a merchant of that deployment
//   E2E_CHROMIUM     the browser binary (default /usr/bin/chromium)
//   E2E_SCREENSHOTS  where the README screenshots go (default ../docs next to this file)
//
// The buyer is sent back to a tiny HTTP server this script starts on 127.0.0.1 (redirectUri,
// cancelUri and a consent charge's returnUrl point at it), so the browser really loads the
// merchant's pages.
//
// Tests 11–14 cover createPayment's own pages: consent charges (/confirm/{id}), a zero-amount
// card check, SENT → VIEWED and a strict due date. The due date needs the server's schedule to
// run often (run-browser.sh starts it with PAYGATE_SCHEDULE_INTERVAL_MS=200).
//
// Prints one `ok - …` / `not ok - …` line per check and ends with `N passed, M failed`.
// Exits 1 if any check failed. Overall timeout: 180 s; each test has its own 30 s limit so one
// hanging test does not take the others with it.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { cleanups, finish, guard, notOk, ok, show, sleep, trimSlash } from "./harness.mjs";

const OVERALL_TIMEOUT_MS = 180_000;
const TEST_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 15_000; // one navigation / one wait for an element
const SCREENSHOT_MAX_BYTES = 300 * 1024;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const API = trimSlash(process.env.E2E_API);
const KEY = process.env.E2E_KEY;
const CHROMIUM = process.env.E2E_CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.E2E_SCREENSHOTS || path.resolve(HERE, "..", "docs");

const CARD_OK = "4242424242424242";
const CARD_DECLINED = "4000000000000002";
const CARD_3DS = "4000000000003220";
const EXPIRY = `12/${String((new Date().getFullYear() + 3) % 100).padStart(2, "0")}`;

/** Throws (failing the current test) unless `cond`; `message` may be an (async) function. */
async function assert(cond, message) {
  if (!cond) throw new Error(typeof message === "function" ? await message() : message);
}

// ---------------------------------------------------------------- cleanup / finish

guard(OVERALL_TIMEOUT_MS, 5000);

// ---------------------------------------------------------------- GraphQL over HTTP

async function gql(query, variables = {}) {
  const res = await fetch(`${API}/graphql`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      Authorization: `Bearer ${KEY}`,
    },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`GraphQL: HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (!res.ok || body.errors) {
    throw new Error(`GraphQL: HTTP ${res.status}: ${show(body.errors ?? body).slice(0, 1000)}`);
  }
  return body.data;
}

/** The payload of a mutation, after checking that its `errors` is empty. */
async function payload(data, field) {
  const p = data[field];
  await assert(p && Array.isArray(p.errors), () => `${field}: no payload: ${show(data)}`);
  await assert(p.errors.length === 0, () => `${field} answered errors: ${show(p.errors)}`);
  return p;
}

const PAYLINK_FIELDS = "id code url status total currency purchaseFlow payments { id status }";

const ITEMS = [
  { description: "Blue enamel mug", price: 1250, vat: 2500, quantity: 2, currency: "EUR" },
  { description: "Shipping", price: 490, vat: 2500, quantity: 1, currency: "EUR" },
];
const ITEMS_TOTAL = "29.90"; // 2 × 12.50 + 4.90

async function createPaylink(extra = {}) {
  const input = {
    title: "Order #1042 at the Mug Shop",
    items: ITEMS,
    redirectUri: `${LOCAL}/done`,
    cancelUri: `${LOCAL}/cancelled`,
    ...extra,
  };
  const data = await gql(
    `mutation($input: CreatePaylinkInput!) {
       createPaylink(input: $input) { paylink { ${PAYLINK_FIELDS} } errors { code field message } }
     }`,
    { input },
  );
  const link = (await payload(data, "createPaylink")).paylink;
  await assert(link && link.url, () => `createPaylink: no paylink url: ${show(data)}`);
  return link;
}

async function paylink(id) {
  const data = await gql(`query($id: ID!) { paylink(id: $id) { ${PAYLINK_FIELDS} } }`, { id });
  return data.paylink;
}

async function payment(id, fields = "id status amount") {
  const data = await gql(`query($id: ID!) { payment(id: $id) { ${fields} } }`, { id });
  return data.payment;
}

/** createPayment(input) → its payment (`fields`), after checking `errors` is empty. */
async function createPayment(input, fields) {
  const data = await gql(
    `mutation($input: CreatePaymentInput!) {
       createPayment(input: $input) { payment { ${fields} } errors { code field message } }
     }`,
    { input },
  );
  const p = (await payload(data, "createPayment")).payment;
  await assert(p && p.id, () => `createPayment: no payment: ${show(data)}`);
  return p;
}

/** One of the mutations taking a CancelPaymentInput (activatePayment, sendPayment, …). */
async function paymentMutation(name, id, fields = "status") {
  const data = await gql(
    `mutation($id: ID!) { ${name}(input: { id: $id }) { payment { ${fields} } errors { code message } } }`,
    { id },
  );
  return (await payload(data, name)).payment;
}

/** Polls the payment until its status is one of `statuses`; answers it (or throws). */
async function waitForStatus(id, statuses, timeoutMs = 10_000, fields = "id status") {
  const until = Date.now() + timeoutMs;
  let p;
  for (;;) {
    p = await payment(id, fields);
    if (statuses.includes(p.status)) return p;
    if (Date.now() > until) break;
    await sleep(200);
  }
  throw new Error(`payment ${id} is ${p.status} after ${timeoutMs / 1000} s, expected ${statuses.join(" or ")}`);
}

// ---------------------------------------------------------------- the merchant's own site

// redirectUri, cancelUri and returnUrl lead here, so the browser really lands somewhere.
const LANDING_TITLES = { "/cancelled": "Order cancelled", "/back": "Back at the shop" };
const landings = [];
const merchant = http.createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  landings.push(url);
  const title = LANDING_TITLES[url.pathname] || "Thank you";
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
  res.end(
    `<!doctype html><html lang="en"><title>${title}</title>` +
      `<h1 id="landed">${title}</h1><p id="query">${url.search.replace(/[<>&"]/g, "")}</p></html>`,
  );
});
await new Promise((resolve, reject) => {
  merchant.once("error", reject);
  merchant.listen(0, "127.0.0.1", resolve);
});
const LOCAL = `http://127.0.0.1:${merchant.address().port}`;
cleanups.push(() => new Promise((r) => merchant.close(r)));

// ---------------------------------------------------------------- browser helpers

let browser;

async function newPage(viewport = { width: 1000, height: 900 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: "en-US" });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  openContexts.add(context);
  return page;
}
const openContexts = new Set();

async function closePages() {
  for (const c of openContexts) await c.close().catch(() => {});
  openContexts.clear();
}

/** GET url in the page; answers the main response (after redirects). */
async function open(page, url) {
  const res = await page.goto(url, { waitUntil: "load" });
  await assert(res, `no response for ${url}`);
  return res;
}

/** Clicks `selector` (a submit button) and waits for the navigation it causes. */
async function submit(page, selector) {
  const [res] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click(selector),
  ]);
  await assert(res, `no response after clicking ${selector}`);
  return res;
}

async function fillCard(page, { name = "Ada Lovelace", number, expiry = EXPIRY, cvc = "123" }) {
  await page.fill("#name", name);
  await page.fill("#number", number);
  await page.fill("#expiry", expiry);
  await page.fill("#cvc", cvc);
}

/** Text of the page's alert (#problems), or "" if there is none. */
async function alertText(page) {
  const el = await page.$("#problems");
  return el ? (await el.innerText()).trim() : "";
}

/** A short description of where the page is, for failure messages. */
async function where(page, res) {
  let text = "";
  try {
    text = (await page.innerText("body")).replace(/\s+/g, " ").slice(0, 300);
  } catch {
    /* ignore */
  }
  return `at ${page.url()} (HTTP ${res ? res.status() : "?"}): "${text}"`;
}

/**
 * Asserts the page is (or soon becomes, after any intermediate page) the merchant's landing
 * `pathname`; answers its query.
 */
async function assertLanded(page, res, pathname) {
  await page
    .waitForURL((u) => u.origin === LOCAL && u.pathname === pathname, { timeout: 5000 })
    .catch(() => {});
  const url = new URL(page.url());
  await assert(
    url.origin === LOCAL && url.pathname === pathname,
    async () => `expected to land on ${LOCAL}${pathname}, ${await where(page, res)}`,
  );
  if (res.url() === page.url()) await assert(res.status() === 200, `the landing page answered ${res.status()}`);
  await assert(
    landings.some((l) => l.pathname === pathname && l.search === url.search),
    `the merchant server did not see GET ${url.pathname}${url.search}`,
  );
  return url.searchParams;
}

async function pay(page, number, opts = {}) {
  await fillCard(page, { number, ...opts });
  return submit(page, "#pay");
}

/** Pays the open page with 4242… and checks the redirect to redirectUri; answers the payment id. */
async function payAndLand(page, expectStatus) {
  const res = await pay(page, CARD_OK);
  const q = await assertLanded(page, res, "/done");
  await assert(q.get("status") === expectStatus, `redirect status=${q.get("status")}, expected ${expectStatus} (query ${q})`);
  await assert(q.get("paymentId"), `no paymentId in the redirect query (${q})`);
  return q.get("paymentId");
}

// ---------------------------------------------------------------- tests

async function testPayDirect() {
  const link = await createPaylink();
  await assert(link.status === "AVAILABLE", `new paylink is ${link.status}`);
  const page = await newPage();
  const res = await open(page, link.url);
  await assert(res.status() === 200, async () => `GET ${link.url}: ${await where(page, res)}`);
  const total = (await page.innerText("#total")).trim();
  await assert(total.includes(ITEMS_TOTAL), `#total is "${total}", expected it to show ${ITEMS_TOTAL}`);
  const body = await page.innerText("body");
  await assert(body.includes("Blue enamel mug") && body.includes("Shipping"), "the items are not on the page");
  await assert(/VAT/.test(body), "no VAT on the page");
  const paymentId = await payAndLand(page, "PAID");
  const after = await paylink(link.id);
  await assert(after.status === "USED", `paylink is ${after.status} after paying, expected USED`);
  const p = after.payments.find((x) => x.id === paymentId);
  await assert(p, `the paylink's payments ${show(after.payments)} do not include ${paymentId}`);
  await assert(p.status === "PAID", `payment ${paymentId} is ${p.status}`);
  usedLink = link;
}
let usedLink = null;

async function testDeclineThenRetry() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  let res = await pay(page, CARD_DECLINED, { name: "Ada Lovelace" });
  await assert(res.status() === 402, async () => `declined card: expected HTTP 402, ${await where(page, res)}`);
  const alert = await alertText(page);
  await assert(/declined/i.test(alert), `the alert says "${alert}", expected "declined"`);
  await assert(await page.isVisible("#problems"), "#problems is not visible");
  await assert((await page.getAttribute("#problems", "role")) === "alert", "#problems has no role=alert");
  await assert((await page.inputValue("#name")) === "Ada Lovelace", "the name was not kept after a decline");
  await assert((await page.inputValue("#number")) === "", "the card number was kept after a decline");
  await assert(!(await page.content()).includes(CARD_DECLINED), "the declined card number is in the page");
  await assert((await paylink(link.id)).status === "AVAILABLE", "paylink not AVAILABLE after a decline");
  const paymentId = await payAndLand(page, "PAID");
  const p = await payment(paymentId);
  await assert(p && p.status === "PAID", `payment ${paymentId}: ${show(p)}`);
  const after = await paylink(link.id);
  await assert(after.status === "USED", `paylink is ${after.status} after the retry, expected USED`);
}

async function testFieldErrors() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  const badNumber = "4242424242424241"; // fails the Luhn check
  await fillCard(page, { name: "Grace Hopper", number: badNumber, expiry: "01/20", cvc: "123" });
  const res = await submit(page, "#pay");
  await assert(res.status() === 422, async () => `expected HTTP 422, ${await where(page, res)}`);
  const html = await res.text();
  await assert(await page.isVisible("#number-error"), "#number-error is not visible");
  await assert(await page.isVisible("#expiry-error"), "#expiry-error is not visible");
  const ne = (await page.innerText("#number-error")).trim();
  const ee = (await page.innerText("#expiry-error")).trim();
  await assert(ne && ee, "an error element is empty");
  await assert(!(await page.$("#name-error")) && !(await page.$("#cvc-error")), "errors on valid fields");
  await assert(await page.isVisible("#problems"), "no #problems alert");
  await assert((await page.inputValue("#name")) === "Grace Hopper", `name is "${await page.inputValue("#name")}"`);
  await assert((await page.inputValue("#expiry")) === "01/20", "the typed expiry was not kept");
  await assert((await page.inputValue("#number")) === "", "the number input is not empty");
  await assert((await page.inputValue("#cvc")) === "", "the cvc input is not empty");
  await assert(!html.includes(badNumber), "the error page's HTML contains the typed card number");
  await assert(!(await page.content()).includes(badNumber), "the page's DOM contains the typed card number");
  await assert(!html.includes("4242 4242"), "the error page's HTML contains a grouped card number");
  await page.screenshot({ path: path.join(SHOTS, "checkout-errors.png"), fullPage: true });
  errorsShot = true;
}
let errorsShot = false;

async function testThreeDsApprove() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  const res = await pay(page, CARD_3DS);
  const onChallenge = await page.waitForSelector("#approve", { timeout: 10_000 }).catch(() => null);
  const here = new URL(page.url());
  await assert(
    onChallenge && here.origin !== LOCAL,
    async () => `after Pay with ${CARD_3DS} expected the simulator's challenge page with #approve, ${await where(page, res)}`,
  );
  await assert(here.origin !== new URL(API).origin || here.pathname.includes("3ds"), `challenge page at ${here}`);
  const back = await submit(page, "#approve");
  const q = await assertLanded(page, back, "/done");
  await assert(q.get("status") === "PAID", `after approve: status=${q.get("status")} (query ${q})`);
  const p = await payment(q.get("paymentId"));
  await assert(p && p.status === "PAID", `payment after approve: ${show(p)}`);
  await assert((await paylink(link.id)).status === "USED", "paylink not USED after 3-D Secure approve");
  return `(challenge page ${here.origin}${here.pathname.replace(/[^/]{12,}/g, "…")})`;
}

async function testThreeDsDeny() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  const res = await pay(page, CARD_3DS);
  await assert(
    await page.waitForSelector("#deny", { timeout: 10_000 }).catch(() => null),
    async () => `after Pay with ${CARD_3DS} expected the simulator's challenge page with #deny, ${await where(page, res)}`,
  );
  const back = await submit(page, "#deny");
  await page.waitForSelector("#problems", { timeout: 5000 }).catch(() => {});
  const url = new URL(page.url());
  await assert(
    url.origin === new URL(API).origin && url.pathname.startsWith(`/pay/${link.code}`),
    async () => `after deny expected the hosted page /pay/${link.code}, ${await where(page, back)}`,
  );
  const alert = await alertText(page);
  await assert(/authentication/i.test(alert), async () => `after deny the alert is "${alert}", expected "authentication"; ${await where(page, back)}`);
  await assert((await paylink(link.id)).status === "AVAILABLE", "paylink not AVAILABLE after 3-D Secure deny");
  const paymentId = await payAndLand(page, "PAID");
  const p = await payment(paymentId);
  await assert(p && p.status === "PAID", `payment after the retry: ${show(p)}`);
}

async function testCancel() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  await page.fill("#name", "Ada Lovelace");
  const res = await submit(page, "#cancel");
  await assertLanded(page, res, "/cancelled");
  const after = await paylink(link.id);
  await assert(after.status === "AVAILABLE", `paylink is ${after.status} after cancel, expected AVAILABLE`);
  await assert(after.payments.every((p) => p.status !== "PAID"), `payments after cancel: ${show(after.payments)}`);
}

async function testAuthorizeThenCapture() {
  const link = await createPaylink({ purchaseFlow: "AUTHORIZE" });
  await assert(link.purchaseFlow === "AUTHORIZE", `purchaseFlow is ${link.purchaseFlow}`);
  const page = await newPage();
  await open(page, link.url);
  const paymentId = await payAndLand(page, "HOLD");
  let p = await payment(paymentId);
  await assert(p.status === "HOLD", `payment is ${p.status} after the redirect, expected HOLD`);
  const data = await gql(
    `mutation($id: ID!) { capturePayment(input: { id: $id }) { payment { id status capturedAmount } errors { code field message } } }`,
    { id: paymentId },
  );
  const cap = (await payload(data, "capturePayment")).payment;
  await assert(cap.status === "PAID", `capturePayment answered ${show(cap)}`);
  await assert(String(cap.capturedAmount) === "2990", `capturedAmount ${cap.capturedAmount}, expected 2990`);
  p = await payment(paymentId);
  await assert(p.status === "PAID", `payment is ${p.status} after capture`);
}

let expiring = null; // created at the start, so it has expired by the time its test runs

async function testExpiredAndUsed() {
  await assert(expiring, "the expiring paylink was not created");
  const wait = Date.parse(expiring.expiresAt) + 500 - Date.now();
  if (wait > 0) await sleep(wait);
  const page = await newPage();
  const res = await open(page, expiring.url);
  await assert(res.status() === 410, async () => `expired link: expected HTTP 410, ${await where(page, res)}`);
  const text = await page.innerText("body");
  await assert(/expired/i.test(text), `the 410 page says "${text.slice(0, 200)}", expected "expired"`);
  await assert(!(await page.$("#pay")), "the expired page still has a Pay button");
  if (usedLink) {
    const res2 = await open(page, usedLink.url);
    await assert(res2.status() === 410, async () => `used link: expected HTTP 410, ${await where(page, res2)}`);
    const t2 = await page.innerText("body");
    await assert(/paid/i.test(t2), `the used link's 410 page says "${t2.slice(0, 200)}"`);
  }
}

async function testRememberCard() {
  const created = await gql(
    `mutation { createCustomer(input: { email: "buyer@example.com", name: "Ada Lovelace" }) { customer { id } errors { code field message } } }`,
  );
  const c = (await payload(created, "createCustomer")).customer;
  const link = await createPaylink({ buyerCustomerId: c.id });
  await assert(/[?&]buyer=/.test(link.url), `buyer-locked url has no buyer token: ${link.url}`);
  const page = await newPage();
  // Without the buyer's token the page does not open.
  const bare = link.url.replace(/\?.*$/, "");
  const denied = await open(page, bare);
  await assert(denied.status() === 403, async () => `buyer-locked link without its token: expected 403, ${await where(page, denied)}`);
  const res = await open(page, link.url);
  await assert(res.status() === 200, async () => `GET ${link.url}: ${await where(page, res)}`);
  await assert((await page.$$("input[name=stored]")).length === 0, "a new customer already has saved cards");
  await fillCard(page, { number: CARD_OK });
  await page.check("input[name=remember]");
  const done = await submit(page, "#pay");
  const q = await assertLanded(page, done, "/done");
  await assert(q.get("status") === "PAID", `status=${q.get("status")}`);
  const charge = await gql(
    `mutation($c: ID!) { chargeCustomer(input: { customerId: $c, amount: 500, currency: "EUR" }) { payment { id status amount } errors { code field message } } }`,
    { c: c.id },
  );
  const p = (await payload(charge, "chargeCustomer")).payment;
  await assert(p && p.status === "PAID", `chargeCustomer answered ${show(charge.chargeCustomer)}`);
  // The next buyer-locked link offers the saved card.
  const link2 = await createPaylink({ buyerCustomerId: c.id });
  await open(page, link2.url);
  const radios = await page.$$("input[name=stored]");
  const fs2 = (await page.$("fieldset.stored")) ? await page.innerText("fieldset.stored") : "";
  await assert(radios.length >= 2 && fs2.includes("4242"), `saved cards on the next link: ${radios.length} radios, "${fs2}"`);
  const pd = await submit(page, "#pay"); // the saved card is preselected
  const q2 = await assertLanded(page, pd, "/done");
  await assert(q2.get("status") === "PAID", `paying with the saved card: status=${q2.get("status")}`);
}

async function testAccessibility() {
  const link = await createPaylink();
  const page = await newPage();
  await open(page, link.url);
  const labels = await page.$$eval("input", (inputs) =>
    inputs
      .filter((i) => i.type !== "hidden" && i.offsetParent !== null)
      .map((i) => {
        const forLabel = i.id ? document.querySelector(`label[for="${CSS.escape(i.id)}"]`) : null;
        const wrapping = i.closest("label");
        return {
          input: i.id || `${i.name}[${i.type}]`,
          type: i.type,
          forText: forLabel ? forLabel.textContent.trim() : null,
          wrapText: wrapping ? wrapping.textContent.trim() : null,
        };
      }),
  );
  await assert(labels.length >= 5, `only ${labels.length} visible inputs`);
  for (const l of labels) {
    const text = l.type === "text" ? l.forText : l.forText || l.wrapText;
    await assert(text, `input ${l.input} has no ${l.type === "text" ? "<label for>" : "label"}`);
  }
  // Tab order from #name.
  await page.focus("#name");
  const order = ["#name"];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press("Tab");
    order.push(
      await page.evaluate(() => {
        const a = document.activeElement;
        return a.id ? `#${a.id}` : a.name || a.tagName.toLowerCase();
      }),
    );
  }
  const want = ["#name", "#number", "#expiry", "#cvc", "remember", "#pay"];
  await assert(show(order) === show(want), `Tab order ${order.join(" → ")}, expected ${want.join(" → ")}`);
  // Invalid input: every field is empty.
  const res = await submit(page, "#pay");
  await assert(res.status() === 422, `empty form: HTTP ${res.status()}, expected 422`);
  const invalid = await page.$$eval("input", (inputs) =>
    inputs
      .filter((i) => i.type !== "hidden")
      .map((i) => {
        const d = i.getAttribute("aria-describedby");
        const el = d ? document.getElementById(d) : null;
        return {
          id: i.id || i.name,
          invalid: i.getAttribute("aria-invalid"),
          describedby: d,
          describedText: el ? el.textContent.trim() : null,
        };
      }),
  );
  for (const id of ["name", "number", "expiry", "cvc"]) {
    const f = invalid.find((x) => x.id === id);
    await assert(f, `no #${id} on the error page`);
    await assert(f.invalid === "true", `#${id} has aria-invalid=${f.invalid}`);
    await assert(f.describedby && f.describedText, `#${id}: aria-describedby=${f.describedby} points at no error text`);
  }
  for (const f of invalid) {
    if (f.invalid === "true") await assert(f.describedText, `#${f.id} is invalid without a described error`);
  }
  await assert((await page.getAttribute("#problems", "role")) === "alert", "#problems is not role=alert");
  const wrapped = labels.filter((l) => !l.forText).map((l) => l.input);
  return wrapped.length ? `(${wrapped.join(", ")} labelled by a wrapping <label>)` : "";
}

/** The screenshot size check: each of `files` in SHOTS exists and is ≤ 300 KB. */
async function checkShots(files) {
  const sizes = [];
  for (const f of files) {
    const p = path.join(SHOTS, f);
    await assert(fs.existsSync(p), `${p} was not written`);
    const size = fs.statSync(p).size;
    await assert(size <= SCREENSHOT_MAX_BYTES, `${p} is ${size} bytes, more than ${SCREENSHOT_MAX_BYTES}`);
    sizes.push(`${f} ${Math.round(size / 1024)} KB`);
  }
  return `(${sizes.join(", ")})`;
}

async function testScreenshot() {
  const link = await createPaylink();
  const page = await newPage({ width: 1000, height: 900 });
  await open(page, link.url);
  const file = path.join(SHOTS, "checkout.png");
  await page.screenshot({ path: file, fullPage: true });
  return checkShots(["checkout.png", "checkout-errors.png"]);
}

// ---------------------------------------------------------------- createPayment's own pages

/** A charge the buyer must accept (LiveChat Direct Charges): 3 × 19.99 USD, 15 % commission. */
async function createConsentCharge() {
  const p = await createPayment(
    {
      requireConfirmation: true,
      name: "Premium plan",
      price: 1999,
      quantity: 3,
      currency: "USD",
      returnUrl: `${LOCAL}/back`,
      commissionPercent: 15,
    },
    "id status confirmationUrl commissionAmount netAmount",
  );
  await assert(p.status === "PENDING_CONFIRMATION", `new consent charge is ${p.status}, expected PENDING_CONFIRMATION`);
  await assert(p.confirmationUrl, () => `no confirmationUrl: ${show(p)}`);
  return p;
}

/** Asserts the page landed on the consent charge's returnUrl with ?id=<id>&type=direct_charge. */
async function assertBack(page, res, id) {
  const q = await assertLanded(page, res, "/back");
  await assert(q.get("id") === id, `returnUrl query id=${q.get("id")}, expected ${id} (query ${q})`);
  await assert(q.get("type") === "direct_charge", `returnUrl query type=${q.get("type")}, expected direct_charge (query ${q})`);
}

let merchantName = null;

async function theMerchantName() {
  if (merchantName === null) merchantName = (await gql("{ merchant { name } }")).merchant.name;
  return merchantName;
}

async function testConsentAccept() {
  const p = await createConsentCharge();
  await assert(
    String(p.commissionAmount) === "900" && String(p.netAmount) === "5097",
    `commissionAmount ${p.commissionAmount}, netAmount ${p.netAmount}; expected 900 and 5097`,
  );
  const name = await theMerchantName();
  const page = await newPage();
  const res = await open(page, p.confirmationUrl);
  await assert(res.status() === 200, async () => `GET ${p.confirmationUrl}: ${await where(page, res)}`);
  const body = await page.innerText("body");
  await assert(name && body.includes(name), `the merchant's name "${name}" is not on the page: "${body.slice(0, 300)}"`);
  const rows = await page.$$eval("tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.innerText.trim())));
  const row = rows.find((r) => r[0] && r[0].includes("Premium plan"));
  await assert(row, `no "Premium plan" row in ${show(rows)}`);
  await assert(row[1] === "3", `the quantity cell is "${row[1]}", expected 3 (row ${show(row)})`);
  await assert(row[0].includes("19.99 USD"), `the price 19.99 USD is not in the row ${show(row)}`);
  await assert(row[2].includes("59.97 USD"), `the row's amount is not 59.97 USD: ${show(row)}`);
  const total = (await page.innerText("#total")).trim();
  await assert(total.includes("59.97 USD"), `#total is "${total}", expected 59.97 USD`);
  await assert(await page.isVisible("#accept"), "no visible Accept button (#accept)");
  await assert(await page.isVisible("#decline"), "no visible Decline button (#decline)");
  const accept = (await page.innerText("#accept")).trim();
  await assert(/accept/i.test(accept), `#accept says "${accept}"`);
  await page.screenshot({ path: path.join(SHOTS, "confirm.png"), fullPage: true });
  await fillCard(page, { number: CARD_OK });
  const back = await submit(page, "#accept");
  await assertBack(page, back, p.id);
  const accepted = await payment(p.id);
  await assert(accepted.status === "ACCEPTED", `payment is ${accepted.status} after accepting, expected ACCEPTED`);
  const activated = await paymentMutation("activatePayment", p.id);
  await assert(
    ["PAID", "PENDING_EXECUTE"].includes(activated.status),
    `activatePayment answered ${activated.status}, expected PAID or PENDING_EXECUTE`,
  );
  const paid = await waitForStatus(p.id, ["PAID"]);
  const shots = await checkShots(["confirm.png"]);
  return `(activatePayment answered ${activated.status}, then ${paid.status}; ${shots.slice(1)}`;
}

async function testConsentDecline() {
  const p = await createConsentCharge();
  const page = await newPage();
  const res = await open(page, p.confirmationUrl);
  await assert(res.status() === 200, async () => `GET ${p.confirmationUrl}: ${await where(page, res)}`);
  // Declining needs no card: the card fields must not stop the form in the browser.
  const form = await page.$eval("#decline", (b) => ({
    noValidate: b.form.noValidate || b.formNoValidate,
    required: [...b.form.elements].filter((e) => e.required).map((e) => e.id || e.name),
  }));
  await assert(
    form.noValidate || form.required.length === 0,
    `the confirmation form validates required fields ${show(form.required)} before a decline`,
  );
  const back = await submit(page, "#decline");
  await assertBack(page, back, p.id);
  const declined = await payment(p.id);
  await assert(declined.status === "DECLINED", `payment is ${declined.status} after declining, expected DECLINED`);
  const again = await open(page, p.confirmationUrl);
  await assert(again.status() === 410, async () => `the declined charge's page: expected HTTP 410, ${await where(page, again)}`);
  await assert(!(await page.$("#accept")), "the declined charge's page still has an Accept button");
  return form.required.length ? `(the form is novalidate; required: ${form.required.join(", ")})` : "";
}

async function testCardCheck() {
  const p = await createPayment(
    { amount: 0, currency: "EUR", captureMethod: "MANUAL", description: "Card check" },
    "id checkoutUrl",
  );
  await assert(p.checkoutUrl, () => `no checkoutUrl: ${show(p)}`);
  const page = await newPage();
  const res = await open(page, p.checkoutUrl);
  await assert(res.status() === 200, async () => `GET ${p.checkoutUrl}: ${await where(page, res)}`);
  const button = (await page.innerText("#pay")).trim();
  await assert(button.includes("Check and save card"), `#pay says "${button}", expected "Check and save card"`);
  const done = await pay(page, CARD_OK);
  // No redirectUri: the buyer stays on Paygate's receipt (which refreshes itself while pending).
  const receipt = `${new URL(p.checkoutUrl).pathname.replace(/\/+$/, "")}/receipt`;
  let title = "";
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(250)) {
    const here = new URL(page.url());
    if (here.origin === new URL(API).origin && here.pathname === receipt) {
      title = await page.innerText("h1").catch(() => "");
      if (title.includes("Card saved")) break;
    }
  }
  await assert(title.includes("Card saved"), async () => `expected the receipt ${receipt} saying "Card saved", ${await where(page, done)}`);
  const shown = new URL(page.url()).searchParams.get("payment");
  await assert(shown === null || shown === p.id, `the receipt is for payment ${shown}, expected ${p.id}`);
  const after = await payment(p.id, "id status isRecurringToken");
  await assert(after.status === "PREAUTHORIZED", `payment is ${after.status}, expected PREAUTHORIZED`);
  await assert(after.isRecurringToken === true, `isRecurringToken is ${after.isRecurringToken}, expected true`);
}

async function testSentViewedDue() {
  // Created first, so its due date passes while the SENT/VIEWED half runs.
  const dueAt = new Date(Date.now() + 1500).toISOString();
  const due = await createPayment(
    { amount: 1500, currency: "EUR", dueAt, dueStrict: true },
    "id status checkoutUrl dueStrict",
  );
  await assert(due.dueStrict === true, `dueStrict is ${due.dueStrict}`);
  const p = await createPayment({ amount: 1500, currency: "EUR" }, "id status checkoutUrl");
  await assert(p.status === "CREATED", `new payment is ${p.status}, expected CREATED`);
  const sent = await paymentMutation("sendPayment", p.id, "status sentAt");
  await assert(sent.status === "SENT", `sendPayment answered ${sent.status}, expected SENT`);
  await assert(sent.sentAt, `sendPayment answered no sentAt: ${show(sent)}`);
  const page = await newPage();
  const res = await open(page, p.checkoutUrl);
  await assert(res.status() === 200, async () => `GET ${p.checkoutUrl}: ${await where(page, res)}`);
  await assert(await page.$("#pay"), "the sent payment's page has no Pay button");
  const viewed = await payment(p.id, "id status viewedAt");
  await assert(viewed.status === "VIEWED", `payment is ${viewed.status} after opening its page, expected VIEWED`);
  await assert(viewed.viewedAt, "viewedAt is not set");
  const expired = await waitForStatus(due.id, ["EXPIRED"], 10_000);
  const late = await open(page, due.checkoutUrl);
  await assert(late.status() === 410, async () => `past a strict due date: expected HTTP 410, ${await where(page, late)}`);
  const text = await page.innerText("body");
  await assert(text.includes("past its due date"), `the 410 page says "${text.slice(0, 200)}", expected "past its due date"`);
  await assert(!(await page.$("#pay")), "the expired page still has a Pay button");
  return `(${expired.status} ${((Date.now() - Date.parse(dueAt)) / 1000).toFixed(1)} s after dueAt at the latest)`;
}

// ---------------------------------------------------------------- main

async function runTest(name, fn) {
  let timer;
  try {
    const note = await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS / 1000} s`)), TEST_TIMEOUT_MS);
      }),
    ]);
    ok(note ? `${name} ${note}` : name);
  } catch (e) {
    notOk(name, e && e.message ? e.message : show(e));
  } finally {
    clearTimeout(timer);
    await closePages();
  }
}

async function main() {
  if (!API || !KEY) {
    notOk("setup", "E2E_API and E2E_KEY must be set");
    return finish(1);
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      timeout: 30_000,
    });
  } catch (e) {
    notOk("setup: launch Chromium", `${CHROMIUM}: ${e.message}`);
    return finish(1);
  }
  cleanups.push(() => browser.close());
  console.log(`# ${browser.version()} against ${API}; merchant pages at ${LOCAL}`);

  try {
    const at = new Date(Date.now() + 2000).toISOString();
    expiring = { ...(await createPaylink({ expiresAt: at })), expiresAt: at };
  } catch (e) {
    notOk("setup: a paylink that expires in 2 s", e.message);
  }

  await runTest("1. DIRECT paylink paid with 4242… lands on redirectUri with status=PAID; paylink USED", testPayDirect);
  await runTest("2. declined card shows the error (402); retry with 4242… is PAID", testDeclineThenRetry);
  await runTest("3. field errors: #number-error and #expiry-error, name kept, card number not in the HTML", testFieldErrors);
  await runTest("4a. 3-D Secure (4000000000003220): approve on the challenge page → PAID", testThreeDsApprove);
  await runTest("4b. 3-D Secure: deny → 'authentication' error on the page; retry with 4242… is PAID", testThreeDsDeny);
  await runTest("5. cancel lands on cancelUri; the paylink stays AVAILABLE", testCancel);
  await runTest("6. AUTHORIZE flow → status=HOLD on redirect; capturePayment → PAID", testAuthorizeThenCapture);
  await runTest("7. an expired link (and a used one) answers a 410 page", testExpiredAndUsed);
  await runTest("8. remember card on a buyer-locked link, then chargeCustomer → PAID; the card is offered next time", testRememberCard);
  await runTest("9. accessibility: labels, aria-invalid + aria-describedby on errors, Tab order", testAccessibility);
  await runTest(`10. screenshots in ${path.relative(process.cwd(), SHOTS) || "."}/ (checkout.png, checkout-errors.png), each ≤ 300 KB`, async () => {
    await assert(errorsShot, "checkout-errors.png was not taken (test 3 failed before it)");
    return testScreenshot();
  });
  await runTest("11. consent charge: /confirm page shows merchant, Premium plan, 3 × 19.99 USD = 59.97 USD; accept with 4242… → returnUrl ?type=direct_charge, ACCEPTED; activatePayment → PAID; docs/confirm.png ≤ 300 KB", testConsentAccept);
  await runTest("12. consent charge declined without a card → returnUrl ?type=direct_charge, DECLINED; the page then answers 410", testConsentDecline);
  await runTest("13. zero-amount MANUAL payment: 'Check and save card' → receipt 'Card saved'; PREAUTHORIZED, isRecurringToken", testCardCheck);
  await runTest("14. sendPayment → SENT, opening the page → VIEWED; a strict due date → EXPIRED and a 410 'past its due date' page", testSentViewedDue);

  await finish();
}

main().catch((e) => {
  notOk("main", e && e.stack ? e.stack : show(e));
  finish(1);
});
