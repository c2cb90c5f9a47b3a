extension Array {
    /// `count` copies of `value`: `Array(repeating:count:)` without its run-time metadata lookup.
    ///
    /// `Array(repeating:count:)` allocates through the standard library's unspecialized
    /// `_allocateBufferUninitialized`, which asks the runtime for `_ContiguousArrayStorage<Element>`'s generic
    /// metadata on every call: about 650 instructions per array under callgrind, more than filling it. The
    /// per-request arrays (a composite run's call states, its call log) are built here instead:
    /// `reserveCapacity` and `append` are specialized in the caller's module and use its cached metadata.
    @inlinable
    public init(filling value: Element, count: Int) {
        self.init()
        reserveCapacity(count)
        for _ in 0..<count { append(value) }
    }
}
