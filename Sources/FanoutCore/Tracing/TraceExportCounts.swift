/// What trace export did, per worker or summed (`/metrics`; present only when `tracing` is configured).
public struct TraceExportCounts: Sendable, Equatable {
    /// Spans a receiver accepted (a 2xx answer to their export request).
    public var spansExported: UInt64 = 0
    /// Spans lost: refused by a full queue, or in an export request that failed.
    public var spansDropped: UInt64 = 0
    /// Export requests that failed (no answer, or not 2xx); their spans are dropped, never retried.
    public var exportFailures: UInt64 = 0

    public init(spansExported: UInt64 = 0, spansDropped: UInt64 = 0, exportFailures: UInt64 = 0) {
        self.spansExported = spansExported
        self.spansDropped = spansDropped
        self.exportFailures = exportFailures
    }

    public mutating func add(_ other: TraceExportCounts) {
        spansExported &+= other.spansExported
        spansDropped &+= other.spansDropped
        exportFailures &+= other.exportFailures
    }

    public func adding(_ other: TraceExportCounts) -> TraceExportCounts {
        var sum = self
        sum.add(other)
        return sum
    }
}
