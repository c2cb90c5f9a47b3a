/// What a partner's answer head says about how its body is delimited, and the one length fanout may reuse.
///
/// Fed with the header fields of one answer head as libcurl reports them (a new status line, after a 1xx or
/// a followed redirect, starts over with a fresh value). Fanout never copies a partner's framing fields to a
/// client; the only thing it takes from them is ``declaredLength(decodedByLibcurl:)``: a single valid
/// `Content-Length` on an answer without `Transfer-Encoding` whose body libcurl hands over undecoded. Every
/// other answer is framed by fanout itself (chunked, or by closing for an HTTP/1.0 client).
///
/// RFC 9112 §6.3: `Transfer-Encoding` overrides `Content-Length`, and a message with both "ought to be handled
/// as an error" (request smuggling, response splitting); nginx 1.23+ rejects such an upstream answer (502).
/// Differing `Content-Length` values make the length unrecoverable (§6.3 (5)); libcurl 7.88.1 would silently
/// use the last one (docs/design/hardening.md).
public struct PartnerFraming: Sendable, Equatable {
    /// A head whose body cannot be delimited unambiguously: the call fails (`connection`).
    public enum Fault: Error, Sendable, Equatable, CustomStringConvertible {
        /// Two `Content-Length` fields with different values.
        case conflictingContentLength
        /// Both `Content-Length` and `Transfer-Encoding`.
        case contentLengthWithTransferEncoding

        public var description: String {
            switch self {
            case .conflictingContentLength: return "conflicting Content-Length headers"
            case .contentLengthWithTransferEncoding: return "both Content-Length and Transfer-Encoding"
            }
        }
    }

    /// The first `Content-Length` value when it is its length written plainly (1 to 18 digits, no leading
    /// zero): kept as a number, so the usual head costs no String. Any other first value is ``firstText``.
    @usableFromInline private(set) var firstLength: Int?
    /// The first `Content-Length` value as sent, when it is not written plainly (see ``firstLength``).
    @usableFromInline private(set) var firstText: String?
    /// `Content-Length` fields seen (identical duplicates included).
    @usableFromInline private(set) var contentLengthFields = 0
    @usableFromInline private(set) var hasTransferEncoding = false
    @usableFromInline private(set) var hasContentEncoding = false
    /// The empty line after the head was seen: later lines are trailers, which never frame anything.
    private var headEnded = false

    public init() {}

    /// Whether the head had a `Content-Length` field.
    @inlinable public var hasContentLength: Bool { self.contentLengthFields > 0 }

    /// The first `Content-Length` value as sent, for messages; nil when the head has none.
    public var contentLengthText: String? {
        if let firstText = self.firstText { return firstText }
        return self.firstLength.map { String($0) }
    }

    /// Notes one header field of the head (names compared without regard to case).
    /// - Throws: ``Fault`` as soon as the head can no longer be framed unambiguously.
    public mutating func note(name: String, value: String) throws(Fault) {
        switch name.utf8.count {
        case 14 where HTTPHeaders.namesEqual(name, "content-length"): try self.noteContentLength(value)
        case 17 where HTTPHeaders.namesEqual(name, "transfer-encoding"): try self.noteTransferEncoding()
        case 16 where HTTPHeaders.namesEqual(name, "content-encoding"): self.noteContentEncoding()
        default: break
        }
    }

    /// Notes a `Content-Length` field of the head (for a caller that classified the name from its bytes).
    /// - Throws: ``Fault`` when it differs from an earlier one or the head has a `Transfer-Encoding`.
    public mutating func noteContentLength(_ value: String) throws(Fault) {
        var value = value
        let fault: Fault? = value.withUTF8 { bytes in
            do throws(Fault) {
                try self.noteContentLength(utf8: UnsafeRawBufferPointer(bytes))
                return nil
            } catch {
                return error
            }
        }
        if let fault { throw fault }
    }

    /// Notes a `Content-Length` field of the head from its value's bytes (libcurl's header line), making no
    /// String of a value written plainly. Values are compared byte for byte: `5` and `05` differ.
    /// - Throws: ``Fault`` when it differs from an earlier one or the head has a `Transfer-Encoding`.
    public mutating func noteContentLength(utf8 value: UnsafeRawBufferPointer) throws(Fault) {
        guard !self.headEnded else { return }
        let length = Self.plainLength(value)
        if self.contentLengthFields > 0 {
            let same: Bool
            if let firstLength = self.firstLength {
                same = length == firstLength
            } else {
                same = length == nil && (self.firstText ?? "").utf8.elementsEqual(value)
            }
            if !same { throw .conflictingContentLength }
        } else if let length {
            self.firstLength = length
        } else {
            self.firstText = String(decoding: value, as: UTF8.self)
        }
        self.contentLengthFields += 1
        if self.hasTransferEncoding { throw .contentLengthWithTransferEncoding }
    }

    /// Notes a `Transfer-Encoding` field of the head, whatever its value.
    /// - Throws: ``Fault`` when the head has a `Content-Length`.
    public mutating func noteTransferEncoding() throws(Fault) {
        guard !self.headEnded else { return }
        self.hasTransferEncoding = true
        if self.contentLengthFields > 0 { throw .contentLengthWithTransferEncoding }
    }

    /// Notes a `Content-Encoding` field of the head, whatever its value.
    public mutating func noteContentEncoding() {
        guard !self.headEnded else { return }
        self.hasContentEncoding = true
    }

    /// The empty line that ends the head: header lines after it are trailers of a chunked body.
    public mutating func noteEndOfHead() {
        self.headEnded = true
    }

    /// The body length fanout may declare to a client: the partner's `Content-Length` when it is the only one,
    /// all digits, the answer has no `Transfer-Encoding`, and libcurl hands the body over as it was framed.
    /// - Parameter decodedByLibcurl: the call asked libcurl to decode content codings (`accept_encoding`): then
    ///   an answer with a `Content-Encoding` arrives decoded, and its `Content-Length` counts encoded bytes.
    /// Inlinable, as ``hasContentLength`` is: called on a transfer's framing, the struct (and its text) was
    /// copied out of the transfer for the call and destroyed after it (about 80 instructions per call).
    @inlinable public func declaredLength(decodedByLibcurl: Bool) -> Int? {
        guard self.contentLengthFields == 1, !self.hasTransferEncoding, !(decodedByLibcurl && self.hasContentEncoding)
        else { return nil }
        if let firstLength = self.firstLength { return firstLength }
        return self.declaredLengthFromText()
    }

    /// ``declaredLength(decodedByLibcurl:)`` of a first value not written plainly (a leading zero).
    @usableFromInline func declaredLengthFromText() -> Int? {
        self.firstText.flatMap { Self.decimalLength($0) }
    }

    /// `value` as a length when it is written plainly: 1 to 18 digits, without a leading zero unless it is `0`
    /// (then the number gives back the text, see ``contentLengthText``); nil for any other value.
    static func plainLength(_ value: UnsafeRawBufferPointer) -> Int? {
        guard value.count == 1 || value.first != 0x30 else { return nil }
        return decimal(value)
    }

    /// `1*DIGIT` (RFC 9110 §8.6) as an Int: no sign, no space, no list, at most 18 digits (no overflow).
    static func decimalLength(_ text: String) -> Int? {
        decimal(text.utf8)
    }

    /// ``decimalLength(_:)`` of any bytes: the one digit loop of both readings.
    @inline(__always)
    private static func decimal(_ bytes: some Sequence<UInt8>) -> Int? {
        var value = 0
        var digits = 0
        for byte in bytes {
            guard ASCII.isDigit(byte), digits < 18 else { return nil }
            value = value * 10 + Int(byte &- 0x30)
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
