/// A worker's finished spans waiting for export: bounded, dropping what does not fit (and counting it)
/// rather than growing. Taken from in batches of at most `batchSize`, oldest first.
public struct SpanQueue: Sendable {
    public let capacity: Int
    public let batchSize: Int
    private var spans: [TraceSpan] = []
    private var head = 0
    /// Spans refused because the queue was full.
    public private(set) var dropped: UInt64 = 0

    public init(capacity: Int, batchSize: Int) {
        self.capacity = max(1, capacity)
        self.batchSize = max(1, min(batchSize, self.capacity))
    }

    public var count: Int { spans.count - head }
    public var isEmpty: Bool { count == 0 }
    /// A whole batch is waiting: time to export without waiting for the interval.
    public var hasFullBatch: Bool { count >= batchSize }

    /// Adds what fits of `newSpans`, in order; the rest is dropped and counted. Returns how many were dropped.
    @discardableResult
    public mutating func append(_ newSpans: [TraceSpan]) -> Int {
        let room = capacity - count
        let taken = min(room, newSpans.count)
        if taken == newSpans.count {
            spans.append(contentsOf: newSpans)
        } else {
            spans.append(contentsOf: newSpans.prefix(taken))
        }
        let refused = newSpans.count - taken
        dropped &+= UInt64(refused)
        return refused
    }

    /// The oldest spans, at most `batchSize`; empty when none wait.
    public mutating func takeBatch() -> [TraceSpan] {
        let end = min(spans.count, head + batchSize)
        let batch = Array(spans[head..<end])
        head = end
        if head == spans.count {
            spans.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= batchSize * 4 {
            spans.removeFirst(head)
            head = 0
        }
        return batch
    }
}
