import Testing

@testable import FanoutCore

/// ``CallKey``: the bytes of the coalescing and cache key, which replicas sharing a store must agree on.
@Suite struct CallKeyTests {
    static func key(
        method: String = "GET", hasBody: Bool = false, acceptEncoding: String? = "gzip, br",
        callHeaders: [String] = ["X-Api-Key: k1"], forwarded: [String] = ["Accept-Language: fr"],
        contentTypeLine: String? = nil, allHeaders: Bool = false
    ) -> String? {
        CallKey.coalescing(
            method: method, url: "https://p.test:443/v1/items?id=7", hasBody: hasBody, upstreamName: "partner",
            connectTimeoutMs: 2_000, maxResponseBytes: 8_388_608, maxRedirects: 0, acceptEncoding: acceptEncoding,
            callHeaders: callHeaders, sharedKeyHeaders: CallKey.keyedLines(forwarded),
            contentTypeLine: contentTypeLine, allHeaders: allHeaders)
    }

    @Test func aGetsKeyHoldsTheMessageTheLimitsAndTheHeaderLinesInOrder() {
        #expect(
            Self.key()
                == "GET https://p.test:443/v1/items?id=7\npartner 2000 8388608 0 gzip, br\n"
                + "X-Api-Key: k1\nAccept-Language: fr\n")
    }

    @Test func noAcceptEncodingAContentTypeAndAllHeadersEachShowInTheKey() {
        #expect(
            Self.key(
                method: "HEAD", acceptEncoding: nil, callHeaders: [], forwarded: [],
                contentTypeLine: "Content-Type: text/plain", allHeaders: true)
                == "HEAD https://p.test:443/v1/items?id=7\npartner 2000 8388608 0 \nContent-Type: text/plain\nall headers"
        )
    }

    @Test func perRequestForwardedLinesAreLeftOut() {
        let forwarded = ["X-Forwarded-For: 10.0.0.1", "Accept-Language: fr", "X-Request-Id: abc-1"]
        #expect(CallKey.keyedLines(forwarded) == ["Accept-Language: fr"])
        #expect(Self.key(forwarded: forwarded) == Self.key())
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "PATCH"])
    func aMethodOtherThanGetOrHeadHasNoKey(_ method: String) {
        #expect(Self.key(method: method) == nil)
    }

    @Test func aCallWithABodyHasNoKey() {
        #expect(Self.key(hasBody: true) == nil)
    }

    @Test func callsDifferingInAHeaderLineHaveDifferentKeys() {
        #expect(Self.key(callHeaders: ["X-Api-Key: k2"]) != Self.key())
        #expect(Self.key(forwarded: ["Accept-Language: de"]) != Self.key())
    }
}
