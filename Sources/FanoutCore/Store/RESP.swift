/// A value of the Redis serialization protocol, version 2 (what Redis and Valkey answer on a connection that
/// did not send `HELLO 3`).
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR ...`: the server refused the command; the connection is fine.
    case error(String)
    /// `:42`
    case integer(Int)
    /// `$3 foo`
    case bulkString([UInt8])
    /// `*2 ...`
    case array([RESPValue])
    /// `$-1` or `*-1`: no such key, or `SET ... NX` that did not set.
    case null

    /// The bytes of a simple or bulk string; nil for any other value.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The text of a simple or bulk string (bytes decoded as UTF-8); nil for any other value.
    public var text: String? {
        bytes.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Writes commands as RESP arrays of bulk strings (the only form a client sends).
public enum RESPEncoder {
    /// Appends `command` (name and arguments) to `buffer`.
    public static func append(_ command: [String], to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        appendDecimal(command.count, to: &buffer)
        for argument in command {
            var argument = argument
            argument.withUTF8 { appendBulk($0, to: &buffer) }
        }
    }

    /// Appends a command whose arguments are bytes (a cache entry's value).
    public static func append(_ command: [[UInt8]], to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        appendDecimal(command.count, to: &buffer)
        for argument in command {
            argument.withUnsafeBufferPointer { appendBulk($0, to: &buffer) }
        }
    }

    public static func encode(_ command: [String]) -> [UInt8] {
        var buffer: [UInt8] = []
        append(command, to: &buffer)
        return buffer
    }

    private static func appendBulk(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count, to: &buffer)
        buffer.append(contentsOf: bytes)
        buffer.append(contentsOf: [13, 10])
    }

    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(value).utf8)
        buffer.append(contentsOf: [13, 10])
    }
}

/// Why bytes from the store are not RESP2: the connection cannot be trusted any further and is closed.
public enum RESPParseError: Error, Sendable, Equatable {
    /// A value starts with a byte that is none of `+ - : $ *`.
    case unknownType(UInt8)
    /// A length or integer line is not a decimal number (or a length below -1).
    case invalidNumber
    /// A bulk string is not followed by CRLF.
    case missingTerminator
    /// A length above the parser's limit.
    case tooLarge(Int)
    /// Arrays nested deeper than the parser's limit.
    case tooDeep
}

/// An incremental RESP2 parser: bytes go in as they arrive (split anywhere), whole values come out.
///
/// Nothing is parsed twice: a value that is not complete yet leaves the parser where it stopped (the stack of
/// open arrays is kept), and the next ``append(_:)`` resumes there.
public struct RESPParser: Sendable {
    /// The largest bulk string or array accepted (Redis' own `proto-max-bulk-len` default is 512 MB).
    public let maxLength: Int
    public static let maxDepth = 16
    private var buffer: [UInt8] = []
    private var position = 0
    /// Arrays being filled: the elements so far and how many are expected.
    private var open: [(elements: [RESPValue], expected: Int)] = []

    public init(maxLength: Int = 64 * 1024 * 1024) {
        self.maxLength = maxLength
    }

    /// Bytes received and not yet taken by a complete value.
    public var bufferedBytes: Int { buffer.count - position }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        } else if position > 4096 && position * 2 > buffer.count {
            buffer.removeFirst(position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete value, or nil when more bytes are needed.
    public mutating func next() throws(RESPParseError) -> RESPValue? {
        while true {
            guard let value = try scalar() else { return nil }
            if case .array(let elements) = value, elements.isEmpty, let count = pendingArrayCount {
                pendingArrayCount = nil
                if count > 0 {
                    guard open.count < Self.maxDepth else { throw .tooDeep }
                    open.append(([], count))
                    continue
                }
            }
            var finished = value
            while !open.isEmpty {
                open[open.count - 1].elements.append(finished)
                guard open[open.count - 1].elements.count == open[open.count - 1].expected else { break }
                finished = .array(open.removeLast().elements)
            }
            if open.isEmpty { return finished }
        }
    }

    /// The count of an array header just read by ``scalar()`` (which returns it as an empty array).
    private var pendingArrayCount: Int?

    /// One value that is not an array, or an array header (an empty `.array` with `pendingArrayCount` set).
    private mutating func scalar() throws(RESPParseError) -> RESPValue? {
        guard position < buffer.count else { return nil }
        guard let lineEnd = lineEnd(from: position + 1) else { return nil }
        let type = buffer[position]
        let line = buffer[(position + 1)..<lineEnd]
        switch type {
        case UInt8(ascii: "+"):
            position = lineEnd + 2
            return .simpleString(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            position = lineEnd + 2
            return .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            let value = try Self.decimal(line)
            position = lineEnd + 2
            return .integer(value)
        case UInt8(ascii: "$"):
            let length = try Self.decimal(line)
            if length == -1 {
                position = lineEnd + 2
                return .null
            }
            guard length >= 0 else { throw .invalidNumber }
            guard length <= maxLength else { throw .tooLarge(length) }
            let start = lineEnd + 2
            guard buffer.count >= start + length + 2 else { return nil }
            guard buffer[start + length] == 13, buffer[start + length + 1] == 10 else { throw .missingTerminator }
            position = start + length + 2
            return .bulkString(Array(buffer[start..<(start + length)]))
        case UInt8(ascii: "*"):
            let count = try Self.decimal(line)
            position = lineEnd + 2
            if count == -1 { return .null }
            guard count >= 0 else { throw .invalidNumber }
            guard count <= maxLength else { throw .tooLarge(count) }
            pendingArrayCount = count
            return .array([])
        default:
            throw .unknownType(type)
        }
    }

    /// The index of the CR of the next CRLF at or after `start`; nil when it has not arrived.
    private func lineEnd(from start: Int) -> Int? {
        var index = start
        while index + 1 < buffer.count {
            if buffer[index] == 13 && buffer[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) throws(RESPParseError) -> Int {
        var negative = false
        var slice = digits
        if slice.first == UInt8(ascii: "-") {
            negative = true
            slice = slice.dropFirst()
        }
        guard !slice.isEmpty, slice.count <= 18 else { throw .invalidNumber }
        var value = 0
        for byte in slice {
            guard byte >= 48 && byte <= 57 else { throw .invalidNumber }
            value = value * 10 + Int(byte - 48)
        }
        return negative ? -value : value
    }
}
