/// A request body on its way from a client to libcurl, a bounded window at a time: the client connection
/// appends what it reads, libcurl's read callback takes it. Both ends run on the same loop thread.
///
/// Back-pressure both ways: the connection stops reading the client once `isFull`, and is told to read again
/// (`onDrained`) once libcurl has taken the window below `lowWater`; libcurl is paused while the pipe is empty
/// and told to go on (`onAvailable`) when bytes, the end, or a failure arrive.
final class BodyPipe {
    /// The client's declared Content-Length; nil for a chunked body (sent upstream chunked too).
    let declaredLength: Int?
    /// The connection stops reading the client when this much is waiting for libcurl.
    static let highWater = 256 * 1024
    /// …and reads again when libcurl has taken the window below this.
    static let lowWater = 64 * 1024

    /// Whether more of the body may come: `open` until the client's body ended whole or broke off.
    enum Flow {
        case open
        /// Every byte came; libcurl gets the end once it has taken them.
        case ended
        /// The body broke off (bad framing, reset, timeout): libcurl aborts the upload.
        case failed
    }

    private var bytes: [UInt8] = []
    private var readOffset = 0
    private(set) var flow = Flow.open
    /// libcurl asked for bytes when there were none (its read callback returned PAUSE).
    private(set) var consumerWaiting = false
    private var producerBlocked = false
    /// Total bytes libcurl has taken.
    private(set) var delivered = 0

    /// Runs when libcurl is paused for lack of bytes and bytes, the end or a failure arrive. It is called from
    /// the connection's read path, never from inside libcurl, but must still not call libcurl synchronously if
    /// the caller is inside a libcurl callback; the exchange defers it to the loop.
    var onAvailable: (() -> Void)?
    /// Runs (inside libcurl's read callback: it must not call libcurl) when the window drained below `lowWater`
    /// after the connection stopped reading.
    var onDrained: (() -> Void)?
    /// Runs (inside libcurl's read callback: it must not call libcurl) whenever libcurl took bytes: the upstream
    /// is not idle.
    var onTaken: (() -> Void)?

    init(declaredLength: Int?) {
        self.declaredLength = declaredLength
    }

    /// Bytes waiting for libcurl.
    var buffered: Int { bytes.count - readOffset }
    /// Whether the connection should stop reading the client until `onDrained`.
    var isFull: Bool { buffered >= BodyPipe.highWater }
    /// Whether libcurl is waiting for the client (the upstream is not the one being slow).
    var waitingForClient: Bool { consumerWaiting }

    func append(_ data: UnsafeRawBufferPointer) {
        guard flow == .open, !data.isEmpty else { return }
        if readOffset > 0 && readOffset == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            readOffset = 0
        }
        bytes.append(contentsOf: data)
        if isFull { producerBlocked = true }
        wakeConsumer()
    }

    func finish() {
        guard flow == .open else { return }
        flow = .ended
        wakeConsumer()
    }

    /// The client's body broke off (bad framing, reset, timeout): libcurl aborts the upload.
    func fail() {
        guard flow == .open else { return }
        flow = .failed
        wakeConsumer()
    }

    private func wakeConsumer() {
        guard consumerWaiting else { return }
        consumerWaiting = false
        onAvailable?()
    }

    /// What libcurl's read callback answers.
    enum ReadResult: Equatable {
        case bytes(Int)
        case end
        case wait
        case abort
    }

    /// Called from libcurl's read callback: copies up to `buffer.count` bytes.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        if flow == .failed { return .abort }
        let available = buffered
        if available == 0 {
            if flow == .ended { return .end }
            consumerWaiting = true
            return .wait
        }
        let count = min(available, buffer.count)
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + readOffset, byteCount: count)
        }
        readOffset += count
        delivered += count
        onTaken?()
        if readOffset > BodyPipe.highWater && readOffset * 2 > bytes.count {
            // Keep the window's storage bounded: drop what libcurl took once it is most of the array.
            bytes.removeFirst(readOffset)
            readOffset = 0
        }
        if producerBlocked && buffered < BodyPipe.lowWater {
            producerBlocked = false
            onDrained?()
        }
        return .bytes(count)
    }
}
