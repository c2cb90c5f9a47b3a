import Foundation
import Synchronization

/// A local OAuth2 token endpoint (client credentials grant, RFC 6749 §4.4) on an ``UpstreamStub``: it checks
/// the client's credentials (HTTP Basic, or `client_id`/`client_secret` in the form) and `grant_type`, issues a
/// new token on every good request (`tok<random hex>-<n>`) with the chosen `expires_in`, counts requests, and
/// fails on demand. ``protected(_:)`` makes a partner behavior that accepts only the current token.
///
/// ```swift
/// let tokens = try TokenEndpointStub(clientID: "fanout", clientSecret: "s3cret", expiresIn: 60)
/// let partner = try UpstreamStub(routes: ["/orders": tokens.protected(.json(#"{"n":1}"#))])
/// ```
public final class TokenEndpointStub: Sendable {
    /// How the endpoint answers a good request while it fails on demand.
    public enum Failure: Sendable {
        /// This status with `{"error":"temporarily_unavailable"}`.
        case status(Int)
        /// 200 with a body that is not JSON.
        case notJSON
        /// 200 with a JSON object lacking `access_token`.
        case missingAccessToken
    }

    private struct State {
        var requests = 0
        var issued = 0
        var rejectedCredentials = 0
        var current: String?
        var expiresIn: Int
        var delayMs: Int
        var failure: Failure?
        var lastForm: [String: String] = [:]
    }

    /// The state, shared with the stub's behaviors (which run on its connection threads).
    private final class Shared: Sendable {
        let mutex: Mutex<State>
        init(_ state: State) { self.mutex = Mutex(state) }
        func withLock<R>(_ body: (inout State) -> R) -> R { self.mutex.withLock { body(&$0) } }
    }

    private enum Outcome {
        case badCredentials
        case token(String)
        case failing(Failure)
    }

    public let stub: UpstreamStub
    private let state: Shared
    private let clientID: String
    private let clientSecret: String
    /// Random per stub, so a token is a string no other output can contain by chance.
    private let salt = String(UInt64.random(in: 1..<UInt64.max), radix: 16)

    /// - Parameters:
    ///   - expiresIn: the `expires_in` of issued tokens, in seconds.
    ///   - delayMs: how long each answer takes (to have calls arrive while a request runs).
    public init(clientID: String, clientSecret: String, expiresIn: Int = 3_600, delayMs: Int = 0) throws {
        self.clientID = clientID
        self.clientSecret = clientSecret
        let state = Shared(State(expiresIn: expiresIn, delayMs: delayMs))
        self.state = state
        let salt = self.salt
        self.stub = try UpstreamStub(routes: [
            "/oauth/token": .computed { [clientID, clientSecret] request in
                Self.answer(request, clientID: clientID, clientSecret: clientSecret, salt: salt, state: state)
            }
        ])
    }

    /// `http://127.0.0.1:PORT/oauth/token`.
    public var tokenURL: String { "\(self.stub.baseURL)/oauth/token" }
    /// Token requests received (good or not).
    public var requestCount: Int { self.state.withLock { $0.requests } }
    /// Tokens issued.
    public var issuedCount: Int { self.state.withLock { $0.issued } }
    /// Requests refused for wrong or missing credentials.
    public var rejectedCredentials: Int { self.state.withLock { $0.rejectedCredentials } }
    /// The token issued last, the only one ``protected(_:)`` accepts (nil before the first, or after ``revoke()``).
    public var currentToken: String? { self.state.withLock { $0.current } }
    /// What every token this stub issues starts with (random per stub): look for it in output.
    public var tokenPrefix: String { "tok\(self.salt)-" }
    /// The form parameters of the last request.
    public var lastForm: [String: String] { self.state.withLock { $0.lastForm } }

    /// Fails every request from now on (nil: answers again).
    public func setFailure(_ failure: Failure?) { self.state.withLock { $0.failure = failure } }
    /// Changes the `expires_in` of tokens issued from now on.
    public func setExpiresIn(_ seconds: Int) { self.state.withLock { $0.expiresIn = seconds } }
    /// The partner stops accepting the current token (as if it was revoked); the next one issued is accepted.
    public func revoke() { self.state.withLock { $0.current = nil } }

    /// `accepted` for a request carrying `Authorization: Bearer <current token>`, else 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token"`.
    public func protected(_ accepted: UpstreamStub.Behavior) -> UpstreamStub.Behavior {
        let state = self.state
        return .computed { request in
            let current = state.withLock { $0.current }
            if let current, request.header("Authorization") == "Bearer \(current)" { return accepted }
            return .respond(
                status: 401,
                headers: [
                    ("Content-Type", "application/json"), ("WWW-Authenticate", #"Bearer error="invalid_token""#),
                ],
                body: Array(#"{"error":"invalid_token"}"#.utf8))
        }
    }

    private static func answer(
        _ request: StubRequest, clientID: String, clientSecret: String, salt: String, state: Shared
    ) -> UpstreamStub.Behavior {
        let form = Self.form(request.bodyText)
        var presented: (String, String)?
        if let authorization = request.header("Authorization"), authorization.hasPrefix("Basic "),
            let data = Data(base64Encoded: String(authorization.dropFirst(6))),
            let pair = String(data: data, encoding: .utf8), let colon = pair.firstIndex(of: ":")
        {
            presented = (
                String(pair[..<colon]).removingPercentEncoding ?? "",
                String(pair[pair.index(after: colon)...]).removingPercentEncoding ?? ""
            )
        } else if let id = form["client_id"], let secret = form["client_secret"] {
            presented = (id, secret)
        }
        let good =
            request.method == "POST" && form["grant_type"] == "client_credentials"
            && request.header("Content-Type") == "application/x-www-form-urlencoded"
            && presented.map { $0 == (clientID, clientSecret) } == true
        let (outcome, delayMs): (Outcome, Int) = state.withLock { state in
            state.requests += 1
            state.lastForm = form
            guard good else {
                state.rejectedCredentials += 1
                return (.badCredentials, state.delayMs)
            }
            if let failure = state.failure { return (.failing(failure), state.delayMs) }
            state.issued += 1
            let token = "tok\(salt)-\(state.issued)"
            state.current = token
            return (
                .token(#"{"access_token":"\#(token)","token_type":"Bearer","expires_in":\#(state.expiresIn)}"#),
                state.delayMs
            )
        }
        switch outcome {
        case .badCredentials:
            return .respond(status: 401, body: Array(#"{"error":"invalid_client"}"#.utf8), delayMs: delayMs)
        case .token(let body):
            return .respond(status: 200, body: Array(body.utf8), delayMs: delayMs)
        case .failing(.status(let status)):
            return .respond(status: status, body: Array(#"{"error":"temporarily_unavailable"}"#.utf8), delayMs: delayMs)
        case .failing(.notJSON):
            return .respond(status: 200, body: Array("<html>sign in</html>".utf8), delayMs: delayMs)
        case .failing(.missingAccessToken):
            return .respond(status: 200, body: Array(#"{"token_type":"Bearer"}"#.utf8), delayMs: delayMs)
        }
    }

    /// `a=1&b=x%20y` → ["a": "1", "b": "x y"] (`+` is a space).
    private static func form(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (part: Substring) in
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    public func stop() { self.stub.stop() }
}
