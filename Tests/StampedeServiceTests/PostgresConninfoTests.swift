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

    /// The fleet's multi-host URIs (scripts/serve --cluster, Patroni) keep every host and their
    /// target_session_attrs; the bounds are appended after it with `&`.
    @Test func conninfoKeepsMultiHostTargets() {
        let configuration = StampedeConfiguration()
        let hosts = "postgresql://stampede@127.0.0.1:5445,127.0.0.1:5446,127.0.0.1:5447/stampede"
        let writer = StampedeService.conninfo(hosts + "?target_session_attrs=read-write", configuration)
        #expect(writer.hasPrefix(hosts + "?target_session_attrs=read-write&connect_timeout="), "\(writer)")
        let reader = StampedeService.conninfo(hosts + "?target_session_attrs=prefer-standby", configuration, readOnly: true)
        #expect(reader.hasPrefix(hosts + "?target_session_attrs=prefer-standby&"), "\(reader)")
        #expect(reader.contains("default_transaction_read_only%3Don") && reader.contains("application_name=stampede-reader"))
        #expect(writer.split(separator: "?").count == 2, "one query string: \(writer)")
    }
}
