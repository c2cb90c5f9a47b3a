import FanoutCore

/// What the runtime derives once from a `tracing` block (``RuntimeConfig/tracing``).
struct RuntimeTracing: Sendable {
    /// The name export transfers are counted under (connection metrics). Not a valid upstream name, so it
    /// never shares an admission slot with a configured upstream.
    static let upstreamName = "(otlp)"

    let config: TracingConfig
    let sampler: TraceSampler
    let slot: AdmissionSlot
    /// `Content-Type` and the configured headers, as `Name: value` lines.
    let headerLines: [String]
    /// One worker's share of `queue`, rounded up.
    let queuePerWorker: Int

    init(config: TracingConfig, workerCount: Int, slots: inout AdmissionSlots) {
        self.config = config
        sampler = TraceSampler(ratio: config.sampleRatio)
        slot = slots.slot(for: UpstreamConfig(name: Self.upstreamName, origin: config.endpoint))
        headerLines = ["Content-Type: application/x-protobuf"] + HeaderLine.lines(config.headers)
        queuePerWorker = max(1, (config.queueSize + workerCount - 1) / workerCount)
    }
}

/// A worker's OTLP/HTTP span exporter: sampled requests' spans wait in a bounded ``SpanQueue`` and leave in
/// batches, encoded as an `ExportTraceServiceRequest` and POSTed through the worker's own ``UpstreamClient``
/// (the same libcurl multi handle as the upstream calls, on the loop thread: no thread of its own).
///
/// A batch leaves when `batch` spans wait or `flush` after the first of them arrived, and at a graceful
/// shutdown (``flushAll(then:)``). At most ``maxExportsInFlight`` requests run at once; while they do, spans
/// gather in the queue, and what does not fit is dropped and counted. A failed export (no answer in
/// `timeout`, or not 2xx) is counted and its spans dropped: never retried, so a receiver that is down costs
/// one failed transfer per batch and never holds a request back.
final class TraceExporter {
    static let maxExportsInFlight = 2
    /// The most of a receiver's answer that is read (it is not looked at beyond its status).
    static let maxResponseBytes = 64 * 1024

    private let loop: EventLoop
    private let client: UpstreamClient
    private(set) var settings: RuntimeTracing
    private var queue: SpanQueue
    private var flushTimer: TimerID?
    private var exportsInFlight = 0
    /// Set by ``flushAll(then:)``: called once the queue is empty and no export runs.
    private var whenIdle: (() -> Void)?
    private var flushing = false
    private var giveUpTimer: TimerID?
    private(set) var counts = TraceExportCounts()

    init(loop: EventLoop, client: UpstreamClient, settings: RuntimeTracing) {
        self.loop = loop
        self.client = client
        self.settings = settings
        queue = SpanQueue(capacity: settings.queuePerWorker, batchSize: settings.config.batchSize)
    }

    /// A reload's settings. Spans already queued are kept (those beyond a smaller queue are dropped).
    func reconfigure(_ settings: RuntimeTracing) {
        self.settings = settings
        guard queue.capacity != settings.queuePerWorker || queue.batchSize != settings.config.batchSize else {
            return
        }
        var old = queue
        queue = SpanQueue(capacity: settings.queuePerWorker, batchSize: settings.config.batchSize)
        while !old.isEmpty { counts.spansDropped &+= UInt64(queue.append(old.takeBatch())) }
    }

    /// The spans of one answered request.
    func record(_ spans: [TraceSpan]) {
        counts.spansDropped &+= UInt64(queue.append(spans))
        if queue.hasFullBatch || flushing {
            exportWaiting(partial: flushing)
        } else if flushTimer == nil {
            armFlushTimer()
        }
    }

    /// Sends everything queued, then calls `done` (on the loop) once no export is left running, or after
    /// `timeout` at the latest: what is still queued then is dropped and counted (exports still running are
    /// cancelled when the worker closes its client). Used at graceful shutdown.
    func flushAll(then done: @escaping () -> Void) {
        flushing = true
        whenIdle = done
        giveUpTimer = loop.schedule(afterMilliseconds: settings.config.timeoutMs) { [weak self] in
            guard let self, let done = self.whenIdle else { return }
            self.giveUpTimer = nil
            self.whenIdle = nil
            while !self.queue.isEmpty { self.counts.spansDropped &+= UInt64(self.queue.takeBatch().count) }
            done()
        }
        exportWaiting(partial: true)
        finishIfIdle()
    }

    private func armFlushTimer() {
        flushTimer = loop.schedule(afterMilliseconds: settings.config.flushMs) { [weak self] in
            guard let self else { return }
            self.flushTimer = nil
            self.exportWaiting(partial: true)
        }
    }

    /// Starts exports while there is room: full batches, and a partial one when `partial` (its time is up).
    private func exportWaiting(partial: Bool) {
        while exportsInFlight < Self.maxExportsInFlight, queue.hasFullBatch || (partial && !queue.isEmpty) {
            send(queue.takeBatch())
        }
        if !queue.isEmpty, flushTimer == nil, !flushing { armFlushTimer() }
    }

    private func send(_ batch: [TraceSpan]) {
        exportsInFlight += 1
        let request = UpstreamRequest.traceExport(
            settings, body: OTLPTraceEncoder.exportRequest(batch, serviceName: settings.config.serviceName),
            now: loop.now, maxResponseBytes: Self.maxResponseBytes)
        let spanCount = UInt64(batch.count)
        client.start(request) { [weak self] result in
            self?.exportFinished(spanCount: spanCount, result: result)
        }
    }

    private func exportFinished(spanCount: UInt64, result: UpstreamResult) {
        exportsInFlight -= 1
        if case .success(let response) = result.outcome, (200..<300).contains(response.status) {
            counts.spansExported &+= spanCount
        } else {
            counts.exportFailures &+= 1
            counts.spansDropped &+= spanCount
        }
        exportWaiting(partial: flushing)
        finishIfIdle()
    }

    private func finishIfIdle() {
        guard flushing, queue.isEmpty, exportsInFlight == 0, let done = whenIdle else { return }
        whenIdle = nil
        for timer in [flushTimer, giveUpTimer].compactMap({ $0 }) { loop.cancel(timer) }
        flushTimer = nil
        giveUpTimer = nil
        done()
    }
}
