/// Byte classes of RFC 9110/9112, as branch-light tests on `UInt8` for the parser's scanning loops.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let hash: UInt8 = 0x23
    static let comma: UInt8 = 0x2C
    static let slash: UInt8 = 0x2F
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let backslash: UInt8 = 0x5C

    /// tchar (RFC 9110 §5.6.2): `!#$%&'*+-.^_`|~`, DIGIT, ALPHA. One bit per byte below 0x80.
    @inline(__always)
    static func isTokenChar(_ byte: UInt8) -> Bool {
        let word: UInt64
        switch byte >> 6 {
        case 0: word = 0x03FF_6CFA_0000_0000
        case 1: word = 0x57FF_FFFF_C7FF_FFFE
        default: return false
        }
        return word & (1 &<< UInt64(byte & 63)) != 0
    }

    /// field-vchar or SP/HTAB (RFC 9110 §5.5): HTAB, SP, 0x21–0x7E, obs-text 0x80–0xFF.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == tab
    }

    /// A request-target byte: visible ASCII 0x21–0x7E except `#` (a fragment is never sent; HAProxy rejects it).
    @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool {
        byte &- 0x21 < 0x5E && byte != hash
    }

    /// OWS (RFC 9110 §5.6.3): SP or HTAB.
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- 0x30 < 10
    }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: return Int(byte &- 0x30)
        case 0x41...0x46: return Int(byte &- 0x41 &+ 10)
        case 0x61...0x66: return Int(byte &- 0x61 &+ 10)
        default: return nil
        }
    }

    /// qdtext (RFC 9110 §5.6.4): HTAB, SP, 0x21, 0x23–0x5B, 0x5D–0x7E, obs-text.
    @inline(__always)
    static func isQuotedTextByte(_ byte: UInt8) -> Bool {
        isFieldValueByte(byte) && byte != quote && byte != backslash
    }
}
