import Glibc
import Testing

@testable import StampedeHTTP

/// HTTPS through OpenSSL with real clients (`curl`, `openssl s_client`, Python's `ssl`) against a
/// server that also listens for plain HTTP. Serialized: the handshake-timeout test depends on
/// sub-second timing that parallel tests on 2 cores would distort.
@Suite("HTTPS listener", .serialized)
struct TLSServerTests {
    /// A Python client: handshake (optionally pinned to one TLS version), prints the version,
    /// then two sequential requests, three pipelined ones and a 60 kB echo, all on one connection.
    static let pythonClient = #"""
    import socket, ssl, sys
    port, cafile, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.create_default_context(cafile=cafile)
    if mode == "tls12": ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if mode == "tls13": ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    print("version", s.version())
    f = s.makefile("rb")
    def answer():
        status = f.readline().split()[1].decode()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""): break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length": length = int(value)
        return status + " " + f.read(length).decode()
    s.sendall(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n"); print(answer())
    s.sendall(b"GET /two HTTP/1.1\r\nHost: t\r\n\r\n"); print(answer())
    s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3)))
    for _ in range(3): print(answer())
    body = b"x" * 60000
    s.sendall(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n" + body)
    print("echo", len(answer()))
    s.sendall(b"GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n"); print(answer())
    """#

    static func configuration(_ fixtures: TLSFixtures, certificate: String? = nil, threads: Int = 2,
                              minimumVersion: TLSConfiguration.ProtocolVersion = .tls1_2,
                              handshakeTimeout: Double = 10) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(threads: threads)
        configuration.tls = TLSConfiguration(
            host: "127.0.0.1", port: 0, certificateFile: certificate ?? fixtures.certificateFile,
            privateKeyFile: fixtures.keyFile, minimumVersion: minimumVersion, handshakeTimeoutSeconds: handshakeTimeout)
        return configuration
    }

    static func python(_ port: Int, _ fixtures: TLSFixtures, mode: String) -> Subprocess.Result {
        Subprocess.run("python3", ["-", String(port), fixtures.caFile, mode], input: pythonClient)
    }

    /// curl with the test CA completes a handshake and gets its answer over HTTPS, while the plain
    /// listener keeps serving HTTP.
    @Test func curlGetsAnAnswerOverHTTPS() throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures)) { server in
            #expect(server.localTLSPort > 0 && server.localTLSPort != server.localPort)
            let result = Subprocess.run("curl", ["-sS", "--cacert", fixtures.caFile, "https://localhost:\(server.localTLSPort)/hello"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output == "GET /hello ")
            let plain = try TestClient(port: server.localPort)
            try plain.send("GET /plain HTTP/1.1\r\n\r\n")
            #expect(try plain.readResponse().text == "GET /plain ")
            #expect(server.statistics.tlsHandshakes == 1)
        }
    }

    /// Python's `ssl` negotiates TLS 1.2 and TLS 1.3, and on one connection gets sequential
    /// keep-alive answers, pipelined answers in order, a 60 kB echo spanning several TLS records,
    /// and `Connection: close` honoured.
    @Test(arguments: [("tls12", "TLSv1.2"), ("tls13", "TLSv1.3")])
    func pythonKeepAliveAndPipeliningOverTLS(mode: String, version: String) throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures)) { server in
            let result = Self.python(server.localTLSPort, fixtures, mode: mode)
            #expect(result.status == 0, "\(result.output)")
            let lines = result.output.split(separator: "\n").map(String.init)
            #expect(lines == ["version \(version)", "200 GET /one ", "200 GET /two ", "200 GET /p0 ", "200 GET /p1 ",
                              "200 GET /p2 ", "echo \(4 + "POST /big ".count + 60_000)", "200 GET /bye "])
            #expect(server.statistics.acceptedTotal == 1)
            #expect(server.statistics.requestsTotal == 7)
        }
    }

    /// `openssl s_client` forced to TLS 1.2 is refused by a listener whose minimum is TLS 1.3, and
    /// accepted (reporting TLSv1.3) when it may use 1.3.
    @Test func minimumVersionIsEnforced() throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures, minimumVersion: .tls1_3)) { server in
            let address = "127.0.0.1:\(server.localTLSPort)"
            let old = Subprocess.run("openssl", ["s_client", "-connect", address, "-tls1_2", "-CAfile", fixtures.caFile],
                                     input: "")
            #expect(old.status != 0, "\(old.output)")
            let new = Subprocess.run("openssl", ["s_client", "-connect", address, "-CAfile", fixtures.caFile, "-brief", "-ign_eof"],
                                     input: "GET /s HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(new.output.contains("Protocol version: TLSv1.3"), "\(new.output)")
            #expect(new.output.contains("Verification: OK"), "\(new.output)")
            #expect(new.output.contains("GET /s "), "\(new.output)")
        }
    }

    /// A plain HTTP request on the HTTPS port gets a plain `400` and a close; the server then
    /// still completes TLS handshakes.
    @Test func plainHTTPOnTheTLSPortIsAnsweredAndClosed() throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures)) { server in
            let client = try TestClient(port: server.localTLSPort)
            try client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 400)
            #expect(response.text.contains("\"error\":\"bad_request\""))
            #expect(client.waitForClose())
            let result = Subprocess.run("curl", ["-sS", "--cacert", fixtures.caFile, "https://localhost:\(server.localTLSPort)/after"])
            #expect(result.output == "GET /after ")
            #expect(server.statistics.tlsHandshakeFailures == 1)
        }
    }

    /// A client that sends half a ClientHello and stalls does not hold the (single) event loop:
    /// another client completes HTTPS meanwhile, and the stalled one is closed by the handshake
    /// timeout. A client that sends half a hello and disconnects leaves the server unharmed.
    @Test func truncatedHandshakesNeitherBlockNorLinger() throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures, threads: 1, handshakeTimeout: 0.5)) { server in
            // A TLS record header announcing 512 bytes of ClientHello, then only 5 of them.
            let partialHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]
            let stalled = try TestClient(port: server.localTLSPort, timeoutSeconds: 5)
            try stalled.send(partialHello)
            let quitter = try TestClient(port: server.localTLSPort)
            try quitter.send(partialHello)
            _ = consume quitter
            let result = Subprocess.run("curl", ["-sS", "--cacert", fixtures.caFile, "https://localhost:\(server.localTLSPort)/busy"])
            #expect(result.output == "GET /busy ")
            #expect(stalled.waitForClose())
            #expect(server.statistics.tlsHandshakeTimeouts == 1)
            // The loop forgets a connection just after closing its socket (and curl's close reaches
            // it a moment later): wait a little for the count to settle rather than race it.
            var waited = 0
            while server.statistics.openConnections != 0, waited < 200 {
                usleep(10_000)
                waited += 1
            }
            #expect(server.statistics.openConnections == 0)
        }
    }

    /// Clients refuse an expired certificate and a certificate from a CA they do not trust.
    @Test func clientsRefuseExpiredOrUntrustedCertificates() throws {
        let fixtures = try TLSFixtures.shared()
        try withServer(Self.configuration(fixtures, certificate: fixtures.expiredCertificateFile)) { server in
            let curl = Subprocess.run("curl", ["-sS", "--cacert", fixtures.caFile, "https://localhost:\(server.localTLSPort)/x"])
            #expect(curl.status == 60, "\(curl.output)")
            #expect(curl.output.contains("expired"), "\(curl.output)")
            let python = Self.python(server.localTLSPort, fixtures, mode: "any")
            #expect(python.status != 0)
            #expect(python.output.contains("certificate has expired"), "\(python.output)")
        }
        try withServer(Self.configuration(fixtures)) { server in
            let curl = Subprocess.run("curl", ["-sS", "--cacert", fixtures.otherCAFile, "https://localhost:\(server.localTLSPort)/x"])
            #expect(curl.status == 60, "\(curl.output)")
            // The server shrugs off the refused handshakes.
            let good = Subprocess.run("curl", ["-sS", "--cacert", fixtures.caFile, "https://localhost:\(server.localTLSPort)/ok"])
            #expect(good.output == "GET /ok ")
        }
    }

    /// A missing key file stops `start()` with an error naming the file.
    @Test func missingKeyFailsToStart() throws {
        let fixtures = try TLSFixtures.shared()
        var configuration = Self.configuration(fixtures)
        configuration.tls?.privateKeyFile = fixtures.folder + "/absent.key"
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, handler: EchoHandler())
        #expect(throws: HTTPServerError.self) { try server.start() }
        do {
            try server.start()
        } catch {
            #expect(error.description.contains("absent.key"))
        }
    }
}
