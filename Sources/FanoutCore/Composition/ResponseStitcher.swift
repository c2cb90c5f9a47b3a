/// Combines the outcomes of a composite route's upstream calls into one JSON answer.
///
/// A call's value is either its upstream body embedded byte for byte (validated, never re-encoded: the
/// fast path for calls nobody reshapes or reads), or a parsed ``JSONValue`` (shaped, merged or read by
/// another call). Numbers keep their text either way, so `12345678901234567890` or `0.1` reach the client
/// unchanged.
///
/// A call succeeds when it was answered with a 2xx status and a usable body:
/// - an empty body (204, `Content-Length: 0`) → `null`;
/// - a JSON media type (`application/json` or `*/*+json`, parameters ignored, case-insensitive) → the body,
///   which must be valid JSON nested at most `maxDepth - 1` deep, else the call fails with
///   ``CallFailure/invalidBody``;
/// - no `Content-Type` (or an empty one) → the body if it is valid JSON, else the body as a JSON string;
/// - any other media type → the body as a JSON string (ill-formed UTF-8 replaced by U+FFFD).
/// A non-2xx answer fails with ``CallFailure/status(_:)``.
///
/// Then:
/// - every call succeeded → 200 (or the upstream's 2xx with `pass_status`) and the combined body;
/// - only optional calls (or items of optional `for_each` calls) failed → the same, with failed values
///   `null`, and the failures listed in a last member `"_errors"` when the body is an object, else in the
///   `X-Fanout-Errors` header;
/// - a required call failed → `{"error":"upstream_failed","message":"required call(s) failed: a, b",
///   "errors":[…]}` listing every failure; 504 when every failure of a required call is a timeout (or a
///   skip, with at least one timeout); 503 when fanout itself held every one back (`circuit_open` or
///   `overloaded`, or a skip, with at least one of those: the partner was not asked); else 502; with
///   `pass_status`, the upstream's own status when it answered;
/// - with `min_success N`, fewer than N calls without a failure (a `for_each` call counts when none of its
///   items failed) → the same error object, `"message":"1 of 3 calls succeeded; min_success is 2"`, its
///   status mapped the same way from every failure of the route.
///
/// An error object is `{"call":…,"kind":…,"message":…,"elapsed_ms":12.3}`, plus `"item":3` or `"key":"k"`
/// for an item of a `for_each` call, `"status":503` for kind `status`, and `"body":…` (the upstream's
/// error body, JSON or a string, with `"body_truncated":true` when cut) when `error_body` is set.
public enum ResponseStitcher {
    /// The keyed combination of plain calls (`{"<name>": answer, …}`); see the type's documentation.
    ///
    /// - Parameters:
    ///   - outcomes: one per call of the route.
    ///   - maxDepth: nesting limit of the stitched body. Upstream bodies sit one object level down, so each
    ///     must validate with `maxDepth - 1` (``JSONValidator``).
    public static func stitch(_ outcomes: [CallOutcome], maxDepth: Int = 512) -> StitchedResponse {
        let calls = outcomes.map { outcome in
            let member = Member(outcome.result, maxDepth: maxDepth - 1)
            var errors: [CallError] = []
            if case .failed(let failure) = member {
                errors.append(CallError(call: outcome.name, item: nil, failure: failure, elapsedMs: outcome.elapsedMs))
            }
            return StitchedCall(
                name: outcome.name, required: outcome.required, visible: true, elapsedMs: outcome.elapsedMs,
                value: member.isFailure ? .failed : .verbatim(member), errors: errors)
        }
        return self.assemble(calls, combine: .keyed)
    }

    /// Builds the response from judged calls.
    /// - Parameter minSuccess: `min_success`: how many calls must succeed, optional ones included; nil: off.
    static func assemble(
        _ calls: [StitchedCall],
        combine: CombineMode,
        staticFields: [JSONMember] = [],
        successStatus: Int = 200,
        passedStatus: Bool = false,
        minSuccess: Int? = nil
    ) -> StitchedResponse {
        let errorCount = calls.reduce(0) { $0 + $1.errors.count }
        let failedRequired = calls.filter { $0.required && !$0.errors.isEmpty }
        let serverTiming = self.serverTiming(calls)
        let succeeded = calls.count { $0.errors.isEmpty }
        var failureMessage: String?
        if !failedRequired.isEmpty {
            failureMessage = "required call(s) failed: " + failedRequired.map(\.name).joined(separator: ", ")
        } else if let minSuccess, succeeded < minSuccess {
            failureMessage = "\(succeeded) of \(calls.count) calls succeeded; min_success is \(minSuccess)"
        }
        if let failureMessage {
            // The failures that sank the route: the required calls', or (min_success) every call's.
            let failures = (failedRequired.isEmpty ? calls : failedRequired).flatMap { $0.errors.map(\.failure) }
            var status = CallFailure.gatewayStatus(of: failures)
            if passedStatus, case .status(let code) = failures.first { status = code }
            var writer = JSONWriter(capacity: 96 + errorCount * 160)
            writer.append(#"{"error":"upstream_failed","message":"#)
            writer.appendString(failureMessage)
            writer.append(#","errors":"#)
            self.appendErrors(calls, to: &writer)
            writer.append("}")
            return StitchedResponse(status: status, body: writer.bytes, complete: false, serverTiming: serverTiming)
        }

        var writer = JSONWriter(capacity: calls.reduce(16) { $0 + $1.name.utf8.count + $1.value.estimatedSize + 4 })
        let isObject: Bool
        switch combine {
        case .keyed:
            writer.append("{")
            var first = true
            // By index, fields read in place: `for call in calls` copied each `StitchedCall` (its name, errors and
            // value retained and released again).
            for index in calls.indices where calls[index].visible {
                if !first { writer.append(",") }
                first = false
                writer.appendString(calls[index].name)
                writer.append(":")
                calls[index].value.write(to: &writer)
            }
            for field in staticFields {
                if !first { writer.append(",") }
                first = false
                writer.appendString(field.key)
                writer.append(":")
                field.value.write(to: &writer)
            }
            if errorCount > 0 {
                if !first { writer.append(",") }
                writer.append(#""_errors":"#)
                self.appendErrors(calls, to: &writer)
            }
            writer.append("}")
            isObject = true
        case .merge(let policy):
            var merged = JSONValue.object([])
            for call in calls where call.visible {
                if let value = call.value.jsonValue { merged = merged.merging(value, arrays: policy) }
            }
            isObject = self.write(merged, staticFields: staticFields, calls: calls, errorCount: errorCount, to: &writer)
        case .concat:
            var elements: [JSONValue] = []
            for call in calls where call.visible {
                switch call.value.jsonValue {
                case .array(let items)?: elements += items
                case let value?: elements.append(value)
                case nil: break
                }
            }
            JSONValue.array(elements).write(to: &writer)
            isObject = false
        case .only(let index):
            if case .verbatim(let member) = calls[index].value, staticFields.isEmpty, errorCount == 0 {
                member.appendValue(to: &writer)  // the fast path: the answer as received
                isObject = true
                break
            }
            let value = calls[index].value.jsonValue ?? .null
            isObject = self.write(value, staticFields: staticFields, calls: calls, errorCount: errorCount, to: &writer)
        }
        var response = StitchedResponse(
            status: successStatus, body: writer.bytes, complete: errorCount == 0, serverTiming: serverTiming)
        if errorCount > 0 && !isObject {
            response.errorsHeader = calls.flatMap { call in call.errors.map { "\(call.name)=\($0.failure.kind)" } }
                .joined(separator: ", ")
        }
        return response
    }

    /// Writes a whole-body value; an object gets the static fields (replacing members of the same name) and
    /// `_errors`. Returns whether the body is an object.
    private static func write(
        _ value: JSONValue,
        staticFields: [JSONMember],
        calls: [StitchedCall],
        errorCount: Int,
        to writer: inout JSONWriter
    ) -> Bool {
        guard case .object(var members) = value else {
            value.write(to: &writer)
            return false
        }
        for field in staticFields {
            members.removeAll { $0.key == field.key }
            members.append(field)
        }
        members.removeAll { $0.key == "_errors" && errorCount > 0 }
        writer.append("{")
        for (index, member) in members.enumerated() {
            if index > 0 { writer.append(",") }
            writer.appendString(member.key)
            writer.append(":")
            member.value.write(to: &writer)
        }
        if errorCount > 0 {
            if !members.isEmpty { writer.append(",") }
            writer.append(#""_errors":"#)
            self.appendErrors(calls, to: &writer)
        }
        writer.append("}")
        return true
    }

    // MARK: - Errors and timing

    /// Appends `[{"call":…,"kind":…,"message":…,"elapsed_ms":…},…]` for every failure.
    private static func appendErrors(_ calls: [StitchedCall], to writer: inout JSONWriter) {
        writer.append("[")
        var first = true
        for error in calls.lazy.flatMap(\.errors) {
            writer.append(first ? #"{"call":"# : #",{"call":"#)
            first = false
            writer.appendString(error.call)
            switch error.item {
            case .index(let index)?:
                writer.append(#","item":"#)
                writer.appendInt(index)
            case .key(let key)?:
                writer.append(#","key":"#)
                writer.appendString(key)
            case nil:
                break
            }
            writer.append(#","kind":"#)
            writer.appendString(error.failure.kind)
            writer.append(#","message":"#)
            writer.appendString(error.failure.message)
            writer.append(#","elapsed_ms":"#)
            writer.appendDouble(milliseconds: error.elapsedMs)
            if case .status(let code) = error.failure {
                writer.append(#","status":"#)
                writer.appendInt(code)
            }
            if let body = error.body {
                writer.append(#","body":"#)
                if !body.truncated, let json = try? JSONValue(parsing: body.bytes) {
                    json.write(to: &writer)
                } else {
                    writer.appendString(body.bytes)
                }
                if body.truncated { writer.append(#","body_truncated":true"#) }
            }
            writer.append("}")
        }
        writer.append("]")
    }

    /// `name;dur=12.3` per call joined by `, `; a failed call (or one with failed items) adds
    /// `;desc="<kind>"` of its first failure.
    ///
    /// Call names are tokens by contract; any other byte is written as `_` so a bad name can never break
    /// the header.
    ///
    /// Written straight into the header value's own storage, measured first: built in a `JSONWriter` and
    /// decoded into a `String`, the bytes were appended piece by piece, copied, validated and their array freed,
    /// about 2,400 instructions for three calls (callgrind).
    private static func serverTiming(_ calls: [StitchedCall]) -> String {
        // Room for every piece at its longest: `, `, `;dur=`, a duration of at most 21 bytes
        // (``MeasuredWriter/writeTenths(_:)``), and `;desc=""` around the kind.
        var capacity = 0
        for index in calls.indices {
            capacity += calls[index].name.utf8.count + 2 + 5 + 21
            if let failure = calls[index].errors.first?.failure { capacity += 8 + failure.kind.utf8.count }
        }
        guard capacity > 0 else { return "" }
        return String(unsafeUninitializedCapacity: capacity) { buffer in
            var out = MeasuredWriter(UnsafeMutableRawBufferPointer(buffer))
            // By index, fields read in place: `enumerated()` copied each `StitchedCall` (about 400 instructions).
            for index in calls.indices {
                if index > 0 { out.write(", ") }
                // A name that is a token (the rule) is copied in one piece from its contiguous bytes.
                let copied = calls[index].name.utf8.withContiguousStorageIfAvailable { name -> Bool in
                    guard name.allSatisfy(Self.isTimingNameByte) else { return false }
                    out.write(name)
                    return true
                }
                if copied != true {
                    for byte in calls[index].name.utf8 {
                        out.write(Self.isTimingNameByte(byte) ? byte : UInt8(ascii: "_"))
                    }
                }
                out.write(";dur=")
                out.writeTenths(JSONWriter.tenths(milliseconds: calls[index].elapsedMs))
                if let failure = calls[index].errors.first?.failure {
                    // Kinds are plain ASCII words (``CallFailure/kind``): a valid quoted-string as they are.
                    out.write(";desc=\"")
                    var kind = failure.kind
                    kind.withUTF8 { out.write($0) }
                    out.write("\"")
                }
            }
            return out.count
        }
    }

    /// Whether `byte` may stand in a `Server-Timing` metric name as fanout writes it: letters, digits, `_`, `-`.
    private static func isTimingNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// One call of a composite route, judged and ready to be combined.
struct StitchedCall {
    var name: String
    var required: Bool
    /// False for `hidden` calls and `for_each` calls that attach into another call's answer.
    var visible: Bool
    var elapsedMs: Double
    var value: StitchedValue
    /// One for a failed call; one per failed item of a `for_each` call.
    var errors: [CallError]
}

/// What a call contributes.
enum StitchedValue {
    /// The upstream body as judged by ``ResponseStitcher/Member`` (never `.failed`).
    case verbatim(ResponseStitcher.Member)
    case json(JSONValue)
    case failed

    var estimatedSize: Int {
        switch self {
        case .verbatim(let member): return member.estimatedSize
        case .json, .failed: return 64
        }
    }

    func write(to writer: inout JSONWriter) {
        switch self {
        case .verbatim(let member): member.appendValue(to: &writer)
        case .json(let value): value.write(to: &writer)
        case .failed: writer.append("null")
        }
    }

    /// The value as a tree (parsing a verbatim body); nil for a failed call.
    var jsonValue: JSONValue? {
        switch self {
        case .verbatim(let member):
            var writer = JSONWriter(capacity: member.estimatedSize)
            member.appendValue(to: &writer)
            return try? JSONValue(parsing: writer.bytes)
        case .json(let value): return value
        case .failed: return nil
        }
    }
}

/// One failure to report.
struct CallError {
    enum Item {
        case index(Int)
        case key(String)
    }

    var call: String
    var item: Item?
    var failure: CallFailure
    var elapsedMs: Double
    /// The upstream's error body, capped by `error_body`.
    var body: (bytes: [UInt8], truncated: Bool)?
}
