-- The pgbench reference for Paygate's benchmark (run by bench/run with -M prepared): one
-- transaction with the writes a charge makes on the request path, on the same tables and
-- indexes: insert the payment, its operation, the status-history row, the event and its
-- row in the fan-out's outbox, the acquirer job, then update the payment. Variables: -D merchant=<uuid> -D customer=<uuid>
-- -D method=<uuid>. Jobs are written DONE so that Paygate's dispatcher leaves them alone.
\set amount random(100, 99999)
BEGIN;
INSERT INTO payments (id, merchant_id, mode, customer_id, payment_method_id, status, currency,
    amount, vat_amount, capture_method, authorized_amount, captured_amount, released_amount,
    refunded_amount, force_recurring, is_recurring_token, require_confirmation,
    refund_availability, created_at, updated_at)
  VALUES (gen_random_uuid(), :merchant::uuid, 'test', :customer::uuid, :method::uuid, 'CREATED',
    'EUR', :amount, 0, 'AUTOMATIC', 0, 0, 0, 0, false, false, false, 'ALL', now(), now())
  RETURNING id AS payment_id \gset
INSERT INTO operations (id, payment_id, merchant_id, kind, amount, status, attempts, created_at,
    updated_at)
  VALUES (gen_random_uuid(), :payment_id::uuid, :merchant::uuid, 'CHARGE', :amount, 'PENDING', 0,
    now(), now())
  RETURNING id AS operation_id \gset
INSERT INTO status_history (id, payment_id, status, reason, operation_id, at)
  VALUES (gen_random_uuid(), :payment_id::uuid, 'PENDING_CHARGE', 'charge requested',
    :operation_id::uuid, now());
INSERT INTO events (id, merchant_id, mode, type, payment_id, sequence, data, created_at)
  VALUES (gen_random_uuid(), :merchant::uuid, 'test', 'payment.pending_charge', :payment_id::uuid, 1,
    json_build_object('id', :payment_id::text, 'merchantId', :merchant::text, 'mode', 'test',
      'customerId', :customer::text, 'paymentMethodId', :method::text, 'status', 'PENDING_CHARGE',
      'currency', 'EUR', 'amount', :amount::bigint, 'vatAmount', 0, 'captureMethod', 'AUTOMATIC',
      'clientReference', null, 'description', null, 'metadata', null, 'authorizedAmount', 0,
      'capturedAmount', 0, 'releasedAmount', 0, 'refundedAmount', 0, 'acquirerReference', null,
      'errorCode', null, 'errorMessage', null, 'paylinkId', null, 'checkoutCode', null,
      'checkoutExpiresAt', null, 'forceRecurring', false, 'createdAt', now(), 'updatedAt', now(),
      'object', 'payment', 'livemode', false),
    now())
  RETURNING id AS event_id \gset
INSERT INTO event_outbox (event_id) VALUES (:event_id::uuid);
INSERT INTO jobs (id, kind, payload, status, attempts, run_at, dispatches, created_at, updated_at)
  VALUES (gen_random_uuid(), 'acquirer_call',
    json_build_object('kind', 'acquirer_call', 'operation_id', :operation_id::text), 'DONE', 0,
    now(), 0, now(), now());
UPDATE payments SET status = 'PENDING_CHARGE', updated_at = now(), event_sequence = event_sequence + 1
  WHERE id = :payment_id::uuid;
END;
