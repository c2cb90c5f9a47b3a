/// A growable stack on raw memory, used by the parser to collect the elements and members of the containers
/// that are still open. Closing a container *moves* its elements into an exactly sized `Array` (no
/// retain/release per element, no over-allocation in the tree).
struct JSONBuildStack<Element>: ~Copyable {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 8)
        self.base = .allocate(capacity: self.capacity)
    }

    deinit {
        self.base.deinitialize(count: self.count)
        self.base.deallocate()
    }

    @inline(__always)
    mutating func push(_ element: consuming Element) {
        if self.count == self.capacity { self.grow(minimum: self.count + 1) }
        (self.base + self.count).initialize(to: element)
        self.count += 1
    }

    /// Makes room for `extra` more elements without further growth.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if self.capacity - self.count < extra { self.grow(minimum: self.count + extra) }
    }

    private mutating func grow(minimum: Int) {
        var newCapacity = self.capacity * 2
        while newCapacity < minimum { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: self.base, count: self.count)
        self.base.deallocate()
        self.base = newBase
        self.capacity = newCapacity
    }

    /// Up to this many elements, ``popArray(from:)`` moves them one by one (see there).
    static var smallContainer: Int { 16 }

    /// Moves the elements from `start` to the top into a new array and removes them from the stack.
    mutating func popArray(from start: Int) -> [Element] {
        let n = self.count - start
        guard n > 0 else { return [] }
        let source = self.base + start
        // A small container (most of a partner's answer) is moved into an array reserved through code
        // specialized here: `Array(unsafeUninitializedCapacity:)` allocates through the standard library's
        // unspecialized path, which looks up the array's generic metadata at run time (about 600 instructions
        // per array, callgrind), more than moving a few elements one by one.
        if n <= Self.smallContainer {
            var result: [Element] = []
            result.reserveCapacity(n)
            for index in 0..<n { result.append((source + index).move()) }
            self.count = start
            return result
        }
        let result = [Element](unsafeUninitializedCapacity: n) { buffer, initialized in
            buffer.baseAddress!.moveInitialize(from: source, count: n)
            initialized = n
        }
        self.count = start
        return result
    }

    /// Removes the elements from `newCount` to the top.
    @inline(__always)
    mutating func truncate(to newCount: Int) {
        (self.base + newCount).deinitialize(count: self.count - newCount)
        self.count = newCount
    }
}

extension JSONBuildStack where Element == UInt8 {
    /// Appends `n` bytes from `source`.
    @inline(__always)
    mutating func append(_ source: UnsafePointer<UInt8>, count n: Int) {
        self.reserve(n)
        (self.base + self.count).initialize(from: source, count: n)
        self.count += n
    }
}
