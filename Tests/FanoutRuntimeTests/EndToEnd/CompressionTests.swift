import FanoutTestSupport
import Foundation
import Testing

/// Compression end to end: composite calls ask partners for gzip and br and embed the decoded JSON (limits
/// count decoded bytes), proxy routes pass encoded answers through untouched, and composite answers are
/// gzipped for clients that accept it (`gzip on`).
@Suite struct CompressionTests {
    static let brotliJSON = #"{"codec":"br","items":[1,2,3],"text":"brotli brotli brotli brotli"}"#
    /// `brotliJSON` encoded with libbrotlienc 1.0.9 (quality 11, lgwin 22), produced once with
    /// `python3 -c` through ctypes: `BrotliEncoderCompress(11, 22, 0, len, data, &size, out)`.
    static let brotliBody: [UInt8] = [
        0x1b, 0x42, 0x00, 0x30, 0x2c, 0x0e, 0xec, 0x66, 0x3e, 0x6f, 0x9c, 0x30, 0x60, 0x18, 0x10, 0x91, 0x56, 0xd5,
        0x8f, 0x50, 0xe9, 0x2d, 0xb2, 0x25, 0xb7, 0xb7, 0x63, 0x64, 0x66, 0xc4, 0x34, 0x8b, 0x4e, 0x57, 0xdf, 0x06,
        0x11, 0x19, 0xa3, 0xd3, 0x22, 0x69, 0x6c, 0x6f, 0x61, 0x03, 0x0e, 0x1c, 0x02, 0xcb, 0x34, 0xc4, 0xc5, 0xae,
        0x8b, 0x91, 0x7c, 0xf8, 0x68, 0xf1, 0x68, 0xf2, 0x70, 0x3c, 0x05, 0x35, 0x4a, 0xcd, 0xbf, 0xa0, 0x07,
    ]
    /// 53 bytes of brotli that decode to 64 MiB of zero bytes (quality 11, lgwin 24; produced like
    /// `brotliBody`, and checked with BrotliDecoderDecompress).
    static let brotliBomb: [UInt8] = [
        0xcf, 0xff, 0xff, 0x7f, 0xf8, 0x27, 0x00, 0xe2, 0xb1, 0x40, 0x20, 0xf7, 0xfe, 0x9f, 0xff, 0xff, 0xff, 0xf0,
        0x4f, 0x00, 0xc4, 0x61, 0x01, 0x80, 0xee, 0xfd, 0x3f, 0xff, 0xff, 0xff, 0xe1, 0x9f, 0x00, 0x88, 0xc3, 0x22,
        0x00, 0xdd, 0xfb, 0xff, 0xfc, 0xff, 0xff, 0xc7, 0x3f, 0x01, 0x10, 0x87, 0x05, 0x00, 0xba, 0xf7, 0xff,
    ]

    static func encoded(_ body: [UInt8], as coding: String) -> UpstreamStub.Behavior {
        .respond(headers: [("Content-Type", "application/json"), ("Content-Encoding", coding)], body: body)
    }

    // MARK: - Partners

    @Test func compositeCallsAskForGzipAndBrotliAndEmbedTheDecodedJSON() throws {
        let gzipJSON = #"{"codec":"gzip","list":["a","b","c","a","b","c","a","b","c"]}"#
        let gzipBody = try GzipCodec.compress(Array(gzipJSON.utf8))
        let stub = try UpstreamStub(routes: [
            "/gz": Self.encoded(gzipBody, as: "gzip"),
            "/br": Self.encoded(Self.brotliBody, as: "br"),
            "/plain": .json(#"{"codec":null}"#),
        ])
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            upstream bare { url {{stub}}; accept_encoding off; }
            route GET /mix {
                call gz GET partner /gz
                call br GET partner /br
                call plain GET bare /plain
            }
            """, substitutions: ["stub": stub.baseURL])
        for _ in 0..<2 {
            let response = try server.get("/mix")
            #expect(response.status == 200)
            #expect(response.header("X-Fanout-Complete") == "true")
            #expect(response.bodyText == #"{"gz":\#(gzipJSON),"br":\#(Self.brotliJSON),"plain":{"codec":null}}"#)
        }
        let asked = Dictionary(grouping: stub.receivedRequests, by: \.path).mapValues {
            $0.map { $0.header("Accept-Encoding") }
        }
        #expect(asked["/gz"] == ["gzip, br", "gzip, br"])
        #expect(asked["/br"] == ["gzip, br", "gzip, br"])
        #expect(asked["/plain"] == [nil, nil])
        // The encoded answers' Content-Length counts encoded bytes, fewer than the decoded body: not a framing
        // failure, and libcurl kept the connections for the second round (one per call of the first round).
        #expect(gzipBody.count < gzipJSON.utf8.count)
        #expect(stub.connectionsAccepted == 3)
    }

    @Test(arguments: ["gzip", "br"])
    func aDecompressionBombFailsTheCallAsTooLargeQuickly(coding: String) throws {
        // 64 MiB once decoded, from 53 bytes (br) or about 64 KiB (gzip), against a 1 MiB limit.
        let bomb = coding == "br" ? Self.brotliBomb : try GzipCodec.bomb(decodedBytes: 64 << 20)
        let stub = try UpstreamStub(routes: ["/bomb": Self.encoded(bomb, as: coding), "/ok": .json("1")])
        let server = try TestServer(
            """
            max_response_body 1m
            route GET /b {
                call bomb GET {{stub}}/bomb optional
                call ok GET {{stub}}/ok
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/b") }
        #expect(response.status == 200)
        #expect(response.header("X-Fanout-Complete") == "false")
        let body = try jsonObject(response)
        #expect(body["bomb"] is NSNull)
        #expect(body["ok"] as? Int == 1)
        let errors = try #require(body["_errors"] as? [[String: Any]])
        #expect(errors.first?["kind"] as? String == "too_large")
        // Decoding stops at the first MiB: milliseconds, where inflating all 64 MiB would take far longer.
        #expect(elapsed < 2_000, "took \(elapsed) ms")
    }

    @Test func proxyRoutesPassTheEncodedAnswerThroughByteForByte() throws {
        let gzipBody = try GzipCodec.compress(Array(#"{"proxied":true}"#.utf8))
        let stub = try UpstreamStub(routes: [
            "/gz": Self.encoded(gzipBody, as: "gzip"), "/br": Self.encoded(Self.brotliBody, as: "br"),
        ])
        // The upstream keeps the default accept_encoding: it applies to composite calls only. One worker: the
        // proxy transfers reuse the libcurl handle the composite call left with decoding on.
        let server = try TestServer(
            """
            gzip on
            gzip_min_length 1
            upstream partner { url {{stub}} }
            route GET /p/{rest...} {
                proxy partner /{rest...}
            }
            route GET /c {
                call gz GET partner /gz
            }
            """, substitutions: ["stub": stub.baseURL])
        #expect(try server.get("/c").bodyText == #"{"gz":{"proxied":true}}"#)
        let gz = try server.get("/p/gz", headers: [("Accept-Encoding", "gzip")])
        #expect(gz.status == 200)
        #expect(gz.header("Content-Encoding") == "gzip")
        #expect(gz.body == gzipBody)
        #expect(gz.header("Vary") == nil, "fanout's own gzip leaves proxied answers alone")
        let br = try server.get("/p/br", headers: [("Accept-Encoding", "br;q=1, gzip;q=0.5")])
        #expect(br.header("Content-Encoding") == "br")
        #expect(br.body == Self.brotliBody)
        // Without one from the client, libcurl sends no Accept-Encoding (and decodes nothing) on proxy routes.
        let none = try server.get("/p/gz")
        #expect(none.body == gzipBody)
        #expect(
            stub.receivedRequests.map { $0.header("Accept-Encoding") } == [
                "gzip, br", "gzip", "br;q=1, gzip;q=0.5", nil,
            ])
    }

    // MARK: - Clients

    /// Runs `body` against a server whose `/big` answers about 10 KB of JSON (two calls of 5 KB each) and
    /// `/small` 13 bytes, with `gzip` (directives) in its configuration.
    static func withServer(gzip: String, _ body: (TestServer) throws -> Void) throws {
        let items = (0..<100).map { #"{"id":\#($0),"name":"item number \#($0)","tags":["x","y"]}"# }
        let list = "[" + items.joined(separator: ",") + "]"
        let stub = try UpstreamStub(routes: ["/list": .json(list), "/small": .json(#"{"n":1}"#)])
        let server = try TestServer(
            """
            \(gzip)
            route GET /big {
                call one GET {{stub}}/list
                call two GET {{stub}}/list?again
            }
            route GET /small {
                call n GET {{stub}}/small
            }
            """, substitutions: ["stub": stub.baseURL])
        try withExtendedLifetime(stub) { try body(server) }
    }

    @Test func clientsThatAcceptGzipGetTheCompositeAnswerGzipped() throws {
        try Self.withServer(gzip: "gzip on") { server in
            let plain = try server.get("/big")
            #expect(plain.status == 200)
            #expect(plain.body.count > 9_000)
            #expect(plain.header("Content-Encoding") == nil)
            #expect(plain.header("Vary") == "Accept-Encoding")

            let gzipped = try server.get("/big", headers: [("Accept-Encoding", "gzip, deflate, br")])
            #expect(gzipped.status == 200)
            #expect(gzipped.header("Content-Encoding") == "gzip")
            #expect(gzipped.header("Vary") == "Accept-Encoding")
            #expect(gzipped.header("Content-Type") == "application/json")
            #expect(gzipped.header("Content-Length") == String(gzipped.body.count))
            #expect(gzipped.body.count < plain.body.count / 4)
            #expect(try GzipCodec.decompress(gzipped.body) == plain.body)

            let head = try httpRequest(
                port: server.port, method: "HEAD", path: "/big", headers: [("Accept-Encoding", "gzip")])
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.header("Content-Encoding") == "gzip")
            #expect(head.header("Vary") == "Accept-Encoding")
            #expect(head.header("Content-Length") == String(gzipped.body.count))
        }
    }

    @Test(arguments: ["gzip;q=0", "identity", "br", "gzip;q=0.5, identity"])
    func clientsThatRefuseGzipGetIdentity(acceptEncoding: String) throws {
        try Self.withServer(gzip: "gzip on") { server in
            let response = try server.get("/big", headers: [("Accept-Encoding", acceptEncoding)])
            #expect(response.status == 200)
            #expect(response.header("Content-Encoding") == nil)
            #expect(response.header("Vary") == "Accept-Encoding")
            #expect(try jsonObject(response)["one"] is [Any])
        }
    }

    @Test func smallAnswersAndGzipOffStayUnencoded() throws {
        try Self.withServer(gzip: "gzip on") { on in
            let small = try on.get("/small", headers: [("Accept-Encoding", "gzip")])
            #expect(small.bodyText == #"{"n":{"n":1}}"#)
            #expect(small.header("Content-Encoding") == nil)
            #expect(small.header("Vary") == "Accept-Encoding")
            // Fanout's own small error answers are not compressed either.
            let missing = try on.get("/nowhere", headers: [("Accept-Encoding", "gzip")])
            #expect(missing.status == 404)
            #expect(missing.header("Content-Encoding") == nil)
        }
        try Self.withServer(gzip: "") { off in
            let big = try off.get("/big", headers: [("Accept-Encoding", "gzip")])
            #expect(big.status == 200)
            #expect(big.header("Content-Encoding") == nil)
            #expect(big.header("Vary") == nil)
        }
    }

    @Test func gzipLevelAndMinimumLengthApply() throws {
        try Self.withServer(gzip: "gzip on\ngzip_level 9\ngzip_min_length 12") { server in
            let small = try server.get("/small", headers: [("Accept-Encoding", "gzip")])
            #expect(small.header("Content-Encoding") == "gzip")
            #expect(try GzipCodec.decompress(small.body) == Array(#"{"n":{"n":1}}"#.utf8))
            let big = try server.get("/big", headers: [("Accept-Encoding", "gzip")])
            let plain = try server.get("/big")
            // Level 9 at least as small as zlib's own level 1 for the same bytes.
            #expect(big.body.count < (try GzipCodec.compress(plain.body, level: 1)).count)
            #expect(try GzipCodec.decompress(big.body) == plain.body)
        }
    }
}
