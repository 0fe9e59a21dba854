extension PostgresConnection {
    /// Runs `body` between `BEGIN` and `COMMIT`, rolling back if it throws.
    ///
    /// Returning means committed: a `COMMIT` that fails, or that PostgreSQL turns into a rollback
    /// because a statement inside failed (and `body` caught the error), throws instead.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            // If the rollback fails too, the connection reports `isBroken` and gets replaced.
            try? execute("ROLLBACK")
            throw error
        }
        let commit = try query("COMMIT")
        guard commit.commandTag == "COMMIT" else {
            throw PostgresError.query(
                sqlState: "40000",
                message: "COMMIT rolled the transaction back because a statement in it had failed"
            )
        }
        return value
    }
}
