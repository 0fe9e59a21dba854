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
