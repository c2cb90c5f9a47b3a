/// The partner's response header fields that a proxy route passes back to its client, kept as the bytes of their
/// lines (`Name: value\r\n`), in the partner's order.
///
/// A proxied answer's fields go from libcurl's header callback to the client's head unchanged: making two Strings
/// of every field and writing them out again cost about 4,000 instructions per answer of five fields (callgrind),
/// for bytes that are copied, not read. The fields that describe the upstream hop or its framing, and those fanout
/// writes itself (``FieldRole``), are left out as they arrive. The few paths that need the fields one by one (a
/// `response_headers` overlay, an answer without body bytes) read ``fields``.
public struct ProxiedHeaderLines: Sendable {
    /// The lines, each `Name: value\r\n`.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }

    /// Forgets the lines of an earlier answer (after a 1xx, or for the handle's next transfer), keeping the
    /// storage.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Appends one field, unless it is a ``FieldRole/hop`` field or one fanout writes itself
    /// (``FieldRole/setByFanout``: `Date`, `X-Request-Id`). `name` and `value` are the bytes of one header line,
    /// without the colon, the surrounding whitespace or the line's end.
    public mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard FieldRole.of(name) == .endToEnd else { return }
        bytes.reserveCapacity(bytes.count + name.count + value.count + 4)
        bytes.append(contentsOf: name)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: value)
        bytes.append(13)
        bytes.append(10)
    }

    /// The fields one by one, in order.
    public var fields: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        var lineStart = 0
        var colon: Int?
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: ":") where colon == nil:
                colon = index
            case 10:
                if let colon {
                    fields.append(
                        (
                            name: String(decoding: bytes[lineStart..<colon], as: UTF8.self),
                            value: String(decoding: bytes[(colon + 2)..<(index - 1)], as: UTF8.self)
                        ))
                }
                lineStart = index + 1
                colon = nil
            default:
                break
            }
        }
        return fields
    }
}
