import FanoutTestSupport
import Foundation
import Testing

/// Plain proxy routes stream both bodies with back-pressure: a slow reader holds the upstream back, a slow
/// upstream holds the uploading client back, and neither body is ever held whole by fanout.
@Suite struct StreamingTests {
    static let config = """
        upstream up {
            url {{up}}
        }
        route GET,HEAD /download {
            proxy up
            timeout 500ms
        }
        route POST,PUT /upload {
            proxy up /upload
            max_body 256m
        }
        route POST /small {
            proxy up /upload
            max_body 1k
        }
        """

    static let mib = 1024 * 1024

    /// Polls `condition` until it holds or `timeoutMs` passes.
    static func eventually(timeoutMs: Int = 5_000, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Whether `bytes` continue the download pattern at `offset`.
    static func matchesPattern(_ bytes: [UInt8], at offset: Int) -> Bool {
        var start = 0
        while start < bytes.count {
            let count = min(64 * 1024, bytes.count - start)
            if bytes[start..<(start + count)].elementsEqual(
                StreamingUpstream.pattern(from: offset + start, count: count)) == false
            {
                return false
            }
            start += count
        }
        return true
    }

    @Test(arguments: [false, true])
    func aSlowReaderHoldsTheUpstreamBack(chunked: Bool) throws {
        let upstream = try StreamingUpstream()
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        let total = 64 * Self.mib
        let client = try StreamingClient(port: server.port)
        try client.send("GET /download?bytes=\(total)&chunked=\(chunked ? 1 : 0) HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readHead()
        #expect(head.status == 200)
        if chunked {
            #expect(head.headers["transfer-encoding"] == "chunked")
        } else {
            #expect(head.headers["content-length"] == "\(total)")
        }
        // The client reads nothing for a while: the upstream must stall once the windows (kernel buffers on
        // both sides plus fanout's 256 KiB) are full, far short of the whole body.
        _ = Self.eventually(timeoutMs: 600) { false }
        let stalledAt = upstream.bytesSent
        usleep(300_000)
        #expect(upstream.bytesSent - stalledAt < Self.mib, "the upstream kept sending while nobody read")
        #expect(stalledAt < 24 * Self.mib, "fanout took \(stalledAt) bytes without a reader")
        // Reading on gets every byte, in order, and the idle timeout (500 ms) did not cut the slow reader off.
        var offset = 0
        var intact = true
        let take: ([UInt8]) -> Void = { bytes in
            intact = intact && Self.matchesPattern(bytes, at: offset)
            offset += bytes.count
        }
        do {
            if chunked { try client.readChunked(into: take) } else { try client.read(total, into: take) }
        } catch {
            Issue.record("read stopped at \(offset) of \(total): \(error); access log: \(server.accessLog.all)")
        }
        #expect(offset == total)
        #expect(intact)
        // The connection is still usable.
        try client.send("GET /download?bytes=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readHead().status == 200)
    }

    @Test func headKeepsTheUpstreamsContentLength() throws {
        let upstream = try StreamingUpstream()
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        let client = try StreamingClient(port: server.port)
        try client.send("HEAD /download?bytes=12345 HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readHead()
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "12345")
        // No body followed: the next answer on the connection starts right away.
        try client.send("GET /download?bytes=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readHead().headers["content-length"] == "3")
    }

    @Test(arguments: [nil, 100_000] as [Int?])
    func aSlowUpstreamHoldsTheUploaderBack(chunkSize: Int?) throws {
        let upstream = try StreamingUpstream(gateClosed: true)
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        let total = 32 * Self.mib
        let client = try StreamingClient(port: server.port)
        let framing = chunkSize == nil ? "Content-Length: \(total)" : "Transfer-Encoding: chunked"
        try client.send("PUT /upload HTTP/1.1\r\nHost: x\r\n\(framing)\r\n\r\n")
        client.startUpload(total: total, chunkSize: chunkSize)
        // The upstream reads nothing yet: the client must be held back once the windows are full. How fast they
        // fill is the machine's pace (several times slower under sanitizers), so wait until the count stops
        // moving for 200 ms (at most 5 s; a client never held back fails the checks below).
        usleep(600_000)
        var stalledAt = client.bytesUploaded
        for _ in 0..<22 {
            usleep(200_000)
            let now = client.bytesUploaded
            if now == stalledAt { break }
            stalledAt = now
        }
        usleep(300_000)
        // Kernel buffers may still grow a little (TCP autotuning), never by the megabytes a reader would take.
        #expect(client.bytesUploaded - stalledAt < Self.mib, "the client kept sending while nothing was read upstream")
        #expect(stalledAt < 16 * Self.mib, "fanout took \(stalledAt) bytes the upstream had not read")
        upstream.openGate()
        #expect(client.waitForUpload(timeoutMs: 60_000) == nil)
        let head = try client.readHead()
        #expect(head.status == 200)
        var body: [UInt8] = []
        try client.read(Int(head.headers["content-length"] ?? "0") ?? 0) { body.append(contentsOf: $0) }
        let expectedSum = StreamingUpstream.patternSum(count: total)
        #expect(String(decoding: body, as: UTF8.self) == #"{"bytes":\#(total),"sum":\#(expectedSum)}"#)
    }

    @Test(arguments: [nil, 50_000] as [Int?])
    func aBodyThatArrivedWhileThePipeWasFullIsStillDelivered(chunkSize: Int?) throws {
        // The body is sent while the upstream reads nothing (more than the kernel buffers hold, so fanout's pipe
        // fills and reading pauses with chunks left in fanout's own input buffer, which no EPOLLIN announces
        // again); every byte must still reach the upstream once it reads. (scripts/stream-memory.sh's 1 GiB
        // chunked upload is what caught that case stalling; this test does not hit the timing reliably.)
        let upstream = try StreamingUpstream(gateClosed: true)
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        let total = 16 * Self.mib
        let client = try StreamingClient(port: server.port, receiveBuffer: 32 * Self.mib)
        let framing = chunkSize == nil ? "Content-Length: \(total)" : "Transfer-Encoding: chunked"
        try client.send("POST /upload HTTP/1.1\r\nHost: x\r\n\(framing)\r\n\r\n")
        client.startUpload(total: total, chunkSize: chunkSize)
        usleep(500_000)
        upstream.openGate()
        #expect(client.waitForUpload(timeoutMs: 20_000) == nil)
        let head = try client.readHead()
        #expect(head.status == 200)
        var body: [UInt8] = []
        try client.read(Int(head.headers["content-length"] ?? "0") ?? 0) { body.append(contentsOf: $0) }
        #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"bytes":\#(total),"#))
    }

    @Test func aProxyRoutesOwnBodyLimitIsEnforced() throws {
        let upstream = try StreamingUpstream()
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        // Declared too large: refused before anything reaches the upstream.
        let declared = try StreamingClient(port: server.port)
        try declared.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
        #expect(try declared.readHead().status == 413)
        // Chunked past the limit: the upload is aborted and the client gets 413 and a close.
        let chunked = try StreamingClient(port: server.port)
        try chunked.send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n")
        try chunked.send(String(repeating: "a", count: 512) + "\r\n400\r\n")
        #expect(try chunked.readHead().status == 413)
        #expect(chunked.isClosedByPeer(waitMs: 2_000))
        #expect(upstream.bytesReceived < 1024)
        // Within the limit it goes through.
        let fits = try StreamingClient(port: server.port)
        try fits.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        #expect(try fits.readHead().status == 200)
    }

    @Test func aClientThatLeavesMidUploadAbortsTheUpstreamCall() throws {
        let upstream = try StreamingUpstream()
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        do {
            let client = try StreamingClient(port: server.port)
            try client.send("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
            try client.send(String(repeating: "b", count: 100_000))
            #expect(Self.eventually { upstream.bytesReceived >= 100_000 })
        }  // the client closes with the body unfinished
        // fanout aborts the upload and keeps serving.
        #expect(Self.eventually { (try? server.get("/download?bytes=5").status) == 200 })
        #expect(upstream.bytesReceived < 10_000_000)
    }

    @Test func anUpstreamThatGoesSilentMidBodyIsCutOffAfterTheIdleTimeout() throws {
        let upstream = try StreamingUpstream()
        let server = try TestServer(Self.config, substitutions: ["up": upstream.baseURL])
        let client = try StreamingClient(port: server.port)
        try client.send("GET /download?bytes=1000000&stallAfter=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        let (head, _) = try measureMs { try client.readHead() }
        #expect(head.status == 200)
        // The head promised 1,000,000 bytes; after 500 ms of silence the connection closes short of them.
        let (closed, elapsed) = measureMs { client.isClosedByPeer(waitMs: 3_000) }
        #expect(closed)
        #expect(elapsed >= 300 && elapsed < 2_500)
        upstream.stop()
    }
}
