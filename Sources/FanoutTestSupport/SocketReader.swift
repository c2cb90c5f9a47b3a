import Glibc

/// A receive buffer over a blocking socket that it does not own.
///
/// Bytes received beyond what a caller consumed stay buffered for the next call, which is what lets
/// ``RawHTTPClient`` read pipelined responses and ``UpstreamStub`` read pipelined requests.
final class SocketReader {
    private let fd: CInt
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    /// `true` once `recv` returned 0.
    private(set) var reachedEOF = false

    init(fd: CInt) {
        self.fd = fd
    }

    /// Bytes received but not yet consumed.
    var bufferedCount: Int { self.buffer.count - self.readIndex }

    /// Receives once (blocking) and appends to the buffer.
    /// - Returns: `false` when the peer has closed (now or earlier).
    /// - Throws: ``TestSupportError`` from `recv`, including ``TestSupportError/Kind/timedOut``.
    @discardableResult
    func fill() throws -> Bool {
        if self.reachedEOF {
            return false
        }
        if self.readIndex > 0 && self.readIndex >= self.buffer.count / 2 {
            self.buffer.removeSubrange(0..<self.readIndex)
            self.readIndex = 0
        }
        let fd = self.fd
        let count = try self.scratch.withUnsafeMutableBytes { try TCPSocket.receive(fd, into: $0) }
        if count == 0 {
            self.reachedEOF = true
            return false
        }
        self.buffer.append(contentsOf: self.scratch[0..<count])
        return true
    }

    /// Reads one line ending in LF (a preceding CR is dropped).
    /// - Returns: the line without its terminator, or `nil` if the peer closed before sending any byte of it.
    /// - Throws: if the line exceeds `limit` bytes or the peer closes in the middle of it.
    func readLine(limit: Int, call: String) throws -> [UInt8]? {
        var searched = 0
        while true {
            let unread = self.buffer[(self.readIndex + searched)...]
            if let newline = unread.firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > self.readIndex && self.buffer[end - 1] == UInt8(ascii: "\r") {
                    end -= 1
                }
                let line = Array(self.buffer[self.readIndex..<end])
                self.readIndex = newline + 1
                return line
            }
            searched = self.bufferedCount
            if searched > limit {
                throw TestSupportError.malformed(call: call, detail: "line longer than \(limit) bytes")
            }
            if try !self.fill() {
                if self.bufferedCount == 0 {
                    return nil
                }
                throw TestSupportError.unexpectedEOF(call: call, detail: "inside a line")
            }
        }
    }

    /// Reads exactly `count` bytes.
    func readExactly(_ count: Int, call: String) throws -> [UInt8] {
        while self.bufferedCount < count {
            if try !self.fill() {
                throw TestSupportError.unexpectedEOF(
                    call: call,
                    detail: "received \(self.bufferedCount) of \(count) expected bytes"
                )
            }
        }
        let bytes = Array(self.buffer[self.readIndex..<(self.readIndex + count)])
        self.readIndex += count
        return bytes
    }

    /// Reads everything until the peer closes.
    func readToEnd() throws -> [UInt8] {
        while try self.fill() {}
        return self.takeBuffered()
    }

    /// The bytes received but not yet consumed, left in place.
    var unconsumed: ArraySlice<UInt8> { self.buffer[self.readIndex...] }

    /// Marks the first `count` unconsumed bytes as read.
    func consume(_ count: Int) {
        self.readIndex += min(count, self.bufferedCount)
    }

    /// Removes and returns whatever is buffered.
    func takeBuffered() -> [UInt8] {
        let bytes = Array(self.buffer[self.readIndex...])
        self.buffer.removeAll(keepingCapacity: true)
        self.readIndex = 0
        return bytes
    }
}
