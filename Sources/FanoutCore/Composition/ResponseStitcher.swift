/// Combines the outcomes of a composite route's upstream calls into one JSON answer.
///
/// Each successful call becomes a member named after the call, whose value is the upstream body
/// embedded byte for byte (validated, never re-encoded), so numbers such as `12345678901234567890` or
/// `0.1` reach the client unchanged.
///
/// A call succeeds when it was answered with a 2xx status and a usable body:
/// - an empty body (204, `Content-Length: 0`) → `null`;
/// - a JSON media type (`application/json` or `*/*+json`, parameters ignored, case-insensitive) → the body,
///   which must be valid JSON nested at most `maxDepth - 1` deep, else the call fails with
///   ``CallFailure/invalidBody``;
/// - no `Content-Type` (or an empty one) → the body if it is valid JSON, else the body as a JSON string;
/// - any other media type → the body as a JSON string (ill-formed UTF-8 replaced by U+FFFD).
/// JSON bodies lose leading and trailing whitespace. A non-2xx answer fails with ``CallFailure/status(_:)``.
///
/// Then:
/// - every call succeeded → 200, `{"<name>":<value>,…}` in outcome order, complete;
/// - only optional calls failed → 200, failed members are `null`, and a last member `"_errors"` lists
///   the failures;
/// - a required call failed → `{"error":"upstream_failed","message":"required call(s) failed: a, b",
///   "errors":[…]}` listing every failed call; 504 when every failed required call timed out, else 502.
///
/// An error object is `{"call":…,"kind":…,"message":…,"elapsed_ms":12.3}`, plus `"status":503` for kind
/// `status`.
public enum ResponseStitcher {
    /// Builds the combined answer for `outcomes`, in their order.
    ///
    /// - Parameters:
    ///   - outcomes: one per call of the route.
    ///   - maxDepth: nesting limit of the stitched body. Upstream bodies sit one object level down, so each
    ///     must validate with `maxDepth - 1` (``JSONValidator``): the answer then stays within the limit
    ///     of the client's parser (Foundation's is 512, like the default).
    public static func stitch(_ outcomes: [CallOutcome], maxDepth: Int = 512) -> StitchedResponse {
        let bodyDepth = maxDepth - 1
        var members: [Member] = []
        members.reserveCapacity(outcomes.count)
        var successCapacity = 2  // bytes of the 200 body, errors aside
        var failedCount = 0
        var requiredFailedCount = 0
        var requiredTimeoutCount = 0
        for outcome in outcomes {
            let member = Member(outcome.result, maxDepth: bodyDepth)
            if case .failed(let failure) = member {
                failedCount += 1
                if outcome.required {
                    requiredFailedCount += 1
                    if failure == .timeout { requiredTimeoutCount += 1 }
                }
            }
            successCapacity += outcome.name.utf8.count + member.estimatedSize + 4
            members.append(member)
        }

        let errorsCapacity = 16 + failedCount * 160
        var writer: JSONWriter
        let status: Int
        if requiredFailedCount > 0 {
            // The bodies are dropped, so only the error objects need room.
            writer = JSONWriter(capacity: 96 + errorsCapacity)
            status = requiredTimeoutCount == requiredFailedCount ? 504 : 502
            var message = "required call(s) failed: "
            var first = true
            for (outcome, member) in zip(outcomes, members) where outcome.required && member.isFailure {
                if !first { message += ", " }
                message += outcome.name
                first = false
            }
            writer.append(#"{"error":"upstream_failed","message":"#)
            writer.appendString(message)
            writer.append(#","errors":"#)
            self.appendErrors(outcomes, members, to: &writer)
            writer.append("}")
        } else {
            writer = JSONWriter(capacity: successCapacity + (failedCount > 0 ? errorsCapacity : 0))
            status = 200
            writer.append("{")
            for (index, (outcome, member)) in zip(outcomes, members).enumerated() {
                if index > 0 { writer.append(",") }
                writer.appendString(outcome.name)
                writer.append(":")
                member.appendValue(to: &writer)
            }
            if failedCount > 0 {
                writer.append(#","_errors":"#)
                self.appendErrors(outcomes, members, to: &writer)
            }
            writer.append("}")
        }

        return StitchedResponse(
            status: status,
            body: writer.bytes,
            complete: failedCount == 0,
            serverTiming: self.serverTiming(outcomes, members)
        )
    }

    // MARK: - Errors and timing

    /// Appends `[{"call":…,"kind":…,"message":…,"elapsed_ms":…},…]` for every failed call.
    private static func appendErrors(_ outcomes: [CallOutcome], _ members: [Member], to writer: inout JSONWriter) {
        writer.append("[")
        var first = true
        for (outcome, member) in zip(outcomes, members) {
            guard case .failed(let failure) = member else { continue }
            writer.append(first ? #"{"call":"# : #",{"call":"#)
            first = false
            writer.appendString(outcome.name)
            writer.append(#","kind":"#)
            writer.appendString(failure.kind)
            writer.append(#","message":"#)
            writer.appendString(failure.message)
            writer.append(#","elapsed_ms":"#)
            writer.appendDouble(milliseconds: outcome.elapsedMs)
            if case .status(let code) = failure {
                writer.append(#","status":"#)
                writer.appendInt(code)
            }
            writer.append("}")
        }
        writer.append("]")
    }

    /// `name;dur=12.3` per call joined by `, `; failed calls add `;desc="<kind>"`.
    ///
    /// Call names are tokens by contract; any other byte is written as `_` so a bad name can never break
    /// the header.
    private static func serverTiming(_ outcomes: [CallOutcome], _ members: [Member]) -> String {
        var writer = JSONWriter(capacity: outcomes.count * 40)
        for (index, (outcome, member)) in zip(outcomes, members).enumerated() {
            if index > 0 { writer.append(", ") }
            for byte in outcome.name.utf8 {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    writer.bytes.append(byte)
                default:
                    writer.bytes.append(UInt8(ascii: "_"))
                }
            }
            writer.append(";dur=")
            writer.appendDouble(milliseconds: outcome.elapsedMs)
            if case .failed(let failure) = member {
                writer.append(";desc=")
                writer.appendString(failure.kind)  // kinds are plain ASCII words: a valid quoted-string
            }
        }
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
