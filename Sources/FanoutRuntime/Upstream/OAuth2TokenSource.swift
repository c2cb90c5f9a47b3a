import FanoutCore

/// One upstream's access token on one worker (`oauth2`): the pure ``OAuth2TokenState`` and the token requests
/// it asks for. A request is an ordinary transfer on the worker's libcurl multi handle (a form POST to
/// `token_url`, ``OAuth2TokenRequest``), admitted through the token endpoint's own slot, so it never takes a
/// place of the partner's `max_connections` nor counts for its breaker. Used on the loop thread only.
final class OAuth2TokenSource {
    let upstreamName: String
    let settings: OAuth2Settings
    /// The admission slots of the upstream's calls and of the token requests.
    let tokenSlot: AdmissionSlot
    private let connectTimeoutMs: Int
    private var state: OAuth2TokenState
    /// Why the last request failed, for the `auth` failures it causes; never holds a secret.
    private(set) var lastFailure = "no token yet"
    /// Calls waiting for the request in flight (``OAuth2Calls`` ids), in arrival order.
    var waiters: [UInt64] = []

    init(upstreamName: String, settings: OAuth2Settings, tokenSlot: AdmissionSlot, connectTimeoutMs: Int) {
        self.upstreamName = upstreamName
        self.settings = settings
        self.tokenSlot = tokenSlot
        self.connectTimeoutMs = connectTimeoutMs
        self.state = OAuth2TokenState(refreshBeforeMs: settings.refreshBeforeMs)
    }

    func acquire(now: UInt64) -> OAuth2TokenState.Acquisition { self.state.acquire(now: now) }

    func invalidate(_ token: String) { self.state.invalidate(token) }

    /// Sends the token request; `settled` runs on the loop once it ended and the state took its result, with
    /// whether a token came.
    func fetch(through client: UpstreamClient, now: UInt64, settled: @escaping (OAuth2TokenSource, Bool) -> Void) {
        let request = UpstreamRequest.tokenRequest(
            self.settings, upstreamName: self.upstreamName, tokenSlot: self.tokenSlot,
            connectTimeoutMs: self.connectTimeoutMs, now: now)
        client.admit(request) { [weak self, weak client] result in
            guard let self, let client else { return }
            client.loop.refreshNow()
            let gotToken = self.finished(result, now: client.loop.now)
            settled(self, gotToken)
        }
    }

    private func finished(_ result: UpstreamResult, now: UInt64) -> Bool {
        let failure: String
        switch result.outcome {
        case .success(let answer) where (200..<300).contains(answer.status):
            switch OAuth2TokenResponse.parse(answer.body) {
            case .success(let token):
                self.state.fetchSucceeded(token, now: now)
                return true
            case .failure(let problem):
                failure = "\(problem)"
            }
        case .success(let answer):
            // The body is not quoted: a token endpoint's error page may echo the request.
            failure = "token endpoint answered with status \(answer.status)"
        case .failure(let callFailure):
            failure = "token endpoint: \(callFailure)"
        }
        self.lastFailure = failure
        self.state.fetchFailed(now: now)
        return false
    }
}
