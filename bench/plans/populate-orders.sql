-- 300,000 orders over 10 sales (a third in sale-0), 65,536 users, the statuses and idempotency keys
-- of a busy day: the table bench/plans/order-queries.sql explains every order query against.
-- Run on a scratch database with the schema applied (stampede migrate), then ANALYZEd here.
INSERT INTO sales (sale_id, sku, price_cents, stock_total, per_user_limit, starts_at, ends_at, reservation_ttl_seconds, redis_epoch)
SELECT 'sale-' || s, 'sku-' || s, 999, 10000000, 5, now() - interval '1 day', now() + interval '1 day', 900, 'e1' FROM generate_series(0, 9) s;
INSERT INTO orders (order_id, sale_id, sku, user_id, quantity, price_cents, status, created_at, expires_at, idempotency_key, stock_returned, updated_at)
SELECT lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || substr(md5(g::text), 1, 16),
       'sale-' || CASE WHEN g % 3 = 0 THEN 0 ELSE g % 10 END, 'sku', 'u-' || (hashint4(g) & 65535), 1, 999,
       CASE WHEN g % 100 < 85 THEN 'reserved' WHEN g % 100 < 95 THEN 'paid' WHEN g % 100 < 98 THEN 'cancelled' ELSE 'expired' END,
       t, t + interval '15 minutes', CASE WHEN g % 5 = 0 THEN 'k' || g END, g % 200 = 0, t
FROM generate_series(1, 300000) g, LATERAL (SELECT now() - interval '1 day' + g * interval '250 ms') x(t);
ANALYZE;
