import StampedeRedis
import Testing

/// The local SHA-1 that names scripts for `EVALSHA`, against published test vectors.
@Suite struct RedisScriptTests {
    /// FIPS 180 vectors, including the empty message and a two-block message.
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func matchesKnownDigests(source: String, digest: String) {
        #expect(RedisScript(source).sha1 == digest)
    }
}
