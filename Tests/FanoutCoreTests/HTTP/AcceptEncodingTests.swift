import Testing

@testable import FanoutCore

/// `Accept-Encoding` negotiation (RFC 9110 §12.5.3) and the gzip decision for composite answers.
@Suite struct AcceptEncodingTests {
    @Test(arguments: [
        ("gzip", true),
        ("GZIP", true),
        ("x-gzip", true),
        ("gzip, deflate, br, zstd", true),
        ("deflate, gzip;q=1.0, *;q=0.5", true),
        ("br;q=1, gzip;q=0.8", true),
        ("*", true),
        ("identity;q=0, gzip", true),
        ("gzip ; q = 0.5", true),
        ("gzip;Q=0.001", true),
        ("gzip;level=9", true),
        ("gzip;q=1.000", true),
        (" , gzip ,", true),
        ("*;q=0.3, identity;q=0.2", true),
        // Not acceptable, or identity preferred.
        ("", false),
        ("identity", false),
        ("deflate, br", false),
        ("gzip;q=0", false),
        ("gzip;q=0.000", false),
        ("GZip;Q=0", false),
        ("*;q=0", false),
        ("*, gzip;q=0", false),
        ("gzip;q=0.5, identity", false),
        ("gzip;q=0.5, identity;q=0.6", false),
        ("*;q=0.5, gzip;q=0.4", false),
        ("identity;q=0", false),
        // An invalid weight makes the member void.
        ("gzip;q=2", false),
        ("gzip;q=1.5", false),
        ("gzip;q=0.0001", false),
        ("gzip;q=", false),
        ("gzip;q=abc", false),
        ("gzip;q=abc, *", true),
        // Not gzip.
        ("gzipx", false),
        ("xgzip, br", false),
    ])
    func negotiatesOneField(value: String, prefersGzip: Bool) {
        #expect(AcceptEncoding.prefersGzip([value]) == prefersGzip, "\(value)")
    }

    @Test func absentFieldMeansIdentityAndFieldLinesCombine() {
        #expect(!AcceptEncoding.prefersGzip([]))
        #expect(AcceptEncoding.prefersGzip(["br", "gzip"]))
        #expect(!AcceptEncoding.prefersGzip(["gzip;q=0", "gzip"]), "the first member naming a coding counts")
        #expect(!AcceptEncoding.prefersGzip(["gzip;q=0.5", "identity"]))
    }

    @Test func gzipNeedsTheSettingABodyAndAnAcceptingClient() {
        var settings = GzipSettings()
        #expect(!settings.enabled && settings.minLength == 1024 && settings.level == 1)
        #expect(ResponseCompression.decide(settings, status: 200, bodyCount: 10_000, acceptEncoding: ["gzip"]) == .off)
        settings.enabled = true
        #expect(ResponseCompression.decide(settings, status: 200, bodyCount: 10_000, acceptEncoding: ["gzip"]) == .gzip)
        #expect(ResponseCompression.decide(settings, status: 502, bodyCount: 1024, acceptEncoding: ["gzip"]) == .gzip)
        #expect(
            ResponseCompression.decide(settings, status: 200, bodyCount: 1023, acceptEncoding: ["gzip"]) == .identity)
        #expect(
            ResponseCompression.decide(settings, status: 204, bodyCount: 10_000, acceptEncoding: ["gzip"]) == .identity)
        #expect(
            ResponseCompression.decide(settings, status: 304, bodyCount: 10_000, acceptEncoding: ["gzip"]) == .identity)
        #expect(ResponseCompression.decide(settings, status: 200, bodyCount: 10_000, acceptEncoding: []) == .identity)
        #expect(
            ResponseCompression.decide(settings, status: 200, bodyCount: 10_000, acceptEncoding: ["gzip;q=0"])
                == .identity)
    }
}
