import FanoutCore

/// Everything observable from feeding one input to a fresh `HTTPRequestParser`, pipelined requests included.
struct ParseRun: Equatable, CustomStringConvertible {
    var requests: [HTTPRequest] = []
    /// `consumed` of each `.complete`, in order.
    var consumed: [Int] = []
    var error: HTTPParserError?
    /// Bytes not consumed by any complete request when the run stopped.
    var leftover = 0
    /// The parser held a complete head whose body had not fully arrived.
    var hadPendingHead = false

    var description: String {
        "requests=\(self.requests.map { "\($0.head.method) \($0.head.target) body=\($0.body.count)" }) "
            + "consumed=\(self.consumed) error=\(self.error.map(String.init(describing:)) ?? "nil") "
            + "leftover=\(self.leftover) pendingHead=\(self.hadPendingHead)"
    }
}

/// Drives the parser like the server does: the buffer always starts at the current message's first byte, each
/// call passes the same bytes plus the newly arrived ones, and `consumed` bytes are dropped on `.complete`;
/// parsing goes on with the rest (pipelining) until the input is used up or an error.
/// - Parameter arrivals: cumulative byte counts at each arrival (increasing); `bytes.count` is appended.
func runParser(_ bytes: [UInt8], arrivals: [Int], limits: HTTPParserLimits) -> ParseRun {
    var parser = HTTPRequestParser(limits: limits)
    var run = ParseRun()
    var steps = arrivals.filter { $0 < bytes.count }
    steps.append(bytes.count)
    var step = 0
    var start = 0
    // Each pass either completes a request (consuming at least one byte) or moves to the next arrival.
    while true {
        let available = max(steps[step], start)
        let result = bytes[start..<available].withUnsafeBytes { buffer in
            Result { () throws(HTTPParserError) -> HTTPParseResult in try parser.parse(buffer) }
        }
        switch result {
        case .failure(let error):
            // A failed parser keeps failing with the same error.
            let again = bytes[start..<available].withUnsafeBytes { buffer in
                Result { () throws(HTTPParserError) -> HTTPParseResult in try parser.parse(buffer) }
            }
            require(again == .failure(error), "a failed parser answered \(again) after \(error)")
            run.error = error
            run.leftover = bytes.count - start
            return run
        case .success(.needMoreData):
            if step == steps.count - 1 {
                run.leftover = bytes.count - start
                run.hadPendingHead = parser.pendingHead != nil
                return run
            }
            step += 1
        case .success(.complete(let request, let consumed)):
            require(consumed > 0 && consumed <= available - start, "consumed \(consumed) of \(available - start)")
            run.requests.append(request)
            run.consumed.append(consumed)
            start += consumed
        }
    }
}

/// Facts every accepted request must satisfy, whatever the bytes were.
private func checkAccepted(_ request: HTTPRequest, limits: HTTPParserLimits) {
    let head = request.head
    require(request.body.count <= limits.maxBodyBytes, "body of \(request.body.count) bytes over the limit")
    require(
        !head.method.isEmpty && head.method.utf8.count <= HTTPParserLimits.maxMethodBytes, "method '\(head.method)'")
    require(head.method.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "method '\(head.method)' is not a token")
    require(!head.target.isEmpty && head.target.utf8.count <= limits.maxRequestLineBytes, "target '\(head.target)'")
    require(
        head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") },
        "target '\(head.target)' has a space, control, '#' or non-ASCII byte")
    require(head.headers.count <= limits.maxHeaderCount, "\(head.headers.count) headers")
    for (name, value) in head.headers {
        require(
            !name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") },
            "name '\(name)'")
        require(
            !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 },
            "value of '\(name)' holds CR, LF or NUL")
        let isOWS = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        require(
            !(value.utf8.first.map(isOWS) ?? false) && !(value.utf8.last.map(isOWS) ?? false),
            "value of '\(name)' is not trimmed")
    }
    if head.requestsUpgrade || head.expectsContinue { require(head.version == .http1_1, "1.1-only fact on 1.0") }
}

/// Small limits (to reach every limit check with short inputs) and the defaults.
let smallParserLimits: HTTPParserLimits = {
    var limits = HTTPParserLimits()
    limits.maxRequestLineBytes = 96
    limits.maxHeaderBytes = 256
    limits.maxHeaderCount = 8
    limits.maxBodyBytes = 128
    limits.maxChunkExtensionBytes = 16
    return limits
}()

/// `FuzzRequestParser`: the input is what a client sent on one connection.
///
/// Properties: the parser never crashes; the outcome (every pipelined request and its `consumed`, or the
/// error, and what was left) is the same whether the bytes arrive at once, one at a time, or cut at two or
/// three points derived from the input; accepted requests respect the limits and hold no CR, LF or NUL in
/// a field value; a failed parser keeps failing with the same error.
public func requestParser(_ input: UnsafeBufferPointer<UInt8>) {
    let bytes = Array(input)
    var numbers = InputDerivedNumbers(input)
    for limits in [smallParserLimits, HTTPParserLimits()] {
        let whole = runParser(bytes, arrivals: [], limits: limits)
        for request in whole.requests { checkAccepted(request, limits: limits) }
        let oneByOne = runParser(bytes, arrivals: Array(0..<bytes.count), limits: limits)
        require(oneByOne == whole, "byte by byte: \(oneByOne)\nwhole: \(whole)\ninput: \(show(bytes))")
        let cuts = numbers.cutPoints(count: 1 + Int(numbers.next() % 3), length: bytes.count)
        let split = runParser(bytes, arrivals: cuts, limits: limits)
        require(split == whole, "cut at \(cuts): \(split)\nwhole: \(whole)\ninput: \(show(bytes))")
    }
}
