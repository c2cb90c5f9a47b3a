/// Writes a streamed answer's body to a client inside the framing its head declared, so that no partner can
/// make the client's byte stream disagree with it.
///
/// The framing is chosen once, by fanout, from what it is about to send: the length a partner declared
/// (``PartnerFraming/declaredLength(decodedByLibcurl:)``) when there is one, else chunked for an HTTP/1.1
/// client, else the connection's end. Then every body byte goes through ``append(_:to:)``, which never lets
/// more than the declared length reach the client (extra bytes are dropped), and ``finish(into:)`` says
/// whether the body came out as declared. When it did not, the connection must be closed, never reused: a
/// short body is only visible to the client as the connection ending early, and dropped bytes mean the
/// partner's answer was not the one declared.
///
/// With a declared length the last body byte is held back until ``finish(into:)``: libcurl 7.88.1 reports an
/// answer longer than its `Content-Length` only when the transfer completes (see `CurlTransfer+Framing`), so
/// a body that turns out to be a prefix of something longer is never complete on the client's side; the
/// connection closes one byte short instead.
///
/// An answer that carries no body (a HEAD request; status 1xx, 204, 304) accepts no body byte at all, whatever
/// its framing header says: a HEAD answer's `Content-Length` describes the GET's body (RFC 9110 §9.3.2).
public struct ResponseBodyFramer: Sendable {
    /// How the body ended, compared with what the head declared.
    public enum Ending: Sendable, Equatable {
        /// Exactly as declared: the connection may serve another request (unless ``keepAlive`` is false).
        case complete
        /// Fewer bytes than the declared length: the connection must close.
        case short(missing: Int)
        /// More bytes than the framing allowed; they were dropped, and the connection must close.
        case overran(dropped: Int)
    }

    /// The framing the head announces (see `HTTPResponse.serializeHead`).
    public let framing: HTTPResponse.BodyFraming
    /// Whether the connection can stay open after this answer: false when the body ends with the connection.
    public let keepAlive: Bool
    /// Body bytes still allowed (`Int.max` while the framing sets no limit).
    private var remaining: Int
    /// Body bytes written so far.
    public private(set) var written = 0
    /// Body bytes refused because they went past the framing.
    public private(set) var dropped = 0
    /// Chunked: the last chunk is owed at the end.
    private let endsWithLastChunk: Bool
    /// The last byte of a declared length, written by ``finish(into:)`` once the body proved complete.
    private var heldBack: UInt8?
    /// What ``finish(into:)`` found, once it ran: a second call answers the same and appends nothing.
    public private(set) var ending: Ending?

    /// - Parameters:
    ///   - status: the answer's status; 1xx, 204 and 304 carry no body (RFC 9112 §6.3 (1)).
    ///   - declaredLength: the partner's length, when fanout may declare it (``PartnerFraming``).
    ///   - http10: the client spoke HTTP/1.0, which has no chunked coding.
    ///   - headOnly: the request was HEAD.
    ///   - keepAlive: the connection would stay open after a well-framed answer.
    public init(status: Int, declaredLength: Int?, http10: Bool, headOnly: Bool, keepAlive: Bool) {
        let bodyless = headOnly || !HTTPResponse.allowsBody(status)
        if let declaredLength {
            self.framing = .contentLength(declaredLength)
            self.keepAlive = keepAlive
            self.remaining = bodyless ? 0 : declaredLength
            self.endsWithLastChunk = false
        } else if bodyless {
            // Nothing to delimit: no framing header, and the connection may go on.
            self.framing = .untilClose
            self.keepAlive = keepAlive
            self.remaining = 0
            self.endsWithLastChunk = false
        } else if http10 {
            self.framing = .untilClose
            self.keepAlive = false
            self.remaining = Int.max
            self.endsWithLastChunk = false
        } else {
            self.framing = .chunked
            self.keepAlive = keepAlive
            self.remaining = Int.max
            self.endsWithLastChunk = true
        }
    }

    /// Appends `bytes` to `out` in the answer's framing, dropping whatever goes past the declared length.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let taken = min(bytes.count, self.remaining)
        if taken < bytes.count { self.dropped += bytes.count - taken }
        guard taken > 0 else { return }
        if self.endsWithLastChunk {
            HTTPResponse.appendChunk(UnsafeRawBufferPointer(rebasing: bytes[0..<taken]), to: &out)
        } else if self.remaining == Int.max {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<taken]))
        } else {
            self.remaining -= taken
            let end = self.remaining == 0 ? taken - 1 : taken
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
            if end < taken { self.heldBack = bytes[end] }
        }
        self.written += taken
    }

    /// Ends the body: appends the held-back last byte or the last chunk, and says whether the body matched its
    /// framing. Call it only when the partner's answer completed; after a failure the connection just closes.
    /// Once ended, the body stays ended: a later call appends nothing and answers the same (the answer may be
    /// finished as soon as libcurl reports it whole, before the transfer's completion ends it again).
    public mutating func finish(into out: inout [UInt8]) -> Ending {
        if let ending = self.ending { return ending }
        let ending = self.end(into: &out)
        self.ending = ending
        return ending
    }

    private mutating func end(into out: inout [UInt8]) -> Ending {
        if self.dropped > 0 { return .overran(dropped: self.dropped) }
        if self.endsWithLastChunk { out.append(contentsOf: HTTPResponse.lastChunk) }
        if self.remaining != Int.max && self.remaining > 0 { return .short(missing: self.remaining) }
        if let last = self.heldBack {
            out.append(last)
            self.heldBack = nil
        }
        return .complete
    }
}
