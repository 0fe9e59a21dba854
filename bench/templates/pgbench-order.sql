-- pgbench: one order row per transaction, the row Stampede writes for a purchase.
INSERT INTO orders (order_id, sale_id, sku, user_id, quantity, price_cents, status, created_at, expires_at, idempotency_key)
VALUES (md5(random()::text || clock_timestamp()::text), 'bench-pgbench', 'sku-bench', 'pgb-' || :client_id || '-' || random(),
        1, 999, 'reserved', now(), now() + interval '15 minutes', NULL);
