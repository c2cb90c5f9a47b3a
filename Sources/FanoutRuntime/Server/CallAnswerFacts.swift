import FanoutCore

/// What a composite route's `pass_header` and `cache_control derived` need from its calls' answers, gathered
/// as the calls finish: the header fields of the answers to pass from, and each cached call's freshness.
struct CallAnswerFacts {
    /// By call index: the call's answer is kept with every header field (it is named by `pass_header`).
    let capturesHeaders: [Bool]
    private var headers: [[(name: String, value: String)]?]
    private var freshness: [CallFreshness?]

    init(_ route: CompositeRoute, _ plan: ResponseHeaderPlan) {
        var captures = [Bool](filling: false, count: route.calls.count)
        for pass in plan.passed { captures[pass.call] = true }
        capturesHeaders = captures
        headers = [[(name: String, value: String)]?](filling: nil, count: route.calls.count)
        freshness = [CallFreshness?](filling: nil, count: route.calls.count)
    }

    /// Notes one transfer's result (a `for_each` call has one per item).
    mutating func note(_ result: UpstreamResult, call: Int, isItem: Bool, cached: Bool) {
        if case .success(let response) = result.outcome, capturesHeaders[call], !isItem,
            (200...299).contains(response.status)
        {
            headers[call] = response.headers
        }
        if cached {
            freshness[call] = DerivedCacheControl.combine(freshness[call], result.freshness ?? .uncacheable)
        }
    }

    /// The composite answer's passed fields and derived `Cache-Control`; a call the run counts as failed
    /// passes nothing and is uncacheable.
    func fields(of plan: ResponseHeaderPlan, status: Int, runCalls: [AccessLogCall]) -> [(name: String, value: String)]
    {
        var answered = headers
        var contributions: [CallFreshness] = []
        for index in freshness.indices {
            let failed = index >= runCalls.count || runCalls[index].failure != nil
            if failed { answered[index] = nil }
            contributions.append(failed ? .uncacheable : freshness[index] ?? .uncacheable)
        }
        return plan.compositeFields(answerHeaders: answered, status: status, freshness: contributions)
    }
}
