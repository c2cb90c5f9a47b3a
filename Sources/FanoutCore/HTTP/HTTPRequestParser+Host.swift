// MARK: - Host (RFC 9112 §3.2, RFC 9110 §7.2)

extension HTTPRequestParser {
    /// Whether `value` is a valid Host field value: `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), or
    /// empty (what a client sends when the target URI has no authority, RFC 9112 §3.2).
    ///
    /// `uri-host` is an IP-literal in brackets, or a reg-name (which covers IPv4 addresses) of unreserved,
    /// sub-delims and well-formed `%HH`. A port is at most five digits and at most 65535; `host:` (empty port) is
    /// valid URI syntax and accepted. Anything else (spaces, `/`, `@`, `\`, obs-text, a stray `%`) is invalid.
    static func isValidHost(_ value: UnsafeRawBufferPointer) -> Bool {
        guard !value.isEmpty else { return true }
        var index = 0
        if value[0] == 0x5B {  // [
            guard let close = value.firstIndex(of: 0x5D),  // ]
                isIPLiteral(UnsafeRawBufferPointer(rebasing: value[1..<close]))
            else { return false }
            index = close + 1
        } else {
            while index < value.count, value[index] != ASCII.colon {
                let byte = value[index]
                if byte == 0x25 {  // %
                    guard index + 2 < value.count, ASCII.hexValue(value[index + 1]) != nil,
                        ASCII.hexValue(value[index + 2]) != nil
                    else { return false }
                    index += 3
                    continue
                }
                guard isUnreservedOrSubDelim(byte) else { return false }
                index += 1
            }
            guard index > 0 else { return false }
        }
        guard index < value.count else { return true }
        guard value[index] == ASCII.colon else { return false }
        let digits = value.count - index - 1
        guard digits <= 5 else { return false }
        var port = 0
        for position in (index + 1)..<value.count {
            guard ASCII.isDigit(value[position]) else { return false }
            port = port * 10 + Int(value[position] &- 0x30)
        }
        return port <= 65535
    }

    /// The `host [":" port]` part of an absolute-form target's authority (userinfo dropped), as a range into
    /// `target`, or nil when the authority is malformed. The caller has checked `scheme "://"` and that the
    /// authority does not start with `/` or `?`.
    ///
    /// RFC 9112 §3.2.2: for an absolute-form target the server MUST ignore Host and use this instead. Userinfo
    /// (`user:pass@`) is tolerated, as llhttp does, but never part of the host; fanout never dials this authority.
    static func absoluteFormHost(_ target: UnsafeRawBufferPointer, authorityStart: Int) -> Range<Int>? {
        var end = authorityStart
        while end < target.count, target[end] != ASCII.slash, target[end] != 0x3F {  // ?
            end += 1
        }
        var hostStart = authorityStart
        if let at = UnsafeRawBufferPointer(rebasing: target[authorityStart..<end]).lastIndex(of: 0x40) {  // @
            let userinfoEnd = authorityStart + at
            for index in authorityStart..<userinfoEnd {
                let byte = target[index]
                guard isUnreservedOrSubDelim(byte) || byte == ASCII.colon || byte == 0x25 else { return nil }
            }
            hostStart = userinfoEnd + 1
        }
        guard hostStart < end, isValidHost(UnsafeRawBufferPointer(rebasing: target[hostStart..<end])) else {
            return nil
        }
        return hostStart..<end
    }

    /// Inside `[…]`: an IPv6 address (hex digits, `:` and `.` for an embedded IPv4, at least two colons), or
    /// IPvFuture `v HEXDIG+ "." ( unreserved / sub-delims / ":" )+`. Zone identifiers are not accepted.
    private static func isIPLiteral(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return false }
        if bytes[0] | 0x20 == 0x76 {  // v
            guard let dot = bytes.firstIndex(of: 0x2E), dot > 1, dot + 1 < bytes.count else { return false }
            for index in 1..<dot where ASCII.hexValue(bytes[index]) == nil {
                return false
            }
            for index in (dot + 1)..<bytes.count
            where !isUnreservedOrSubDelim(bytes[index]) && bytes[index] != ASCII.colon {
                return false
            }
            return true
        }
        var colons = 0
        for byte in bytes {
            if byte == ASCII.colon {
                colons += 1
            } else if ASCII.hexValue(byte) == nil && byte != 0x2E {
                return false
            }
        }
        return colons >= 2
    }

    /// unreserved (`ALPHA DIGIT - . _ ~`) or sub-delims (`! $ & ' ( ) * + , ; =`), RFC 3986 §2.2–2.3.
    private static func isUnreservedOrSubDelim(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x2D, 0x2E, 0x5F, 0x7E: return true  // - . _ ~
        case 0x21, 0x24, 0x26...0x2C, 0x3B, 0x3D: return true  // ! $ & ' ( ) * + , ; =
        default: return false
        }
    }
}
