-- Every query Stampede (and the load kit's invariant probe) runs on `orders`, EXPLAINed with
-- literals for the parameters, and the sizes of the table's indexes. See docs/performance.md.
\pset pager off
\echo '--- OrderRepository.insertFenced: a group commit (the purchase path; plain insert, no ON CONFLICT)'
EXPLAIN (COSTS OFF) WITH fence AS (
    SELECT s.sale_id FROM sales s
    JOIN unnest('{sale-0}'::text[], '{e1}'::text[]) AS f(id, epoch) ON s.sale_id = f.id AND s.redis_epoch = f.epoch
    ORDER BY s.sale_id
    FOR KEY SHARE OF s),
ins AS (
    INSERT INTO orders (order_id, sale_id, sku, user_id, quantity, price_cents, status, created_at, expires_at, idempotency_key)
    SELECT o, s, k, u, q, p, st, to_timestamp(c / 1000.0), to_timestamp(e / 1000.0), i
    FROM unnest('{x1,x2}'::text[], '{sale-0,sale-0}'::text[], '{k,k}'::text[], '{u1,u2}'::text[], '{1,1}'::bigint[],
                '{9,9}'::bigint[], '{reserved,reserved}'::text[], '{0,0}'::bigint[], '{0,0}'::bigint[], '{NULL,NULL}'::text[])
         AS t(o, s, k, u, q, p, st, c, e, i)
    WHERE t.s IN (SELECT sale_id FROM fence)
    RETURNING 1)
SELECT sale_id, (SELECT count(*) FROM ins) FROM fence;
\echo '--- OrderRepository.find / committed / markStockReturned: order_id = ANY'
EXPLAIN (COSTS OFF) SELECT order_id FROM orders WHERE order_id = ANY('{a,b,c}'::text[]);
\echo '--- OrderRepository.order: order_id = $1'
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE order_id = 'x';
\echo '--- OrderRepository.orders(ofUser:)'
EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE user_id = 'u-42' ORDER BY created_at DESC, order_id DESC LIMIT 100;
\echo '--- OrderRepository.transition'
EXPLAIN (COSTS OFF) UPDATE orders SET status = 'paid', updated_at = now() WHERE order_id = 'x' AND status = 'reserved' AND expires_at > now();
\echo '--- OrderRepository.expireDue (inner select)'
EXPLAIN (COSTS OFF) SELECT order_id FROM orders WHERE status = 'reserved' AND expires_at <= now() AND (NULL::text IS NULL OR order_id = NULL) ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED;
\echo '--- OrderRepository.unreturned'
EXPLAIN (COSTS OFF) SELECT o.order_id FROM orders o JOIN sales s ON s.sale_id = o.sale_id WHERE o.status IN ('cancelled', 'expired') AND NOT o.stock_returned AND o.updated_at < now() - make_interval(secs => 30) ORDER BY o.updated_at LIMIT 500;
\echo '--- OrderRepository.backlog'
EXPLAIN (COSTS OFF) SELECT (SELECT count(*) FROM orders WHERE status = 'reserved' AND expires_at <= now()), (SELECT count(*) FROM orders WHERE status IN ('cancelled', 'expired') AND NOT stock_returned AND updated_at < now() - make_interval(secs => 30));
\echo '--- OrderRepository.holdings / SaleRepository.rebuildSnapshot: count and held of a sale'
EXPLAIN (COSTS OFF) SELECT count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0) FROM orders WHERE sale_id = 'sale-3';
\echo '--- holdings per user of a sale'
EXPLAIN (COSTS OFF) SELECT user_id, sum(quantity) FROM orders WHERE sale_id = 'sale-3' AND status IN ('reserved', 'paid') GROUP BY user_id;
\echo '--- rebuildSnapshot: idempotency keys of a sale'
EXPLAIN (COSTS OFF) SELECT user_id || '|' || idempotency_key, order_id FROM orders WHERE sale_id = 'sale-3' AND idempotency_key IS NOT NULL;
\echo '--- rebuildSnapshot: released orders of a sale'
EXPLAIN (COSTS OFF) SELECT order_id FROM orders WHERE sale_id = 'sale-3' AND status IN ('cancelled', 'expired');
\echo '--- SaleRepository.hasOrders'
EXPLAIN (COSTS OFF) SELECT 1 FROM orders WHERE sale_id = 'sale-3' LIMIT 1;
\echo '--- SaleRepository.sale: units held'
EXPLAIN (COSTS OFF) SELECT COALESCE((SELECT sum(quantity) FROM orders o WHERE o.sale_id = s.sale_id AND o.status IN ('reserved', 'paid')), 0) FROM sales s WHERE s.sale_id = 'sale-3';
\echo '--- InvariantProbe (load kit)'
EXPLAIN (COSTS OFF) SELECT order_id, sale_id, user_id, quantity, status, idempotency_key FROM orders WHERE sale_id = ANY('{sale-3,sale-4}'::text[]);
\echo '--- index sizes'
SELECT indexrelid::regclass AS index, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = 'orders'::regclass ORDER BY 1;
