/// The rows and status of one statement, copied out of libpq as text.
///
/// Values are in PostgreSQL's text format (`nil` for SQL NULL), so the result is a plain
/// `Sendable` value that outlives the connection; the typed accessors parse on demand.
public struct PostgresResult: Sendable, Equatable {
    /// Column names, in select-list order.
    public let columns: [String]
    /// Rows of text values, each aligned with `columns`; `nil` is SQL NULL.
    public let rows: [[String?]]
    /// Rows inserted, updated, deleted, selected… as reported by the command tag; 0 if none.
    public let affectedRows: Int
    /// The command tag, such as `INSERT 0 1`, `SELECT 3` or `COMMIT`.
    public let commandTag: String

    /// Creates a result from already-decoded parts.
    public init(columns: [String], rows: [[String?]], affectedRows: Int, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The text value at `row` in the column named `column`; `nil` for NULL or an unknown column.
    public subscript(row: Int, column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }

    /// The text value at `row`, `column`; `nil` for NULL or an unknown column.
    public func string(_ row: Int, _ column: String) -> String? {
        self[row, column]
    }

    /// The value parsed as a 64-bit integer; `nil` for NULL, an unknown column or non-integer text.
    public func int64(_ row: Int, _ column: String) -> Int64? {
        self[row, column].flatMap { Int64($0) }
    }

    /// The value of a `boolean` column (`t` / `f`); `nil` for NULL, an unknown column or other text.
    public func bool(_ row: Int, _ column: String) -> Bool? {
        switch self[row, column] {
        case "t": true
        case "f": false
        default: nil
        }
    }
}
