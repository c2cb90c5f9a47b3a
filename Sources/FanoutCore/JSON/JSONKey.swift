/// Key comparison by UTF-8 bytes, as JSON defines string equality (code unit by code unit), instead of
/// Swift's `String ==`, which treats canonically equivalent strings (`"é"` and `"e\u0301"`) as equal.
enum JSONKey {
    /// Whether `a` and `b` have the same UTF-8 bytes.
    @inline(__always)
    static func equal(_ a: String, _ b: String) -> Bool {
        let au = a.utf8
        let bu = b.utf8
        guard au.count == bu.count else { return false }
        let fast: Bool?? = au.withContiguousStorageIfAvailable { pa in
            bu.withContiguousStorageIfAvailable { pb in
                Self.equal(UnsafeRawPointer(pa.baseAddress), UnsafeRawPointer(pb.baseAddress), count: pa.count)
            }
        }
        if let fast, let fast { return fast }
        return au.elementsEqual(bu)
    }

    /// Compares `count` bytes at `a` and `b`, eight at a time.
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer?, _ b: UnsafeRawPointer?, count: Int) -> Bool {
        guard count > 0, let a, let b else { return true }
        var i = 0
        while i + 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        while i < count {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// A fast 64-bit hash of `count` bytes (not keyed: used only to pre-filter comparisons and to index large
    /// objects, never trusted without a byte comparison).
    @inline(__always)
    static func hash(_ p: UnsafeRawPointer?, count: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
        guard let p else { return h }
        var i = 0
        while i + 8 <= count {
            h = (h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 32)
    }

    /// The hash of `s`'s UTF-8 bytes; equal to ``hash(_:count:)`` over the same bytes.
    static func hash(_ s: String) -> UInt64 {
        if let h = s.utf8.withContiguousStorageIfAvailable({
            Self.hash(UnsafeRawPointer($0.baseAddress), count: $0.count)
        }) {
            return h
        }
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBytes { Self.hash($0.baseAddress, count: $0.count) }
    }
}

/// Finds members of an object by key: a linear scan while the object is small, a hash index above
/// ``linearLimit`` members. Keys compare by UTF-8 bytes.
struct JSONMemberIndex {
    /// Objects up to this many members are scanned linearly.
    static let linearLimit = 16

    private let members: [JSONMember]
    private let table: [JSONKeyBox: Int]?

    init(_ members: [JSONMember]) {
        self.members = members
        if members.count > Self.linearLimit {
            var table: [JSONKeyBox: Int] = [:]
            table.reserveCapacity(members.count)
            for (position, member) in members.enumerated() {
                table[JSONKeyBox(member.key)] = position
            }
            self.table = table
        } else {
            self.table = nil
        }
    }

    /// The position of the member named `key`, or nil.
    func position(of key: String) -> Int? {
        if let table = self.table { return table[JSONKeyBox(key)] }
        for position in self.members.indices where JSONKey.equal(self.members[position].key, key) {
            return position
        }
        return nil
    }
}
