import Testing
@testable import StampedeService

@Suite("StampedeService.conninfo")
struct PostgresConninfoTests {
    /// Every PostgreSQL URI gets bounded connect, statement and TCP time unless it sets them itself.
    @Test func conninfoBoundsTime() {
        var configuration = StampedeConfiguration()
        configuration.postgresStatementTimeoutMilliseconds = 4000
        configuration.postgresTCPTimeoutMilliseconds = 6000
        let uri = StampedeService.conninfo("postgresql://u@h:1/db", configuration)
        #expect(uri.hasPrefix("postgresql://u@h:1/db?connect_timeout=3&"))
        for part in ["keepalives=1", "keepalives_idle=2", "keepalives_count=2", "tcp_user_timeout=6000",
                     "options=-c%20statement_timeout%3D4000", "application_name=stampede"] {
            #expect(uri.contains(part), "\(part) in \(uri)")
        }
        let own = StampedeService.conninfo("postgresql://u@h/db?connect_timeout=9&tcp_user_timeout=1", configuration)
        #expect(own.contains("connect_timeout=9") && !own.contains("connect_timeout=3"))
        #expect(own.contains("tcp_user_timeout=1") && !own.contains("tcp_user_timeout=6000"))
    }
}
