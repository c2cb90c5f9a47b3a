extension JSONValue {
    /// Parses exactly one JSON text (RFC 8259, strict).
    ///
    /// Accepts exactly the texts ``JSONValidator/isValid(_:maxDepth:)-([UInt8],_)`` accepts: any value at the top
    /// level, optional whitespace (space, tab, LF, CR) around it and nothing else; well-formed UTF-8 only; no raw
    /// control characters in strings; only the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`, where a high surrogate
    /// escape must be directly followed by a low surrogate escape (the pair becomes one scalar) and a low
    /// surrogate may not stand alone; the exact number grammar (any magnitude; the text is kept as written);
    /// no byte order mark.
    ///
    /// Duplicate keys follow JavaScript's `JSON.parse`: the last value wins, at the position of the key's first
    /// occurrence. Keys are compared by their decoded UTF-8 bytes.
    ///
    /// The parser is a loop with explicit stacks, not a recursion, so nesting deeper than `maxDepth` (say, a
    /// hundred thousand `[`) fails cleanly as soon as level `maxDepth + 1` opens.
    ///
    /// - Parameters:
    ///   - bytes: the text.
    ///   - maxDepth: how many arrays/objects may be open at once (default 512); one more is an error.
    /// - Throws: ``JSONParseError`` with the byte offset of the first problem.
    public init(parsing bytes: [UInt8], maxDepth: Int = 512) throws(JSONParseError) {
        // `withUnsafeBytes` rethrows untyped errors; carry the typed one out in a `Result`.
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> JSONValue in try JSONValue(parsing: raw, maxDepth: maxDepth) }
        }
        self = try result.get()
    }

    /// Parses the bytes of a slice; same rules as the array overload. Error offsets count from the slice's first
    /// byte (`startIndex`), not from the start of the underlying array.
    public init(parsing bytes: ArraySlice<UInt8>, maxDepth: Int = 512) throws(JSONParseError) {
        // `withUnsafeBytes` rethrows untyped errors; carry the typed one out in a `Result`.
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) -> JSONValue in try JSONValue(parsing: raw, maxDepth: maxDepth) }
        }
        self = try result.get()
    }

    /// Parses the bytes of a raw buffer (read only during the call); same rules as the array overload.
    public init(parsing bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws(JSONParseError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(offset: 0, message: "empty input")
        }
        var parser = JSONParser(base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: maxDepth)
        self = try parser.parse()
    }
}

/// The parse loop. Open containers are frames; their finished elements wait on `values` (arrays) or `members`
/// (objects, with a parallel stack of key hashes for duplicate detection) until the container closes.
struct JSONParser: ~Copyable {
    /// One open array or object.
    struct Frame {
        /// Where this container's elements/members start on their stack.
        var start: Int
        var isObject: Bool
        /// Objects: the member position the next value is stored at.
        var slot: Int = 0
        /// Objects with more than `linearLimit` members: key hash → first member position with that hash.
        var table: [UInt64: Int]? = nil
    }

    /// Objects up to this many members look for a duplicate key by scanning their key hashes.
    static let linearLimit = 32

    let p: UnsafePointer<UInt8>
    let end: Int
    let maxDepth: Int
    var i = 0
    var depth = 0
    var top = Frame(start: 0, isObject: false)
    var frames: [Frame] = []
    var values: JSONBuildStack<JSONValue>
    var members: JSONBuildStack<JSONMember>
    var hashes: JSONBuildStack<UInt64>
    /// Decoded bytes of a string with escapes.
    var scratch: JSONBuildStack<UInt8>
    /// Recently created keys by hash slot (see `keyString`).
    /// Built with `Array(filling:count:)`: see its note on `Array(repeating:count:)`.
    var keyCache: [(hash: UInt64, key: String)] = Array(filling: (0, ""), count: 64)

    init(_ p: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        self.p = p
        self.end = count
        self.maxDepth = max(0, maxDepth)
        let guess = min(max(count / 32, 16), 4096)
        self.values = JSONBuildStack(capacity: guess)
        self.members = JSONBuildStack(capacity: guess)
        self.hashes = JSONBuildStack(capacity: guess)
        self.scratch = JSONBuildStack(capacity: 64)
    }

    // MARK: - Grammar

    mutating func parse() throws(JSONParseError) -> JSONValue {
        self.skipWhitespace()
        value: while true {
            guard self.i < self.end else { throw self.error(self.end, "unexpected end of input, expected a value") }
            var v: JSONValue
            switch self.p[self.i] {
            case UInt8(ascii: "{"):
                try self.open(isObject: true)
                self.skipWhitespace()
                guard self.i < self.end else { throw self.error(self.end, "unexpected end of input in an object") }
                if self.p[self.i] == UInt8(ascii: "}") {
                    self.i += 1
                    self.closeEmpty()
                    v = .object([])
                } else {
                    try self.memberName()
                    continue value
                }
            case UInt8(ascii: "["):
                try self.open(isObject: false)
                self.skipWhitespace()
                guard self.i < self.end else { throw self.error(self.end, "unexpected end of input in an array") }
                if self.p[self.i] == UInt8(ascii: "]") {
                    self.i += 1
                    self.closeEmpty()
                    v = .array([])
                } else {
                    continue value
                }
            case UInt8(ascii: "\""):
                v = .string(try self.string())
            case UInt8(ascii: "t"):
                try self.literal("true")
                v = .bool(true)
            case UInt8(ascii: "f"):
                try self.literal("false")
                v = .bool(false)
            case UInt8(ascii: "n"):
                try self.literal("null")
                v = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                v = .number(try self.number())
            default:
                throw self.error(self.i, "unexpected character, expected a value")
            }

            // A value is complete: store it, then close containers until a ',' asks for the next value.
            while true {
                self.skipWhitespace()
                if self.depth == 0 {
                    guard self.i == self.end else { throw self.error(self.i, "unexpected character after the value") }
                    return v
                }
                if self.top.isObject {
                    (self.members.base + self.top.slot).pointee.value = v
                } else {
                    self.values.push(v)
                }
                guard self.i < self.end else {
                    throw self.error(self.end, self.top.isObject ? "unterminated object" : "unterminated array")
                }
                let c = self.p[self.i]
                if c == UInt8(ascii: ",") {
                    self.i += 1
                    self.skipWhitespace()
                    if self.top.isObject { try self.memberName() }
                    continue value
                }
                if self.top.isObject {
                    guard c == UInt8(ascii: "}") else { throw self.error(self.i, "expected ',' or '}' in an object") }
                    self.i += 1
                    let closed = self.members.popArray(from: self.top.start)
                    self.hashes.truncate(to: self.top.start)
                    v = .object(closed)
                } else {
                    guard c == UInt8(ascii: "]") else { throw self.error(self.i, "expected ',' or ']' in an array") }
                    self.i += 1
                    v = .array(self.values.popArray(from: self.top.start))
                }
                self.closeEmpty()
            }
        }
    }

    /// Opens a container at `i` (the `{` or `[`) and steps past it.
    @inline(__always)
    private mutating func open(isObject: Bool) throws(JSONParseError) {
        guard self.depth < self.maxDepth else {
            throw self.error(self.i, "nesting deeper than \(self.maxDepth) levels")
        }
        if self.depth > 0 { self.frames.append(self.top) }
        self.top = Frame(start: isObject ? self.members.count : self.values.count, isObject: isObject)
        self.depth += 1
        self.i += 1
    }

    /// Drops the top frame (its contents were already taken).
    @inline(__always)
    private mutating func closeEmpty() {
        self.depth -= 1
        if self.depth > 0 { self.top = self.frames.removeLast() }
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while self.i < self.end {
            switch self.p[self.i] {
            case 0x20, 0x0A, 0x0D, 0x09: self.i += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        let expected = word.utf8Start
        for k in 0..<count {
            guard self.i + k < self.end else { throw self.error(self.end, "unexpected end of input in '\(word)'") }
            guard self.p[self.i + k] == expected[k] else {
                throw self.error(self.i + k, "invalid literal, expected '\(word)'")
            }
        }
        self.i += count
    }

    // MARK: - Members

    /// Reads `"name" :` and whitespace at `i`, and decides where the member's value goes: a new member, or, for a
    /// repeated key, the position of its first occurrence.
    private mutating func memberName() throws(JSONParseError) {
        guard self.i < self.end else { throw self.error(self.end, "unexpected end of input, expected a member name") }
        guard self.p[self.i] == UInt8(ascii: "\"") else {
            throw self.error(self.i, "expected a member name (a string)")
        }
        let quote = self.i
        let key = try self.stringBytes()
        let hash = JSONKey.hash(UnsafeRawPointer(key.baseAddress), count: key.count)
        let start = self.top.start
        let count = self.members.count

        var slot = -1
        // (No `if let` binding of the table: a second reference would make the insertion below copy it.)
        if self.top.table != nil {
            if let first = self.top.table![hash] {
                slot = self.memberEqual(first, key) ? first : self.scan(hash, key, from: start, to: count)
            }
        } else {
            slot = self.scan(hash, key, from: start, to: count)
        }
        if slot < 0 {
            let name = try self.keyString(key, hash: hash, quote: quote)
            slot = count
            self.members.push(JSONMember(key: name, value: .null))
            self.hashes.push(hash)
            if self.top.table != nil {
                if self.top.table![hash] == nil { self.top.table![hash] = slot }
            } else if count + 1 - start > Self.linearLimit {
                var table: [UInt64: Int] = [:]
                table.reserveCapacity(2 * Self.linearLimit)
                for position in (start...slot).reversed() { table[self.hashes.base[position]] = position }
                self.top.table = table
            }
        }
        self.top.slot = slot

        self.skipWhitespace()
        guard self.i < self.end else { throw self.error(self.end, "unexpected end of input, expected ':'") }
        guard self.p[self.i] == UInt8(ascii: ":") else { throw self.error(self.i, "expected ':' after a member name") }
        self.i += 1
        self.skipWhitespace()
    }

    /// Linear search of this object's members for `key`; -1 when absent.
    @inline(__always)
    private func scan(_ hash: UInt64, _ key: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        let hashes = self.hashes.base
        var position = start
        while position < end {
            if hashes[position] == hash && self.memberEqual(position, key) { return position }
            position += 1
        }
        return -1
    }

    private func memberEqual(_ position: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        Self.bytesEqual(self.members.base[position].key, key)
    }

    @inline(__always)
    private static func bytesEqual(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let utf8 = s.utf8
        guard utf8.count == bytes.count else { return false }
        return utf8.withContiguousStorageIfAvailable {
            JSONKey.equal(UnsafeRawPointer($0.baseAddress), UnsafeRawPointer(bytes.baseAddress), count: bytes.count)
        } ?? utf8.elementsEqual(bytes)
    }

    /// The `String` for a new member's key. Keys repeat across the objects of an array, so the last key seen
    /// with each hash slot is remembered and reused (sharing its storage) instead of being decoded again.
    @inline(__always)
    private mutating func keyString(
        _ key: UnsafeBufferPointer<UInt8>,
        hash: UInt64,
        quote: Int
    ) throws(JSONParseError) -> String {
        let slot = Int(truncatingIfNeeded: hash >> 58)  // 64 slots
        let cached = self.keyCache[slot]
        if cached.hash == hash && Self.bytesEqual(cached.key, key) { return cached.key }
        guard Self.isValidUTF8(key) else {
            throw self.error(self.invalidUTF8Offset(from: quote + 1), "invalid UTF-8 in a string")
        }
        let name = String(decoding: key, as: UTF8.self)
        self.keyCache[slot] = (hash, name)
        return name
    }

    // MARK: - Errors

    func error(_ offset: Int, _ message: String) -> JSONParseError {
        JSONParseError(offset: offset, message: message)
    }
}
