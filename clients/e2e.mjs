// End-to-end test of a running Paygate, with independent clients:
//   - webhooks are verified with the official Standard Webhooks library (`standardwebhooks`),
//   - subscriptions use the `graphql-ws` client over `ws`.
//
// Environment:
//   E2E_API_A  base URL of one API process, e.g. http://127.0.0.1:18080
//   E2E_API_B  base URL of another API process of the same deployment (may equal A)
//   E2E_KEY    a sk_test_ key of a merchant of that deployment
//
// Prints one `ok - …` / `not ok - …` line per check and ends with `N passed, M failed`.
// Exits 1 if any check failed. Overall timeout: 60 s.
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { cleanups, finish, guard, notOk, ok, show, sleep, trimSlash } from "./harness.mjs";

const OVERALL_TIMEOUT_MS = 60_000;
const WEBHOOK_WAIT_MS = 30_000;

const API_A = trimSlash(process.env.E2E_API_A);
const API_B = trimSlash(process.env.E2E_API_B || process.env.E2E_API_A);
const KEY = process.env.E2E_KEY;

const EXPECTED_STATUSES = [
  "CREATED",
  "PENDING_EXECUTE",
  "HOLD",
  "PENDING_CAPTURE",
  "PAID",
  "PENDING_REFUND",
  "PAID",
];
const EXPECTED_EVENT_TYPES = [
  "payment.created",
  "payment.pending_execute",
  "payment.hold",
  "payment.pending_capture",
  "payment.captured",
  "payment.pending_refund",
  "payment.refunded",
];

function check(cond, name, detail) {
  if (cond) ok(name);
  else notOk(name, typeof detail === "function" ? detail() : detail);
  return !!cond;
}

/** Resolves when `pred()` is true (polled), or with false after `ms`. */
async function waitUntil(pred, ms, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    if (pred()) return true;
    if (Date.now() >= end) return false;
    await sleep(every);
  }
}

// ---------------------------------------------------------------- cleanup / finish

guard(OVERALL_TIMEOUT_MS, 2000);

// ---------------------------------------------------------------- GraphQL over HTTP

async function gql(base, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
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
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (!res.ok || body.errors) {
    throw new Error(`HTTP ${res.status}: ${show(body.errors ?? body).slice(0, 1000)}`);
  }
  return body.data;
}

/** Runs one mutation step; returns the payload or null (and records a failure). */
async function step(name, query, variables, pick) {
  try {
    const data = await gql(API_A, query, variables);
    const payload = pick(data);
    if (payload && Array.isArray(payload.errors) && payload.errors.length > 0) {
      notOk(name, `errors ${show(payload.errors)}`);
      return null;
    }
    return payload;
  } catch (e) {
    notOk(name, e.message);
    return null;
  }
}

// ---------------------------------------------------------------- webhook receiver

function startReceiver() {
  const received = []; // { id, type, payload }
  const failures = []; // verification failures
  let webhook = null; // set once the endpoint's secret is known
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      };
      try {
        if (!webhook) throw new Error("request before the endpoint's secret was known");
        const payload = webhook.verify(body, headers);
        if (!payload || typeof payload.type !== "string" || !("data" in payload) || !("timestamp" in payload)) {
          throw new Error(`verified body is not {type, timestamp, data}: ${body.slice(0, 300)}`);
        }
        received.push({ id: headers["webhook-id"], type: payload.type, payload });
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end("ok");
      } catch (e) {
        failures.push(
          `${req.method} ${req.url} webhook-id=${headers["webhook-id"]}: ${e.message} ` +
            `(signature=${headers["webhook-signature"]}, timestamp=${headers["webhook-timestamp"]}, ` +
            `body=${body.slice(0, 200)})`,
        );
        res.writeHead(400, { "Content-Type": "text/plain" });
        res.end(`verification failed: ${e.message}`);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      cleanups.push(
        () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      );
      resolve({
        url: `http://127.0.0.1:${port}/webhooks`,
        received,
        failures,
        setSecret(secret) {
          webhook = new Webhook(secret);
        },
      });
    });
  });
}

// ---------------------------------------------------------------- subscriptions

function wsUrl(base) {
  return `${base.replace(/^http/, "ws")}/graphql/ws`;
}

/** Subscribes with the graphql-ws client; collects `next` data, errors and completion. */
function subscribe(client, query, variables) {
  const sub = { items: [], errors: [], completed: false };
  sub.dispose = client.subscribe(
    { query, variables },
    {
      next: (msg) => {
        if (msg.errors) sub.errors.push(msg.errors);
        if (msg.data) sub.items.push(msg.data);
      },
      error: (e) => {
        sub.errors.push(e instanceof Error ? e.message : e && e.code ? `close ${e.code} ${e.reason}` : show(e));
      },
      complete: () => {
        sub.completed = true;
      },
    },
  );
  return sub;
}

/** Opens a raw graphql-transport-ws connection with a bad key; resolves with the close code. */
function badKeyCloseCode(base) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl(base), "graphql-transport-ws");
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ code: null, note: "no close within 10 s" });
    }, 10_000);
    const messages = [];
    ws.on("open", () => {
      ws.send(JSON.stringify({ type: "connection_init", payload: { apiKey: "sk_test_bad" } }));
    });
    ws.on("message", (m) => messages.push(m.toString()));
    ws.on("error", (e) => messages.push(`error: ${e.message}`));
    ws.on("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString(), messages });
    });
  });
}

// ---------------------------------------------------------------- the test

async function main() {
  if (!API_A || !KEY) {
    notOk("configuration", "E2E_API_A and E2E_KEY must be set (E2E_API_B defaults to A)");
    return finish(1);
  }
  console.log(`# API A: ${API_A}`);
  console.log(`# API B: ${API_B}`);

  const receiver = await startReceiver();
  console.log(`# webhook receiver: ${receiver.url}`);

  // 1. Webhook endpoint.
  const ep = await step(
    "createWebhookEndpoint",
    `mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) { endpoint { id } secret errors { code message } } }`,
    { url: receiver.url },
    (d) => d.createWebhookEndpoint,
  );
  if (!ep) return finish(1);
  if (!check(ep.endpoint?.id && typeof ep.secret === "string" && ep.secret.startsWith("whsec_"),
    "createWebhookEndpoint returns an endpoint and a whsec_ secret", () => show(ep))) return finish(1);
  try {
    receiver.setSecret(ep.secret);
  } catch (e) {
    notOk("the secret is accepted by standardwebhooks", e.message);
    return finish(1);
  }

  // 2. Customer and card.
  const cust = await step(
    "createCustomer",
    `mutation { createCustomer(input: {email: "e2e@example.com", name: "E2E Client"}) { customer { id } errors { code } } }`,
    {},
    (d) => d.createCustomer,
  );
  if (!cust) return finish(1);
  const customerId = cust.customer?.id;
  if (!check(customerId, "createCustomer returns a customer", () => show(cust))) return finish(1);

  const card = await step(
    "addTestCard",
    `mutation($c: ID!) { addTestCard(input: {customerId: $c, number: "4242424242424242", expMonth: 12, expYear: 2030}) { paymentMethod { id } errors { code } } }`,
    { c: customerId },
    (d) => d.addTestCard,
  );
  if (!card) return finish(1);
  if (!check(card.paymentMethod?.id, "addTestCard returns a payment method", () => show(card))) return finish(1);

  // 3. Charge (MANUAL) -> HOLD.
  const charge = await step(
    "chargeCustomer",
    `mutation($c: ID!) { chargeCustomer(input: {customerId: $c, amount: 2500, currency: "EUR", captureMethod: MANUAL}) { payment { id status } errors { code message } } }`,
    { c: customerId },
    (d) => d.chargeCustomer,
  );
  if (!charge) return finish(1);
  const paymentId = charge.payment?.id;
  if (!check(paymentId && charge.payment.status === "HOLD", "chargeCustomer (MANUAL, 2500 EUR) answers HOLD",
    () => show(charge))) return finish(1);

  // 4. Subscriptions on B, right after the charge returns.
  const client = createClient({
    url: wsUrl(API_B),
    webSocketImpl: WebSocket,
    connectionParams: { apiKey: KEY },
    retryAttempts: 0,
    lazy: true,
  });
  cleanups.push(() => client.dispose());
  const updates = subscribe(
    client,
    `subscription($id: ID!) { paymentUpdated(id: $id) { status capturedAmount refundedAmount } }`,
    { id: paymentId },
  );
  const refundEvents = subscribe(
    client,
    `subscription { events(types: ["payment.refunded"]) { id type paymentId } }`,
    {},
  );
  cleanups.push(() => updates.dispose(), () => refundEvents.dispose());

  // The replay of the history so far shows that the subscription is live on B.
  const replayed = await waitUntil(() => updates.items.length >= 3 || updates.errors.length > 0, 10_000);
  check(
    replayed && updates.errors.length === 0,
    "paymentUpdated on B replays the history (CREATED, PENDING_EXECUTE, HOLD)",
    () => `got ${show(updates.items.map((i) => i.paymentUpdated?.status))}, errors ${show(updates.errors)}`,
  );

  // 5. Capture -> PAID.
  const cap = await step(
    "capturePayment",
    `mutation($id: ID!) { capturePayment(input: {id: $id}) { payment { id status capturedAmount } errors { code message } } }`,
    { id: paymentId },
    (d) => d.capturePayment,
  );
  if (cap) check(cap.payment?.status === "PAID", "capturePayment answers PAID", () => show(cap));

  // Give the events(types) subscription time to be registered everywhere before the refund.
  await sleep(300);

  // 6. Refund 1000 -> PAID, refundedAmount 1000.
  const ref = await step(
    "refundPayment",
    `mutation($id: ID!) { refundPayment(input: {id: $id, amount: 1000}) { payment { id status refundedAmount } errors { code message } } }`,
    { id: paymentId },
    (d) => d.refundPayment,
  );
  if (ref) {
    check(
      ref.payment?.status === "PAID" && String(ref.payment?.refundedAmount) === "1000",
      "refundPayment (1000) answers PAID with refundedAmount 1000",
      () => show(ref),
    );
  }

  // 7. paymentUpdated: exactly the expected statuses, in order.
  const statuses = () => updates.items.map((i) => i.paymentUpdated?.status);
  await waitUntil(() => updates.items.length >= EXPECTED_STATUSES.length || updates.errors.length > 0, 15_000);
  await sleep(1000); // anything extra would arrive now
  const got = statuses();
  check(
    updates.errors.length === 0 && show(got) === show(EXPECTED_STATUSES),
    `paymentUpdated on B delivers ${EXPECTED_STATUSES.join(", ")} in order`,
    () => `got ${show(got)}${updates.errors.length ? `, errors ${show(updates.errors)}` : ""}`,
  );
  const last = updates.items[updates.items.length - 1]?.paymentUpdated;
  check(
    last && last.status === "PAID" && String(last.refundedAmount) === "1000" && String(last.capturedAmount) === "2500",
    "paymentUpdated's last update is PAID with capturedAmount 2500, refundedAmount 1000",
    () => show(last),
  );

  // 8. events(types: ["payment.refunded"]) on B.
  await waitUntil(() => refundEvents.items.length > 0 || refundEvents.errors.length > 0, 10_000);
  const evs = refundEvents.items.map((i) => i.events);
  check(
    refundEvents.errors.length === 0 &&
      evs.some((e) => e?.type === "payment.refunded" && e?.paymentId === paymentId),
    "events(types: [payment.refunded]) on B receives the refund event",
    () => `got ${show(evs)}${refundEvents.errors.length ? `, errors ${show(refundEvents.errors)}` : ""}`,
  );
  check(
    evs.every((e) => e?.type === "payment.refunded"),
    "events(types: [payment.refunded]) on B receives no other type",
    () => `got ${show(evs)}`,
  );

  // 9. Webhooks: every event type of the run, each verified by standardwebhooks.
  const haveAll = () => EXPECTED_EVENT_TYPES.every((t) => receiver.received.some((r) => r.type === t));
  await waitUntil(() => haveAll() || receiver.failures.length > 0, WEBHOOK_WAIT_MS, 100);
  check(
    receiver.failures.length === 0,
    "every webhook request verifies with standardwebhooks",
    () => receiver.failures.join(" | "),
  );
  const types = [...new Set(receiver.received.map((r) => r.type))];
  const missing = EXPECTED_EVENT_TYPES.filter((t) => !types.includes(t));
  check(
    missing.length === 0,
    `the receiver got, verified, all ${EXPECTED_EVENT_TYPES.length} event types (${EXPECTED_EVENT_TYPES.join(", ")})`,
    () => `missing ${show(missing)}; got ${show(types)}`,
  );

  // 10. A bad key on B's graphql-ws endpoint: closed with 4403.
  const bad = await badKeyCloseCode(API_B);
  check(bad.code === 4403, "graphql-ws connection_init with a bad key is closed with 4403", () => show(bad));

  return finish();
}

main().catch((e) => {
  notOk("unexpected error", e && e.stack ? e.stack : show(e));
  return finish(1);
});
