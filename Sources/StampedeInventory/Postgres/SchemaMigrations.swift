import StampedePostgres

/// The versioned PostgreSQL schema. Stampede applies what is missing at start (and on
/// `stampede migrate`), each version once, in order, inside one transaction that holds an advisory
/// lock so two instances starting together do not race.
public enum SchemaMigrations {
    /// One schema step; `version` is never reused or edited once released.
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    /// Every migration, oldest first.
    public static let all: [Migration] = [
        Migration(version: 1, name: "sales and orders", sql: """
        CREATE TABLE sales (
            sale_id                 text PRIMARY KEY,
            sku                     text NOT NULL,
            price_cents             bigint NOT NULL CHECK (price_cents >= 0),
            stock_total             bigint NOT NULL CHECK (stock_total >= 0),
            restocked               bigint NOT NULL DEFAULT 0 CHECK (restocked >= 0),
            per_user_limit          bigint NOT NULL CHECK (per_user_limit >= 1),
            starts_at               timestamptz NOT NULL,
            ends_at                 timestamptz NOT NULL,
            reservation_ttl_seconds bigint NOT NULL,
            created_at              timestamptz NOT NULL DEFAULT now(),
            updated_at              timestamptz NOT NULL DEFAULT now(),
            CHECK (ends_at > starts_at)
        );
        CREATE TABLE orders (
            order_id        text PRIMARY KEY,
            sale_id         text NOT NULL,
            sku             text NOT NULL,
            user_id         text NOT NULL,
            quantity        bigint NOT NULL CHECK (quantity >= 1),
            price_cents     bigint NOT NULL,
            status          text NOT NULL CHECK (status IN ('reserved', 'paid', 'cancelled', 'expired')),
            created_at      timestamptz NOT NULL,
            expires_at      timestamptz NOT NULL,
            idempotency_key text,
            stock_returned  boolean NOT NULL DEFAULT false,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, order_id DESC);
        CREATE INDEX orders_sale ON orders (sale_id, status);
        CREATE INDEX orders_reserved_expiry ON orders (expires_at) WHERE status = 'reserved';
        CREATE INDEX orders_unreturned ON orders (updated_at)
            WHERE status IN ('cancelled', 'expired') AND NOT stock_returned;
        """),
        Migration(version: 2, name: "purchase tokens", sql: """
        ALTER TABLE sales ADD COLUMN purchase_token_required boolean NOT NULL DEFAULT false;
        """),
        Migration(version: 3, name: "redis epoch fence", sql: """
        ALTER TABLE sales ADD COLUMN redis_epoch text;
        CREATE INDEX orders_sale_idempotency ON orders (sale_id) WHERE idempotency_key IS NOT NULL;
        """),
        // The reconciler's per-sale figures (orders taken, units held) summed from appended
        // deltas instead of aggregating every order of every live sale on each pass (1.9 s of
        // PostgreSQL for 141k orders). Statement triggers append one delta per sale per statement
        // in the writing transaction, so the figures commit with the orders; nothing updates a
        // shared row, so concurrent group commits never wait on each other. The reconciler folds
        // a sale's deltas into one row (`SaleRepository.compactOrderCounts`).
        Migration(version: 4, name: "order counts per sale", sql: """
        CREATE TABLE sale_order_counts (
            sale_id      text   NOT NULL,
            orders_taken bigint NOT NULL,
            held         bigint NOT NULL
        );
        CREATE INDEX sale_order_counts_sale ON sale_order_counts (sale_id);
        CREATE FUNCTION count_inserted_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO sale_order_counts (sale_id, orders_taken, held)
            SELECT sale_id, count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
            FROM inserted GROUP BY sale_id;
            RETURN NULL;
        END $$;
        CREATE FUNCTION count_updated_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO sale_order_counts (sale_id, orders_taken, held)
            SELECT sale_id, 0, sum(delta) FROM (
                SELECT sale_id, quantity AS delta FROM after_update WHERE status IN ('reserved', 'paid')
                UNION ALL
                SELECT sale_id, -quantity FROM before_update WHERE status IN ('reserved', 'paid')
            ) changes GROUP BY sale_id HAVING sum(delta) <> 0;
            RETURN NULL;
        END $$;
        CREATE FUNCTION count_deleted_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO sale_order_counts (sale_id, orders_taken, held)
            SELECT sale_id, -count(*), -COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
            FROM deleted GROUP BY sale_id;
            RETURN NULL;
        END $$;
        CREATE FUNCTION count_truncated_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE sale_order_counts;
            RETURN NULL;
        END $$;
        CREATE TRIGGER orders_counted_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_orders();
        CREATE TRIGGER orders_counted_update AFTER UPDATE ON orders
            REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
            FOR EACH STATEMENT EXECUTE FUNCTION count_updated_orders();
        CREATE TRIGGER orders_counted_delete AFTER DELETE ON orders REFERENCING OLD TABLE AS deleted
            FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_orders();
        CREATE TRIGGER orders_counted_truncate AFTER TRUNCATE ON orders
            FOR EACH STATEMENT EXECUTE FUNCTION count_truncated_orders();
        INSERT INTO sale_order_counts (sale_id, orders_taken, held)
        SELECT sale_id, count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
        FROM orders GROUP BY sale_id;
        """),
        Migration(version: 5, name: "orders lost by a restore", sql: """
        CREATE TABLE lost_orders (
            order_id             text PRIMARY KEY,
            sale_id              text NOT NULL,
            user_id              text,
            idempotency_key      text,
            redis_epoch          text NOT NULL,
            postgres_incarnation text NOT NULL,
            detected_at          timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE lost_orders IS 'Orders Redis had taken (idempotency records, outbox) that PostgreSQL lacked when the sale was rebuilt after PostgreSQL went back in time (a restore or a promotion: a new incarnation). The buyers to contact; an order may have been answered 201 or still have been in flight.';
        """),
        // A user's orders are found by `user_id` alone: a buyer holds a handful of orders, which
        // PostgreSQL fetches through the index and sorts for `orders(ofUser:)` (the plan was a
        // bitmap scan and a sort with the wider key too; docs/performance.md). The key without
        // `created_at` and `order_id` is half as wide, deduplicates a user's repeat orders, and
        // every new order writes less of it to the WAL.
        Migration(version: 6, name: "orders by user: user_id only", sql: """
        CREATE INDEX orders_user ON orders (user_id);
        DROP INDEX orders_user_created;
        """),
        // Named admin credentials (only each token's SHA-256 is kept; every instance reloads the
        // table twice a second) and the audit log of admin changes, written in the transaction of
        // the change it records. `GET /admin/audit` pages by id (newest first) and filters by `at`.
        Migration(version: 7, name: "admin credentials and audit log", sql: """
        CREATE TABLE admin_credentials (
            name         text PRIMARY KEY,
            role         text NOT NULL CHECK (role IN ('admin', 'viewer')),
            token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE admin_audit (
            id         bigserial PRIMARY KEY,
            at         timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor      text NOT NULL,
            address    text,
            request_id text,
            action     text NOT NULL,
            target     text NOT NULL,
            before     jsonb,
            after      jsonb
        );
        CREATE INDEX admin_audit_at ON admin_audit (at);
        """),
        // Every change of a sale's available stock as a row (docs/consistency.md, "The stock
        // movement ledger"): `quantity` is signed into available stock, so once work settles a
        // sale's rows sum to `stock_total + restocked - held`. Orders write theirs by statement
        // triggers in the writing transaction, like `sale_order_counts`: one `sold` row per sale
        // per inserting statement (a group commit, an outbox recovery), one `returned` row per
        // order that stops holding units. The `sold` rows come from the counting insert trigger's
        // function (`orders_counted_insert`), replaced to write both from one pass over the
        // transition table: a second insert trigger cost each group commit more PostgreSQL CPU
        // (docs/performance.md, "The stock movement ledger's cost"). Definitions and restocks write
        // theirs beside the sale row (`SaleRepository`); the reconciler writes `repaired` rows for
        // any difference. Sales that exist at the upgrade open with one `repaired` row holding
        // their balance.
        Migration(version: 8, name: "stock movement ledger", sql: """
        CREATE TABLE stock_movements (
            id        bigserial PRIMARY KEY,
            sale_id   text NOT NULL,
            at        timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind      text NOT NULL CHECK (kind IN ('defined', 'restocked', 'sold', 'returned', 'repaired')),
            quantity  bigint NOT NULL,
            reference text NOT NULL
        );
        CREATE INDEX stock_movements_sale ON stock_movements (sale_id, id DESC) INCLUDE (quantity);
        CREATE OR REPLACE FUNCTION count_inserted_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            WITH groups AS (
                SELECT sale_id, count(*) AS taken,
                       COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0) AS held,
                       count(*) FILTER (WHERE status IN ('reserved', 'paid')) AS holding,
                       min(order_id) FILTER (WHERE status IN ('reserved', 'paid')) AS first_order
                FROM inserted GROUP BY sale_id
            ), counted AS (
                INSERT INTO sale_order_counts (sale_id, orders_taken, held) SELECT sale_id, taken, held FROM groups
            )
            INSERT INTO stock_movements (sale_id, kind, quantity, reference)
            SELECT sale_id, 'sold', -held, CASE WHEN holding = 1 THEN first_order ELSE first_order || ' +' || (holding - 1) END
            FROM groups WHERE held > 0;
            RETURN NULL;
        END $$;
        CREATE FUNCTION record_returned_stock() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO stock_movements (sale_id, kind, quantity, reference)
            SELECT sale_id, CASE WHEN sum(delta) > 0 THEN 'returned' ELSE 'sold' END, sum(delta), order_id
            FROM (
                SELECT sale_id, order_id, quantity AS delta FROM before_update WHERE status IN ('reserved', 'paid')
                UNION ALL
                SELECT sale_id, order_id, -quantity FROM after_update WHERE status IN ('reserved', 'paid')
            ) changes GROUP BY sale_id, order_id HAVING sum(delta) <> 0;
            RETURN NULL;
        END $$;
        CREATE TRIGGER orders_ledger_update AFTER UPDATE ON orders
            REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
            FOR EACH STATEMENT EXECUTE FUNCTION record_returned_stock();
        INSERT INTO stock_movements (sale_id, kind, quantity, reference)
        SELECT s.sale_id, 'repaired',
               s.stock_total + s.restocked - COALESCE((SELECT sum(o.quantity) FROM orders o
                                                       WHERE o.sale_id = s.sale_id AND o.status IN ('reserved', 'paid')), 0),
               'schema migration 8: opening balance'
        FROM sales s;
        """),
        // Exclusive groups: a buyer's units across a group's sales are limited together. A group's
        // claims live in Redis with an epoch like a sale's counters; `redis_epoch` is the one a
        // commit of the group's orders is fenced on (`OrderRepository.insertFenced`). A sale
        // names its group; the reference keeps a group with sales from being deleted.
        Migration(version: 9, name: "exclusive groups", sql: """
        CREATE TABLE exclusive_groups (
            group_id       text PRIMARY KEY,
            per_user_limit bigint NOT NULL CHECK (per_user_limit >= 1),
            redis_epoch    text,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE sales ADD COLUMN exclusive_group text REFERENCES exclusive_groups (group_id);
        CREATE INDEX sales_exclusive_group ON sales (exclusive_group) WHERE exclusive_group IS NOT NULL;
        """),
        // Buckets (docs/consistency.md, "Buckets"): a sale's stock spread over K Redis hash slots.
        // Bucket 0 is the sale itself; bucket b >= 1 is a child row of `sales` whose id is its
        // Redis hash tag (`<sale_id>~<n>`, never a public id: `~` is not in an identifier's
        // alphabet) — with its own counters, epoch (its `redis_epoch` is the bucket's fence row),
        // outbox and orders. A child's `stock_total` is the units allocated to it; the parent's own
        // allocation is its `stock_total + restocked` less its children's. `stock_moves` records
        // every move of units between buckets, each step durable and idempotent: `planned` (units
        // still in the source), `revoked` (taken from the source and allocated to the target in
        // PostgreSQL, not yet granted in Redis), then `done` or `abandoned` (the source was
        // rebuilt first, which gave the units back). `version` changes with every step, so a
        // reader can tell that no move of a sale ran while it looked at the buckets.
        Migration(version: 10, name: "buckets", sql: """
        ALTER TABLE sales ADD COLUMN buckets smallint NOT NULL DEFAULT 1 CHECK (buckets BETWEEN 1 AND 16);
        ALTER TABLE sales ADD COLUMN parent_sale_id text REFERENCES sales (sale_id);
        ALTER TABLE sales ADD COLUMN bucket smallint NOT NULL DEFAULT 0;
        CREATE INDEX sales_parent ON sales (parent_sale_id, bucket) WHERE parent_sale_id IS NOT NULL;
        ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_kind_check;
        ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_kind_check
            CHECK (kind IN ('defined', 'restocked', 'sold', 'returned', 'repaired', 'moved'));
        CREATE SEQUENCE stock_move_versions;
        CREATE TABLE stock_moves (
            move_id       bigserial PRIMARY KEY,
            sale_id       text NOT NULL,
            source        text NOT NULL,
            target        text NOT NULL,
            requested     bigint NOT NULL CHECK (requested >= 1),
            amount        bigint,
            state         text NOT NULL CHECK (state IN ('planned', 'revoked', 'done', 'abandoned')),
            source_epoch  text NOT NULL,
            target_epoch  text,
            version       bigint NOT NULL DEFAULT nextval('stock_move_versions'),
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX stock_moves_sale ON stock_moves (sale_id, version);
        CREATE INDEX stock_moves_unfinished ON stock_moves (created_at) WHERE state IN ('planned', 'revoked');
        """),
    ]

    /// Applies the missing migrations; returns the versions applied now.
    @discardableResult
    public static func apply(on postgres: PostgresClient) async throws -> [Int] {
        try await postgres.transaction { connection in
            _ = try connection.query("SELECT pg_advisory_xact_lock(7243051)")
            try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
            let done = try connection.query("SELECT version FROM schema_migrations")
            let applied = Set(done.rows.compactMap { $0[0].flatMap { Int($0) } })
            var now: [Int] = []
            for migration in all where !applied.contains(migration.version) {
                try connection.execute(migration.sql)
                _ = try connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                         [String(migration.version), migration.name])
                now.append(migration.version)
            }
            return now
        }
    }
}
