extension Array {
    /// `count` copies of `value`: `Array(repeating:count:)` without its run-time metadata lookup.
    ///
    /// `Array(repeating:count:)` allocates through the standard library's unspecialized
    /// `_allocateBufferUninitialized`, which asks the runtime for `_ContiguousArrayStorage<Element>`'s generic
    /// metadata on every call: about 650 instructions per array under callgrind, more than filling it. The
    /// per-request arrays (a composite run's call states, its call log) are built here instead:
    /// `reserveCapacity` and `append` are specialized in the caller's module and use its cached metadata.
    ///
    /// `value` is evaluated once per element: an element built in place costs nothing to copy, where a copy
    /// of one value switched over its enums and retained its fields (a composite run's three `CallState`s and
    /// call-log entries, about 300 instructions per request, callgrind).
    @inlinable
    public init(filling value: @autoclosure () -> Element, count: Int) {
        self.init()
        reserveCapacity(count)
        for _ in 0..<count { append(value()) }
    }
}
