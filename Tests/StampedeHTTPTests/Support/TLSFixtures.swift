import Foundation
import Synchronization

/// Certificates made once per test process with the `openssl` CLI, in a temporary folder: a test
/// CA, a server certificate it signed for `localhost`/`127.0.0.1`, the same key in a certificate
/// that expired in 2020, and an unrelated CA.
struct TLSFixtures: Sendable {
    let folder: String
    var caFile: String { folder + "/ca.pem" }
    var otherCAFile: String { folder + "/other-ca.pem" }
    var certificateFile: String { folder + "/server.pem" }
    var expiredCertificateFile: String { folder + "/expired.pem" }
    var keyFile: String { folder + "/server.key" }

    private static let made = Mutex<Result<TLSFixtures, TestClientError>?>(nil)

    /// The fixtures, generated on first use.
    static func shared() throws -> TLSFixtures {
        try made.withLock { made in
            if made == nil { made = Result { () throws(TestClientError) in try generate() } }
            return try made!.get()
        }
    }

    private static func generate() throws(TestClientError) -> TLSFixtures {
        let folder = NSTemporaryDirectory() + "stampede-tls-\(getpid())"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = """
        set -e
        cd '\(folder)'
        curve="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        openssl req -x509 $curve -keyout ca.key -out ca.pem -days 30 -subj /CN=stampede-test-ca
        openssl req -x509 $curve -keyout other-ca.key -out other-ca.pem -days 30 -subj /CN=other-ca
        openssl req $curve -keyout server.key -out server.csr -subj /CN=localhost \
          -addext subjectAltName=DNS:localhost,IP:127.0.0.1
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
          -copy_extensions copy -out server.pem
        printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial\\ndefault_md=sha256\\npolicy=p\\ncopy_extensions=copy\\n[p]\\ncommonName=supplied\\n' > ca.cnf
        : > index.txt; echo 1000 > serial
        openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr \
          -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z
        """
        let result = Subprocess.run("/bin/sh", ["-c", script])
        guard result.status == 0 else {
            throw TestClientError(description: "openssl could not make the test certificates: \(result.output)")
        }
        return TLSFixtures(folder: folder)
    }
}

/// A child process run to completion with a deadline; output is stdout and stderr together.
enum Subprocess {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `executable` (a path, or a name looked up in `PATH` through `/usr/bin/env`) with
    /// `arguments`, feeding `input` on standard input; kills it after `timeoutSeconds`.
    static func run(_ executable: String, _ arguments: [String], input: String = "", timeoutSeconds: Double = 20) -> Result {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        do {
            try process.run()
        } catch {
            return Result(status: -1, output: "cannot run \(executable): \(error)")
        }
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
        let collected = Mutex(Data())
        let reader = Thread {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.withLock { $0 = data }
        }
        reader.start()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
        }
        process.waitUntilExit()
        while !reader.isFinished { usleep(1_000) }
        return Result(status: process.terminationStatus,
                      output: collected.withLock { String(decoding: $0, as: UTF8.self) })
    }
}
