import StampedeHTTP
import Testing
@testable import StampedeService

/// Purchase tokens as pure values: format, expiry, binding to sale and user, rotation.
@Suite("PurchaseTokenVerifier")
struct PurchaseTokenTests {
    static let secret = "storefront-secret-0001"
    static let now: Int64 = 1_790_000_000
    static let verifier = PurchaseTokenVerifier(secrets: [secret], maxLifetimeSeconds: 3600)

    /// The signature is HMAC-SHA256 of `v1|sale|user|expiry`, checked against RFC 4231's test
    /// case 2 for the primitive and a value computed with `openssl dgst -sha256 -hmac` for the token.
    @Test func signatureMatchesReferenceValues() {
        let rfc = PurchaseTokenVerifier.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(PurchaseTokenVerifier.hex(rfc) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // printf 'v1|s1|u-1|1790000600' | openssl dgst -sha256 -hmac storefront-secret-0001
        let token = PurchaseTokenVerifier.sign(secret: Self.secret, saleID: "s1", userID: "u-1", expiry: 1_790_000_600)
        #expect(token == "v1.1790000600.1959674cf59596267f1a7329ef3cbe5d1053eba9df4c6f5ffbe6c3d86ede91d6")
        #expect(Self.verifier.verify(token, saleID: "s1", userID: "u-1", now: Self.now) == nil)
    }

    /// Missing, malformed, expired, too long-lived, and tokens for another user, sale or secret
    /// are each refused with their reason.
    @Test func refusals() {
        let expiry = Self.now + 600
        let good = PurchaseTokenVerifier.sign(secret: Self.secret, saleID: "s1", userID: "u-1", expiry: expiry)
        let v = Self.verifier
        #expect(v.verify(nil, saleID: "s1", userID: "u-1", now: Self.now) == .missing)
        for bad in ["", "v1", "v2.\(expiry).\(good.suffix(64))", "v1.x.\(good.suffix(64))", "v1.\(expiry).abc",
                    "v1.\(expiry).\(good.suffix(63))g", "v1..\(good.suffix(64))", good + ".x"] {
            #expect(v.verify(bad, saleID: "s1", userID: "u-1", now: Self.now) == .malformed, "\(bad)")
        }
        #expect(v.verify(good, saleID: "s1", userID: "u-1", now: expiry) == .expired)
        let distant = PurchaseTokenVerifier.sign(secret: Self.secret, saleID: "s1", userID: "u-1", expiry: Self.now + 7200)
        #expect(v.verify(distant, saleID: "s1", userID: "u-1", now: Self.now) == .tooLongLived)
        #expect(v.verify(good, saleID: "s1", userID: "u-2", now: Self.now) == .forged)
        #expect(v.verify(good, saleID: "s2", userID: "u-1", now: Self.now) == .forged)
        let otherSecret = PurchaseTokenVerifier.sign(secret: "another-secret-0002", saleID: "s1", userID: "u-1", expiry: expiry)
        #expect(v.verify(otherSecret, saleID: "s1", userID: "u-1", now: Self.now) == .forged)
        // Moving the expiry breaks the signature.
        let stretched = "v1.\(expiry + 1)." + good.suffix(64)
        #expect(v.verify(stretched, saleID: "s1", userID: "u-1", now: Self.now) == .forged)
        // Upper-case hex is the same signature.
        #expect(v.verify("v1.\(expiry)." + good.suffix(64).uppercased(), saleID: "s1", userID: "u-1", now: Self.now) == nil)
    }

    /// During a rotation tokens signed with either secret pass; without any secret none does.
    @Test func rotationAcceptsTwoSecrets() {
        let expiry = Self.now + 60
        let old = PurchaseTokenVerifier.sign(secret: "old-secret-000000001", saleID: "s", userID: "u", expiry: expiry)
        let new = PurchaseTokenVerifier.sign(secret: "new-secret-000000002", saleID: "s", userID: "u", expiry: expiry)
        let rotating = PurchaseTokenVerifier(secrets: ["new-secret-000000002", "old-secret-000000001"], maxLifetimeSeconds: 3600)
        #expect(rotating.verify(old, saleID: "s", userID: "u", now: Self.now) == nil)
        #expect(rotating.verify(new, saleID: "s", userID: "u", now: Self.now) == nil)
        let after = PurchaseTokenVerifier(secrets: ["new-secret-000000002", ""], maxLifetimeSeconds: 3600)
        #expect(after.verify(old, saleID: "s", userID: "u", now: Self.now) == .forged)
        let none = PurchaseTokenVerifier(secrets: ["", ""], maxLifetimeSeconds: 3600)
        #expect(!none.hasSecret)
        #expect(none.verify(new, saleID: "s", userID: "u", now: Self.now) == .forged)
    }
}

/// The `/admin` rate limit's bucket arithmetic, without clocks.
@Suite("TokenBucket")
struct TokenBucketTests {
    /// A burst of 3 passes, the 4th is refused with the seconds until a token returns, and tokens
    /// come back at the rate.
    @Test func burstThenRate() {
        var bucket = TokenBucket(burst: 3, now: 100)
        for _ in 0..<3 { #expect(bucket.take(rate: 0.5, burst: 3, now: 100).allowed) }
        let refused = bucket.take(rate: 0.5, burst: 3, now: 100)
        #expect(!refused.allowed && refused.retryAfter == 2)
        #expect(!bucket.take(rate: 0.5, burst: 3, now: 101).allowed)
        #expect(bucket.take(rate: 0.5, burst: 3, now: 102.01).allowed)
        #expect(!bucket.isFull(rate: 0.5, burst: 3, now: 103))
        #expect(bucket.isFull(rate: 0.5, burst: 3, now: 200))
        // A clock read earlier on another thread never refills backwards.
        #expect(!bucket.take(rate: 0.5, burst: 3, now: 50).allowed)
    }

    /// The limiter counts failures per address, backs off while they go on, and a zero rate
    /// turns it off.
    @Test func limiterCountsFailuresPerAddressAndCanBeOff() {
        let limiter = AdminRateLimiter(.init(rate: 1, burst: 2))
        let a = ClientAddress("127.0.0.1")!
        #expect(limiter.failed(a, now: 0) == nil && limiter.failed(a, now: 0) == nil)
        #expect(limiter.failed(a, now: 0) == 1)
        #expect(limiter.failed(ClientAddress("::1")!, now: 0) == nil)
        limiter.apply(.init(rate: 0, burst: 2))
        #expect(limiter.failed(a, now: 0) == nil)
    }

    /// Past the burst, each failure during the lock-out doubles it (up to the cap); once it has
    /// passed and the budget has refilled, failures are answered 401 again.
    @Test func failuresBackOff() {
        var record = FailedAuthentications(burst: 2, now: 0)
        #expect(record.fail(rate: 1, burst: 2, now: 0, maxLockout: 60) == nil)
        #expect(record.fail(rate: 1, burst: 2, now: 0, maxLockout: 60) == nil)
        #expect(record.fail(rate: 1, burst: 2, now: 0, maxLockout: 60) == 1)
        #expect(record.fail(rate: 1, burst: 2, now: 0.5, maxLockout: 60) == 4)
        #expect(record.fail(rate: 1, burst: 2, now: 1, maxLockout: 60) == 8)
        #expect(record.fail(rate: 1, burst: 2, now: 2, maxLockout: 60) == 16)
        for step in 0..<10 { _ = record.fail(rate: 1, burst: 2, now: 3 + Double(step), maxLockout: 60) }
        #expect(record.fail(rate: 1, burst: 2, now: 13, maxLockout: 60) == 60)
        #expect(!record.isSpent(rate: 1, burst: 2, now: 60))
        #expect(record.isSpent(rate: 1, burst: 2, now: 80))
        #expect(record.fail(rate: 1, burst: 2, now: 80, maxLockout: 60) == nil)
    }
}
