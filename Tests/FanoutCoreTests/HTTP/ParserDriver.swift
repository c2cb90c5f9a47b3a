@testable import FanoutCore

/// Everything observable from feeding one input to a fresh parser: what it produced and where it stopped.
struct ParseRun: Equatable, CustomStringConvertible {
    var requests: [HTTPRequest] = []
    /// `consumed` of each `.complete`, in order.
    var consumed: [Int] = []
    var error: HTTPParserError?
    /// Bytes not consumed by any complete request when the run stopped.
    var leftover = 0
    /// The parser had a complete head whose body had not fully arrived.
    var hadPendingHead = false
    /// The run stopped after a request that ends the connection's HTTP (no keep-alive, or an upgrade) while
    /// bytes were still left.
    var stoppedAtConnectionEnd = false
    /// Some `.needMoreData` left bytes unexamined (it must not: the parser resumes exactly where input ended).
    var pausedBeforeEnd = false

    var description: String {
        "requests=\(requests.map { "\($0.head.method) \($0.head.target) body=\($0.body.count)" }) "
            + "consumed=\(consumed) error=\(error.map(String.init(describing:)) ?? "nil") leftover=\(leftover) "
            + "pendingHead=\(hadPendingHead) "
            + "stoppedAtConnectionEnd=\(stoppedAtConnectionEnd) pausedBeforeEnd=\(pausedBeforeEnd)"
    }
}

/// Drives `HTTPRequestParser` the way the server will: the buffer always starts at the current message's first
/// byte, each call passes the same bytes plus newly arrived ones, and `consumed` bytes are dropped on `.complete`.
enum ParserDriver {
    /// Feeds `bytes` to a fresh parser. `arrivals` are the cumulative byte counts the client has sent at each
    /// step (increasing, the last one need not be `bytes.count`; it is appended). Pipelined requests are parsed
    /// one after another.
    /// - Parameter followConnection: stop after a request that is not keep-alive or asks to upgrade, like a
    ///   server would.
    static func run(
        _ bytes: [UInt8],
        arrivals: [Int] = [],
        limits: HTTPParserLimits = HTTPParserLimits(),
        followConnection: Bool = false
    ) -> ParseRun {
        var parser = HTTPRequestParser(limits: limits)
        var run = ParseRun()
        var steps = arrivals.filter { $0 < bytes.count }
        steps.append(bytes.count)
        var step = 0
        var start = 0
        while true {
            let available = max(steps[step], start)
            let result = bytes[start..<available].withUnsafeBytes { buffer in
                Result { () throws(HTTPParserError) -> HTTPParseResult in try parser.parse(buffer) }
            }
            switch result {
            case .failure(let error):
                run.error = error
                run.leftover = bytes.count - start
                return run
            case .success(.needMoreData):
                if parser.scanOffset != available - start { run.pausedBeforeEnd = true }
                if step == steps.count - 1 {
                    run.leftover = bytes.count - start
                    run.hadPendingHead = parser.pendingHead != nil
                    return run
                }
                step += 1
            case .success(.complete(let request, let consumed)):
                run.requests.append(request)
                run.consumed.append(consumed)
                start += consumed
                if followConnection, !request.head.keepAlive || request.head.requestsUpgrade {
                    run.leftover = bytes.count - start
                    run.stoppedAtConnectionEnd = run.leftover > 0
                    return run
                }
            case .success(.head), .success(.bodyPart), .success(.bodyEnd):
                preconditionFailure("head-first results from a parser not in head-first mode")
            }
        }
    }

    /// Parses `text` in one call: the request and its `consumed`, or the error.
    static func parseOnce(
        _ bytes: [UInt8],
        limits: HTTPParserLimits = HTTPParserLimits()
    ) -> Result<HTTPParseResult, HTTPParserError> {
        var parser = HTTPRequestParser(limits: limits)
        return bytes.withUnsafeBytes { buffer in
            Result { () throws(HTTPParserError) -> HTTPParseResult in try parser.parse(buffer) }
        }
    }
}

extension Array where Element == UInt8 {
    /// The UTF-8 bytes of `text`; tests write requests as string literals with explicit `\r\n`.
    init(request text: String) {
        self = Array(text.utf8)
    }
}
