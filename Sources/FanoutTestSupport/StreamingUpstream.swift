import Foundation
import Glibc

/// An upstream for streaming tests that counts bytes as they move, so a test can see back-pressure reach it.
///
/// - `GET /download?bytes=N[&chunked=1][&stallAfter=K]` (or `HEAD`, head only): answers N bytes of ``StreamingUpstream/patternByte(at:)``
///   with Content-Length (or chunked), written 64 KiB at a time; with `stallAfter`, it stops after K bytes and
///   holds the connection until the stub stops.
/// - Any other request with a body: reads it (Content-Length or chunked) once ``openGate()`` was called (the gate
///   starts open unless `gateClosed`), and answers `{"bytes":N,"sum":S}` (S: the byte sum modulo 2^32).
///
/// Blocking sockets on its own threads, one per connection, like ``UpstreamStub``; ``stop()`` wakes them all.
public final class StreamingUpstream: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `condition`.
    private let condition = NSCondition()
    private var listener: CInt
    private var connections: Set<CInt> = []
    private var stopped = false
    private var gateOpen: Bool
    private var sent = 0
    private var received = 0
    private var liveThreads = 0
    public let port: UInt16

    public init(gateClosed: Bool = false) throws {
        listener = try TCPSocket.makeLoopbackListener(listening: true)
        port = try TCPSocket.localPort(listener)
        gateOpen = !gateClosed
        startThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Body bytes written to sockets so far (all downloads).
    public var bytesSent: Int { locked { sent } }
    /// Request body bytes read so far (all uploads).
    public var bytesReceived: Int { locked { received } }

    /// Lets uploads be read.
    public func openGate() {
        locked { gateOpen = true }
        condition.broadcast()
    }

    /// The byte at `offset` of every download.
    public static func patternByte(at offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset % 251) }

    /// `count` pattern bytes from `offset` (sliced from a precomputed block: debug builds are slow per byte).
    public static func pattern(from offset: Int, count: Int) -> [UInt8] {
        precondition(count <= 128 * 1024)
        let start = offset % 251
        return Array(patternBlock[start..<(start + count)])
    }

    /// The sum of the first `count` pattern bytes, modulo 2^32.
    public static func patternSum(count: Int) -> UInt32 {
        let whole = UInt32(truncatingIfNeeded: count / 251) &* UInt32(250 * 251 / 2)
        let rest = count % 251
        return whole &+ UInt32(rest * (rest - 1) / 2)
    }

    private static let patternBlock: [UInt8] = (0..<(128 * 1024 + 251)).map { UInt8(truncatingIfNeeded: $0 % 251) }

    /// Closes the listener and every connection, and waits (at most 2 s) for the threads.
    public func stop() {
        locked {
            guard !stopped else { return }
            stopped = true
            TCPSocket.shutdown(listener)
            for fd in connections { TCPSocket.shutdown(fd) }
        }
        condition.broadcast()
        let deadline = Date().addingTimeInterval(2)
        condition.lock()
        while liveThreads > 0 && Date() < deadline { _ = condition.wait(until: deadline) }
        condition.unlock()
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        locked { liveThreads += 1 }
        let thread = Thread { [self] in
            body()
            locked { liveThreads -= 1 }
            condition.broadcast()
        }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            guard let fd = try? TCPSocket.accept(listener) else { break }
            let accepted = locked { () -> Bool in
                if stopped { return false }
                connections.insert(fd)
                return true
            }
            guard accepted else {
                TCPSocket.close(fd)
                break
            }
            startThread { [self] in
                serve(fd)
                locked {
                    connections.remove(fd)
                    TCPSocket.close(fd)
                }
            }
        }
        locked {
            TCPSocket.close(listener)
            listener = -1
        }
    }

    // MARK: - One connection

    private func serve(_ fd: CInt) {
        let reader = BlockingReader(fd: fd)
        while let head = try? reader.readHead() {
            let ok: Bool
            if head.target.hasPrefix("/download") {
                ok = download(fd, query: head.query, headOnly: head.method == "HEAD")
            } else {
                ok = upload(fd, head: head, reader: reader)
            }
            if !ok { return }
        }
    }

    private func download(_ fd: CInt, query: [String: String], headOnly: Bool) -> Bool {
        let total = Int(query["bytes"] ?? "0") ?? 0
        let chunked = query["chunked"] == "1"
        let stallAfter = Int(query["stallAfter"] ?? "") ?? Int.max
        var head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: \(total)\r\n\r\n"
        guard (try? TCPSocket.sendAll(fd, Array(head.utf8))) != nil else { return false }
        if headOnly { return true }
        var offset = 0
        while offset < total {
            if offset >= stallAfter {
                condition.lock()
                while !stopped { condition.wait() }
                condition.unlock()
                return false
            }
            let count = min(64 * 1024, total - offset, stallAfter - offset)
            var piece = Self.pattern(from: offset, count: count)
            if chunked { piece = Array("\(String(count, radix: 16))\r\n".utf8) + piece + Array("\r\n".utf8) }
            guard (try? TCPSocket.sendAll(fd, piece)) != nil else { return false }
            offset += count
            locked { sent += count }
        }
        if chunked { return (try? TCPSocket.sendAll(fd, Array("0\r\n\r\n".utf8))) != nil }
        return true
    }

    private func upload(_ fd: CInt, head: BlockingReader.Head, reader: BlockingReader) -> Bool {
        condition.lock()
        while !gateOpen && !stopped { condition.wait() }
        condition.unlock()
        var count = 0
        var sum: UInt32 = 0
        let take: ([UInt8]) -> Void = { bytes in
            count += bytes.count
            bytes.withUnsafeBufferPointer { buffer in
                var partial: UInt32 = 0
                for byte in buffer { partial &+= UInt32(byte) }
                sum &+= partial
            }
            self.locked { self.received += bytes.count }
        }
        do {
            if head.chunked {
                while true {
                    let sizeLine = try reader.readLine()
                    guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { return false }
                    if size == 0 {
                        while try !reader.readLine().isEmpty {}
                        break
                    }
                    try reader.read(size, into: take)
                    guard try reader.readLine().isEmpty else { return false }
                }
            } else {
                try reader.read(head.contentLength, into: take)
            }
        } catch {
            return false
        }
        let body = #"{"bytes":\#(count),"sum":\#(sum)}"#
        let response =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return (try? TCPSocket.sendAll(fd, Array(response.utf8))) != nil
    }
}

/// Buffered blocking reads of request heads, lines and counted bodies.
final class BlockingReader {
    struct Head {
        var method: String
        var target: String
        var query: [String: String]
        var contentLength: Int
        var chunked: Bool
    }

    private let fd: CInt
    private var buffer: [UInt8] = []
    private var offset = 0

    init(fd: CInt) {
        self.fd = fd
    }

    private func fill() throws {
        if offset > 0 {
            buffer.removeFirst(offset)
            offset = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = try chunk.withUnsafeMutableBytes { try TCPSocket.receive(fd, into: $0) }
        if n == 0 { throw TestSupportError.malformed(call: "recv", detail: "connection closed") }
        buffer.append(contentsOf: chunk[0..<n])
    }

    func readLine() throws -> String {
        while true {
            if let end = buffer[offset...].firstIndex(of: 10) {
                var line = buffer[offset..<end]
                if line.last == 13 { line = line.dropLast() }
                offset = end + 1
                return String(decoding: line, as: UTF8.self)
            }
            try fill()
        }
    }

    func read(_ count: Int, into take: ([UInt8]) -> Void) throws {
        var remaining = count
        while remaining > 0 {
            if offset == buffer.count { try fill() }
            let n = min(remaining, buffer.count - offset)
            take(Array(buffer[offset..<(offset + n)]))
            offset += n
            remaining -= n
        }
    }

    func readHead() throws -> Head {
        let requestLine = try readLine()
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3 else { throw TestSupportError.malformed(call: "readHead", detail: requestLine) }
        let target = String(parts[1])
        var query: [String: String] = [:]
        if let mark = target.firstIndex(of: "?") {
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
            }
        }
        var head = Head(method: String(parts[0]), target: target, query: query, contentLength: 0, chunked: false)
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { head.contentLength = Int(value) ?? 0 }
            if name == "transfer-encoding" { head.chunked = value.lowercased().contains("chunked") }
        }
        return head
    }
}
