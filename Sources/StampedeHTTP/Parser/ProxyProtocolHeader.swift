/// A PROXY protocol version 2 header, as a load balancer (HAProxy's `send-proxy-v2`) sends it at the
/// start of a connection to say whom the connection is for.
///
/// Only headers from a trusted proxy are read (`HTTPServerConfiguration.trustedProxies`); anyone else
/// who sends one gets `400`, so a client cannot choose the address its limits are counted against.
/// The binary signature starts with `\r\n\r\n\0`, which no HTTP request can start with, so a trusted
/// peer may send the header or not: the first bytes tell which.
public struct ProxyProtocolHeader: Equatable, Sendable {
    /// `LOCAL`: the proxy speaks for itself (HAProxy's health checks); `PROXY`: it relays a client.
    public enum Command: Equatable, Sendable {
        case local
        case proxy
    }

    public let command: Command
    /// The relayed client's address; nil for `LOCAL`, and for `PROXY` over a family with no IP
    /// address (`UNSPEC`, `AF_UNIX`). Then the connection keeps the peer's own address.
    public let source: ClientAddress?

    public init(command: Command, source: ClientAddress?) {
        self.command = command
        self.source = source
    }

    /// What the first bytes of a connection from a trusted proxy are.
    public enum Parse: Equatable, Sendable {
        /// They do not start with the v2 signature: plain HTTP, to be parsed as it is.
        case notProxy
        /// A prefix of a header: read more.
        case incomplete
        /// A whole header, `length` bytes long; HTTP starts after it.
        case header(ProxyProtocolHeader, length: Int)
        /// A signature followed by something that is not a valid header.
        case invalid(ProxyProtocolError)
    }

    /// The 12-byte v2 signature.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// The signature, version/command, family/protocol and length fields.
    static let fixedLength = 16
    /// The longest address block plus TLVs accepted; HAProxy's headers are far shorter. Bounds what
    /// a connection buffers before HTTP starts.
    public static let maxPayloadLength = 2048

    /// Reads a header from the first bytes of a connection (all of them received so far).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Parse where Bytes.Index == Int {
        let start = bytes.startIndex
        for (offset, expected) in signature.enumerated() {
            guard start + offset < bytes.endIndex else { return .incomplete }
            if bytes[start + offset] != expected { return .notProxy }
        }
        guard bytes.count >= fixedLength else { return .incomplete }
        let versionCommand = bytes[start + 12]
        guard versionCommand >> 4 == 2 else { return .invalid(.unsupportedVersion(versionCommand >> 4)) }
        let command: Command
        switch versionCommand & 0x0F {
        case 0: command = .local
        case 1: command = .proxy
        case let other: return .invalid(.unknownCommand(other))
        }
        let familyProtocol = bytes[start + 13]
        let payloadLength = Int(bytes[start + 14]) << 8 | Int(bytes[start + 15])
        guard payloadLength <= maxPayloadLength else { return .invalid(.tooLong(payloadLength)) }
        let length = fixedLength + payloadLength
        guard bytes.count >= length else { return .incomplete }
        guard command == .proxy else { return .header(ProxyProtocolHeader(command: .local, source: nil), length: length) }
        let payload = start + fixedLength
        switch familyProtocol >> 4 {
        case 0x1:
            guard payloadLength >= 12 else { return .invalid(.addressesTooShort(family: familyProtocol >> 4, length: payloadLength)) }
            var address: UInt32 = 0
            for index in 0..<4 { address = address << 8 | UInt32(bytes[payload + index]) }
            return .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress(ipv4: address)), length: length)
        case 0x2:
            guard payloadLength >= 36 else { return .invalid(.addressesTooShort(family: familyProtocol >> 4, length: payloadLength)) }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(bytes[payload + index])
                low = low << 8 | UInt64(bytes[payload + 8 + index])
            }
            return .header(ProxyProtocolHeader(command: .proxy, source: ClientAddress(ipv6High: high, low: low)), length: length)
        case 0x0, 0x3:
            return .header(ProxyProtocolHeader(command: .proxy, source: nil), length: length)
        case let family:
            return .invalid(.unknownFamily(family))
        }
    }
}

/// Why the bytes after a PROXY v2 signature are not a header.
public enum ProxyProtocolError: Error, Equatable, Sendable {
    /// The version nibble is not 2.
    case unsupportedVersion(UInt8)
    /// The command nibble is neither `LOCAL` (0) nor `PROXY` (1).
    case unknownCommand(UInt8)
    /// The address family nibble is not UNSPEC, INET, INET6 or UNIX.
    case unknownFamily(UInt8)
    /// The length field is shorter than the family's addresses.
    case addressesTooShort(family: UInt8, length: Int)
    /// The length field is over `ProxyProtocolHeader.maxPayloadLength`.
    case tooLong(Int)
}
