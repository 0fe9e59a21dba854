import StampedeRedis
import Testing

/// `RedisRedirection` reads the cluster's redirect and retry replies and nothing else.
struct RedisRedirectionTests {
    @Test func movedAndAsk() {
        #expect(RedisRedirection(message: "MOVED 3999 127.0.0.1:6381")
                == .moved(slot: 3999, address: RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(RedisRedirection(message: "ASK 3999 127.0.0.1:6381")
                == .ask(slot: 3999, address: RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        #expect(RedisRedirection(message: "MOVED 3999 [::1]:6381")
                == .moved(slot: 3999, address: RedisNodeAddress(host: "::1", port: 6381)))
    }

    @Test func retryLater() {
        #expect(RedisRedirection(message: "TRYAGAIN Multiple keys request during rehashing of slot")
                == .retryLater("TRYAGAIN Multiple keys request during rehashing of slot"))
        #expect(RedisRedirection(message: "CLUSTERDOWN The cluster is down") != nil)
    }

    /// Other errors, malformed redirects and non-error replies are not redirections.
    @Test func everythingElse() {
        #expect(RedisRedirection(message: "ERR unknown command") == nil)
        #expect(RedisRedirection(message: "NOSCRIPT No matching script") == nil)
        #expect(RedisRedirection(message: "MOVED 99999 127.0.0.1:6381") == nil)
        #expect(RedisRedirection(message: "MOVED 12 127.0.0.1") == nil)
        #expect(RedisRedirection(message: "MOVED x 127.0.0.1:1") == nil)
        #expect(RedisRedirection(.simpleString("MOVED 1 127.0.0.1:2")) == nil)
    }
}
