/// What a route adds to its answers beyond fanout's own fields, resolved when the configuration is read:
/// `response_header`, `pass_header`, `cache_control derived` and `cors`.
public struct ResponseHeaderPlan: Sendable {
    /// `response_header NAME VALUE`: on every answer of the route (composite or proxy), replacing a partner's
    /// field of the same name.
    public var fixed: [HeaderField] = []
    /// `pass_header CALL NAME…` (composite routes): fields copied from a call's partner answer.
    public var passed: [PassedHeaders] = []
    /// `cache_control derived` (composite routes): `Cache-Control` from the freshness of the calls
    /// (``DerivedCacheControl``).
    public var derivedCacheControl = false
    /// `cors` in the route, or the top-level one; nil: none (or `cors off`).
    public var cors: CORSPolicy?

    public init() {}

    /// Whether the route adds nothing.
    public var isEmpty: Bool {
        self.fixed.isEmpty && self.passed.isEmpty && !self.derivedCacheControl && self.cors == nil
    }

    /// Names `response_header` and `pass_header` refuse (lowercased), with the reason: the fields fanout
    /// frames a message with or sets itself, and the CORS fields (`cors` sets those).
    public static func refusal(forName name: String) -> String? {
        if FieldRole.of(name) == .hop {
            return "'\(name)' frames the message or describes the connection; fanout sets it itself"
        }
        switch name.lowercased() {
        case "date", "content-type", "content-encoding", "x-request-id", "x-fanout-complete", "x-fanout-errors",
            "server-timing":
            return "fanout sets '\(name)' itself"
        default:
            break
        }
        if CORSPolicy.isCORSField(name) { return "'\(name)' is a CORS field; use a 'cors' block" }
        return nil
    }

    /// The fields every answer of the route gets for a request with `origin` (nil: no `Origin`): the fixed
    /// ones and the CORS ones.
    public func overlay(origin: String?) -> ResponseHeaderOverlay {
        var fields = self.fixed
        if let cors { fields += cors.actualHeaders(origin: origin) }
        return ResponseHeaderOverlay(fields: fields, replacesCORSFields: self.cors != nil)
    }

    /// The fields a composite answer gets from its calls: the passed ones, in `pass_header` order, then the
    /// derived `Cache-Control`.
    /// - Parameters:
    ///   - answerHeaders: per call index, the header fields of its partner answer when the call succeeded;
    ///     nil when it failed, was skipped or did not run.
    ///   - status: the status of the composite answer.
    ///   - freshness: per call, what it contributes to the derived `Cache-Control`.
    public func compositeFields(
        answerHeaders: [[(name: String, value: String)]?], status: Int, freshness: [CallFreshness]
    ) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        for pass in self.passed {
            guard let headers = answerHeaders[pass.call] else { continue }
            for name in pass.names {
                for field in headers where HTTPHeaders.namesEqual(field.name, name) {
                    fields.append((name, field.value))
                }
            }
        }
        if self.derivedCacheControl {
            fields.append(("Cache-Control", DerivedCacheControl.value(status: status, calls: freshness)))
        }
        return fields
    }
}

/// `pass_header CALL NAME…`, with CALL resolved to its index.
public struct PassedHeaders: Sendable, Equatable {
    public var call: Int
    /// As written (the answer uses this spelling).
    public var names: [String]

    public init(call: Int, names: [String]) {
        self.call = call
        self.names = names
    }
}

/// Fields laid over an answer: each replaces the answer's fields of the same name, except `Vary`, which is
/// added to what is there (several `Vary` fields are one list, RFC 9110 §5.3).
public struct ResponseHeaderOverlay: Sendable {
    public var fields: [HeaderField]
    /// The route has a CORS policy: the answer's own `Access-Control-…` fields (a partner's) are dropped first.
    public var replacesCORSFields: Bool

    public init(fields: [HeaderField] = [], replacesCORSFields: Bool = false) {
        self.fields = fields
        self.replacesCORSFields = replacesCORSFields
    }

    public var isEmpty: Bool { self.fields.isEmpty && !self.replacesCORSFields }

    public func apply(to headers: inout [(name: String, value: String)]) {
        if self.replacesCORSFields { headers.removeAll { CORSPolicy.isCORSField($0.name) } }
        for field in self.fields where !HTTPHeaders.namesEqual(field.name, "vary") {
            headers.removeAll { HTTPHeaders.namesEqual($0.name, field.name) }
        }
        for field in self.fields { headers.append((field.name, field.value)) }
    }
}
