import FanoutTestSupport
import Glibc
import Testing

@Suite struct RawHTTPClientTests {
    @Test func readsAChunkedResponseBody() throws {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        let stub = try UpstreamStub(routes: ["/chunked": .raw(Array(raw.utf8))])
        defer { stub.stop() }

        let response = try httpGet(port: stub.port, path: "/chunked")

        #expect(response.status == 200)
        #expect(response.bodyText == "abcde")
    }

    @Test func readsABodyDelimitedByClose() throws {
        let stub = try UpstreamStub(routes: ["/eof": .raw(Array("HTTP/1.0 200 OK\r\n\r\nuntil close".utf8))])
        defer { stub.stop() }

        let response = try httpGet(port: stub.port, path: "/eof")

        #expect(response.bodyText == "until close")
    }

    @Test func headResponseHasNoBody() throws {
        let stub = try UpstreamStub(routes: ["/a": .json(#"{"a":1}"#)])
        defer { stub.stop() }

        let response = try httpRequest(port: stub.port, method: "HEAD", path: "/a")

        #expect(response.header("Content-Length") == "7")
        #expect(response.body.isEmpty)
    }

    @Test func readTimesOutAgainstASilentServer() throws {
        let stub = try UpstreamStub(routes: ["/hang": .neverRespond])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port, timeoutMs: 100)
        defer { client.close() }

        try client.send("GET /hang HTTP/1.1\r\nHost: stub\r\n\r\n")
        let error = #expect(throws: TestSupportError.self) { try client.readResponse() }

        #expect(error?.isTimeout == true)
        #expect(error?.description.contains("recv") == true)
    }

    @Test func connectErrorNamesTheCallAndErrno() throws {
        let refused = try RefusedPort()
        defer { refused.close() }
        let port = refused.port
        #expect(port != 0)

        let error = #expect(throws: TestSupportError.self) { try RawHTTPClient(port: port) }

        #expect(error?.kind == .system(errno: ECONNREFUSED))
        let description = try #require(error?.description)
        #expect(description.contains("connect"))
        #expect(description.contains("ECONNREFUSED"))
    }

    @Test func sendAfterCloseThrowsInsteadOfTouchingAStaleDescriptor() throws {
        let stub = try UpstreamStub(routes: [:])
        defer { stub.stop() }
        let client = try RawHTTPClient(port: stub.port)
        client.close()
        client.close()

        #expect(throws: TestSupportError.self) { try client.send("GET / HTTP/1.1\r\n\r\n") }
        #expect(!client.isClosedByPeer(waitMs: 0))
    }
}
