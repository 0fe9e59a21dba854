import Testing

@testable import StampedeHTTP

/// A PROXY protocol v2 header as HAProxy's `send-proxy-v2` writes it.
func proxyHeader(command: UInt8 = 0x21, family: UInt8 = 0x11, addresses: [UInt8], tlvs: [UInt8] = []) -> [UInt8] {
    let payload = addresses + tlvs
    return ProxyProtocolHeader.signature + [command, family, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
}

/// The INET addresses block: source, destination, source port, destination port.
func ipv4Addresses(_ source: [UInt8], port: UInt16 = 50_000) -> [UInt8] {
    source + [127, 0, 0, 1] + [UInt8(port >> 8), UInt8(port & 0xFF), 0x1F, 0x90]
}

/// The 16-byte `LOCAL` form HAProxy's health checks send.
let localProxyHeader = ProxyProtocolHeader.signature + [0x20, 0x00, 0x00, 0x00]

/// The PROXY protocol v2 parser: pure, fed every prefix a socket could deliver.
@Suite("PROXY protocol v2 header")
struct ProxyProtocolHeaderTests {
    /// A TCP over IPv4 header names its source address and is 28 bytes long.
    @Test func parsesIPv4() {
        let bytes = proxyHeader(addresses: ipv4Addresses([203, 0, 113, 7]))
        #expect(bytes.count == 28)
        #expect(ProxyProtocolHeader.parse(bytes) == .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress("203.0.113.7")), length: 28))
    }

    /// A TCP over IPv6 header names its source address and is 52 bytes long.
    @Test func parsesIPv6() {
        let source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x05]
        let bytes = proxyHeader(family: 0x21, addresses: source + [UInt8](repeating: 0, count: 15) + [1] + [0xC3, 0x50, 0x1F, 0x90])
        #expect(bytes.count == 52)
        #expect(ProxyProtocolHeader.parse(bytes) == .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress("2001:db8::5")), length: 52))
    }

    /// An IPv4-mapped IPv6 source is the IPv4 client, as for accepted peers.
    @Test func mappedIPv6IsIPv4() {
        let source: [UInt8] = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 198, 51, 100, 9]
        let bytes = proxyHeader(family: 0x21, addresses: source + [UInt8](repeating: 0, count: 20))
        #expect(ProxyProtocolHeader.parse(bytes) == .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress("198.51.100.9")), length: 52))
    }

    /// The `LOCAL` form (health checks) names no client: the connection keeps the peer's address.
    @Test func parsesLocal() {
        #expect(ProxyProtocolHeader.parse(localProxyHeader) == .header(ProxyProtocolHeader(command: .local, source: nil), length: 16))
    }

    /// TLVs after the addresses are skipped: the header's length covers them, HTTP starts after.
    @Test func skipsTLVs() {
        let bytes = proxyHeader(addresses: ipv4Addresses([10, 1, 2, 3]), tlvs: [0x04, 0x00, 0x02, 0xAB, 0xCD]) + Array("GET / HTTP/1.1\r\n".utf8)
        #expect(ProxyProtocolHeader.parse(bytes) == .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress("10.1.2.3")), length: 33))
    }

    /// Every strict prefix of a header — however the bytes are split across reads — asks for more.
    @Test func everyPrefixIsIncomplete() {
        let bytes = proxyHeader(addresses: ipv4Addresses([203, 0, 113, 7]))
        for end in 1..<bytes.count {
            #expect(ProxyProtocolHeader.parse(Array(bytes[..<end])) == .incomplete, "prefix of \(end) bytes")
        }
        #expect(ProxyProtocolHeader.parse([UInt8]()) == .incomplete)
    }

    /// Plain HTTP (and anything that is not the signature) is not a header, decided at the first
    /// byte that differs.
    @Test func plainHTTPIsNotProxy() {
        #expect(ProxyProtocolHeader.parse(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .notProxy)
        #expect(ProxyProtocolHeader.parse(Array("\r\nGET / HTTP/1.1\r\n".utf8)) == .notProxy)
        #expect(ProxyProtocolHeader.parse(Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8)) == .notProxy)
        #expect(ProxyProtocolHeader.parse([0xFF, 0x00, 0x13]) == .notProxy)
    }

    /// A signature followed by garbage is refused, each field checked.
    @Test func refusesGarbageAfterTheSignature() {
        #expect(ProxyProtocolHeader.parse(proxyHeader(command: 0x31, addresses: ipv4Addresses([1, 2, 3, 4]))) == .invalid(.unsupportedVersion(3)))
        #expect(ProxyProtocolHeader.parse(proxyHeader(command: 0x22, addresses: ipv4Addresses([1, 2, 3, 4]))) == .invalid(.unknownCommand(2)))
        #expect(ProxyProtocolHeader.parse(proxyHeader(family: 0x41, addresses: ipv4Addresses([1, 2, 3, 4]))) == .invalid(.unknownFamily(4)))
        #expect(ProxyProtocolHeader.parse(proxyHeader(addresses: [1, 2, 3, 4])) == .invalid(.addressesTooShort(family: 1, length: 4)))
        #expect(ProxyProtocolHeader.parse(proxyHeader(family: 0x21, addresses: ipv4Addresses([1, 2, 3, 4]))) == .invalid(.addressesTooShort(family: 2, length: 12)))
        #expect(ProxyProtocolHeader.parse(ProxyProtocolHeader.signature + [0x21, 0x11, 0xFF, 0xFF]) == .invalid(.tooLong(65_535)))
    }

    /// `UNSPEC` and `AF_UNIX` relays carry no IP address: the peer's address stays.
    @Test func addresslessFamiliesKeepThePeer() {
        #expect(ProxyProtocolHeader.parse(proxyHeader(family: 0x00, addresses: [])) == .header(ProxyProtocolHeader(command: .proxy, source: nil), length: 16))
        #expect(ProxyProtocolHeader.parse(proxyHeader(family: 0x31, addresses: [UInt8](repeating: 0, count: 216))) == .header(ProxyProtocolHeader(command: .proxy, source: nil), length: 232))
    }
}

/// CIDR blocks of trusted proxies.
@Suite("Client address ranges")
struct ClientAddressRangeTests {
    /// A block holds exactly the addresses whose leading bits match, for both families.
    @Test func matchesByPrefix() throws {
        let v4 = try #require(ClientAddressRange("10.1.0.0/16"))
        #expect(v4.contains(ClientAddress("10.1.255.3")!))
        #expect(!v4.contains(ClientAddress("10.2.0.1")!))
        #expect(v4.contains(ClientAddress("::ffff:10.1.0.9")!))
        #expect(!v4.contains(ClientAddress("::1")!))
        let one = try #require(ClientAddressRange("127.0.0.1"))
        #expect(one.contains(ClientAddress("127.0.0.1")!))
        #expect(!one.contains(ClientAddress("127.0.0.2")!))
        let v6 = try #require(ClientAddressRange("fd00::/8"))
        #expect(v6.contains(ClientAddress("fd12:3456::1")!))
        #expect(!v6.contains(ClientAddress("fe80::1")!))
        let v6Long = try #require(ClientAddressRange("2001:db8::/96"))
        #expect(v6Long.contains(ClientAddress("2001:db8::abcd:1")!))
        #expect(!v6Long.contains(ClientAddress("2001:db8::1:0:0:1")!))
        #expect(try #require(ClientAddressRange("0.0.0.0/0")).contains(ClientAddress("8.8.8.8")!))
    }

    /// Anything but an address with an optional prefix length in range is refused.
    @Test func refusesMalformedBlocks() {
        for text in ["", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", "10.0.0.0/+8", "host", "10.0.0/8", "10.0.0.0/"] {
            #expect(ClientAddressRange(text) == nil, "\(text)")
        }
    }
}
