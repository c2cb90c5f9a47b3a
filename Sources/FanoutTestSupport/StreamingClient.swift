import Foundation
import Glibc

/// A blocking client for streaming tests: a small receive buffer (so the kernel holds little on its side),
/// incremental reads, and an uploader thread that counts how many bytes the connection has taken.
public final class StreamingClient: @unchecked Sendable {
    // @unchecked: `uploaded` is guarded by `lock`; the descriptor is owned by this object.
    private let fd: CInt
    private let reader: BlockingReader
    private let lock = NSLock()
    private var uploaded = 0
    private var uploadError: (any Error)?
    private let uploadDone = NSCondition()
    private var uploadFinished = false

    /// - Parameter receiveBuffer: `SO_RCVBUF` / `SO_SNDBUF` in bytes (the kernel doubles it), set before connecting.
    public init(port: UInt16, receiveBuffer: Int = 64 * 1024, timeoutMs: Int = 10_000) throws {
        let fd = try TCPSocket.makeStream()
        var size = CInt(receiveBuffer)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<CInt>.size))
        do {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            _ = try Syscall.call("connect") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            try TCPSocket.setTimeouts(fd, milliseconds: timeoutMs)
        } catch {
            TCPSocket.close(fd)
            throw error
        }
        self.fd = fd
        self.reader = BlockingReader(fd: fd)
    }

    // The uploader thread keeps this object alive while it runs (its closure holds `self`), so by the time this
    // runs no upload is in progress; nothing holds the thread, which would make a cycle.
    deinit {
        TCPSocket.shutdown(fd)
        TCPSocket.close(fd)
    }

    public func send(_ text: String) throws {
        try TCPSocket.sendAll(fd, Array(text.utf8))
    }

    /// Sends `total` bytes of `StreamingUpstream.patternByte` on a background thread, 64 KiB at a time, raw
    /// (`chunkSize` nil) or as chunks of `chunkSize` bytes followed by the last chunk.
    public func startUpload(total: Int, chunkSize: Int? = nil) {
        let thread = Thread { [self] in
            var offset = 0
            do {
                while offset < total {
                    let count = min(chunkSize ?? 64 * 1024, total - offset)
                    var piece = StreamingUpstream.pattern(from: offset, count: count)
                    if chunkSize != nil {
                        piece = Array("\(String(count, radix: 16))\r\n".utf8) + piece + Array("\r\n".utf8)
                    }
                    try TCPSocket.sendAll(fd, piece)
                    offset += count
                    lock.withLock { uploaded = offset }
                }
                if chunkSize != nil { try TCPSocket.sendAll(fd, Array("0\r\n\r\n".utf8)) }
            } catch {
                lock.withLock { uploadError = error }
            }
            uploadDone.lock()
            uploadFinished = true
            uploadDone.broadcast()
            uploadDone.unlock()
        }
        thread.start()
    }

    /// Body bytes the connection has taken so far.
    public var bytesUploaded: Int { lock.withLock { uploaded } }

    /// Waits (at most `timeoutMs`) for the upload to end; returns its error, if any.
    public func waitForUpload(timeoutMs: Int) -> (any Error)? {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        uploadDone.lock()
        while !uploadFinished && Date() < deadline { _ = uploadDone.wait(until: deadline) }
        let finished = uploadFinished
        uploadDone.unlock()
        if !finished { return TestSupportError.malformed(call: "upload", detail: "not finished in time") }
        return lock.withLock { uploadError }
    }

    /// Reads a response head: the status and lowercased headers.
    public func readHead() throws -> (status: Int, headers: [String: String]) {
        let statusLine = try reader.readLine()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw TestSupportError.malformed(call: "readHead", detail: statusLine)
        }
        var headers: [String: String] = [:]
        while true {
            let line = try reader.readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return (status, headers)
    }

    /// Reads exactly `count` raw bytes, handing them to `take` as they come.
    public func read(_ count: Int, into take: ([UInt8]) -> Void) throws {
        try reader.read(count, into: take)
    }

    /// Reads a chunked body to its end, handing the data to `take`.
    public func readChunked(into take: ([UInt8]) -> Void) throws {
        while true {
            let sizeLine = try reader.readLine()
            guard let size = Int(sizeLine, radix: 16) else {
                throw TestSupportError.malformed(call: "readChunked", detail: sizeLine)
            }
            if size == 0 {
                while try !reader.readLine().isEmpty {}
                return
            }
            try reader.read(size, into: take)
            _ = try reader.readLine()
        }
    }

    /// Whether the peer closed the connection (a read returns end of file or an error) within `waitMs`.
    public func isClosedByPeer(waitMs: Int) -> Bool {
        try? TCPSocket.setTimeouts(fd, milliseconds: waitMs)
        do {
            while true { try reader.read(1) { _ in } }
        } catch {
            return true
        }
    }
}
