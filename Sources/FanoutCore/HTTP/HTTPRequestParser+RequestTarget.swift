// MARK: - Request-target forms (RFC 9112 §3.2)

extension HTTPRequestParser {
    /// Checks that the target's form fits the method, once the target is complete (its bytes are already known
    /// to be 0x21–0x7E without `#`): origin-form `/…` for any method but CONNECT; absolute-form `scheme://authority…`
    /// (kept raw, its authority's host must be a valid Host value); asterisk-form `*` only for OPTIONS;
    /// authority-form `host:port` only, and always, for CONNECT.
    ///
    /// - Returns: for absolute-form, the range (offsets into `buffer`) of the authority's `host[:port]`, which
    ///   replaces the Host field (RFC 9112 §3.2.2); nil for the other forms.
    func validateTargetForm(_ buffer: UnsafeRawBufferPointer) throws(HTTPParserError) -> Range<Int>? {
        let target = UnsafeRawBufferPointer(rebasing: buffer[targetStart..<targetEnd])
        let method = UnsafeRawBufferPointer(rebasing: buffer[methodStart..<methodEnd])
        if Self.equals(method, "CONNECT") {
            guard Self.isAuthorityForm(target) else { throw .invalidRequestTarget }
            return nil
        }
        if target[0] == ASCII.slash { return nil }
        if target.count == 1, target[0] == 0x2A {  // *
            guard Self.equals(method, "OPTIONS") else { throw .invalidRequestTarget }
            return nil
        }
        guard let authorityStart = Self.absoluteFormAuthorityStart(target),
            let host = Self.absoluteFormHost(target, authorityStart: authorityStart)
        else { throw .invalidRequestTarget }
        return (targetStart + host.lowerBound)..<(targetStart + host.upperBound)
    }

    /// `scheme "://" authority …` with scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) and a non-empty
    /// authority: the offset of the authority's first byte, or nil when the target is not of that shape.
    static func absoluteFormAuthorityStart(_ target: UnsafeRawBufferPointer) -> Int? {
        guard isAlpha(target[0]) else { return nil }
        var index = 1
        while index < target.count, isSchemeByte(target[index]) {
            index += 1
        }
        guard index + 3 < target.count, target[index] == ASCII.colon, target[index + 1] == ASCII.slash,
            target[index + 2] == ASCII.slash
        else { return nil }
        let authorityStart = target[index + 3]
        guard authorityStart != ASCII.slash && authorityStart != 0x3F else { return nil }  // ?
        return index + 3
    }

    /// `host ":" port` (RFC 9112 §3.2.3): a reg-name or IPv4 of unreserved, sub-delims and `%`, or an IP-literal in
    /// brackets; a port of 1–5 digits.
    static func isAuthorityForm(_ target: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        if target[0] == 0x5B {  // [
            index = 1
            while index < target.count, target[index] != 0x5D {  // ]
                guard isIPLiteralByte(target[index]) else { return false }
                index += 1
            }
            guard index > 1, index < target.count else { return false }
            index += 1
        } else {
            while index < target.count, isRegNameByte(target[index]) {
                index += 1
            }
            guard index > 0 else { return false }
        }
        guard index < target.count, target[index] == ASCII.colon else { return false }
        let portDigits = target.count - index - 1
        guard (1...5).contains(portDigits) else { return false }
        for position in (index + 1)..<target.count where !ASCII.isDigit(target[position]) {
            return false
        }
        return true
    }

    /// Case-sensitive comparison (methods are case-sensitive, RFC 9110 §9.1).
    static func equals(_ bytes: UnsafeRawBufferPointer, _ expected: StaticString) -> Bool {
        guard bytes.count == expected.utf8CodeUnitCount else { return false }
        let start = expected.utf8Start
        for index in 0..<bytes.count where bytes[index] != start[index] {
            return false
        }
        return true
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- 0x61 < 26
    }

    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        isAlpha(byte) || ASCII.isDigit(byte) || byte == 0x2B || byte == 0x2D || byte == 0x2E  // + - .
    }

    /// unreserved / sub-delims / "%" (RFC 3986 §3.2.2 reg-name, pct-encoded checked loosely).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x2D, 0x2E, 0x5F, 0x7E: return true  // - . _ ~
        case 0x21, 0x24, 0x26...0x2C, 0x3B, 0x3D: return true  // ! $ & ' ( ) * + , ; =
        case 0x25: return true  // %
        default: return false
        }
    }

    /// Inside `[…]`: hex digits, `:`, `.`, and what IPvFuture and zone IDs use.
    private static func isIPLiteralByte(_ byte: UInt8) -> Bool {
        byte == ASCII.colon || isRegNameByte(byte)
    }
}
