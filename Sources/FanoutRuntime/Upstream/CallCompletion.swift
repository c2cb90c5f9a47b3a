/// What runs when an upstream call ends: a closure, or a listener told which of its calls it was.
///
/// Every layer (``CallCache``, ``CallCoalescer``, ``CallAttempts``, ``OAuth2Calls``, ``UpstreamClient``) hands
/// it down and keeps it as it is. A composite call's was a closure made per call (an allocation, freed when the
/// call ended); its exchange is a ``CallListener`` now, told the call by a ``CallTag``.
enum CallCompletion {
    case closure((UpstreamResult) -> Void)
    /// `listener` is held strongly until the call ends, is cancelled or is let go (as a closure capturing it was).
    case listener(any CallListener, CallTag)

    /// Runs the completion with `result`.
    func callAsFunction(_ result: UpstreamResult) {
        switch self {
        case .closure(let body): body(result)
        case .listener(let listener, let tag): listener.callFinished(tag, result)
        }
    }
}

/// An object that hears the outcomes of the calls it started with a ``CallCompletion/listener(_:_:)``.
protocol CallListener: AnyObject {
    /// The call `tag` names ended with `result` (on the loop thread, never inside a libcurl callback).
    func callFinished(_ tag: CallTag, _ result: UpstreamResult)
}

/// Which of a listener's calls ended: a composite exchange's launch id, the route's call index, and whether the
/// call is an item of a `for_each`.
struct CallTag {
    var id: Int
    var call: Int
    var isItem: Bool
}

extension UpstreamCalls {
    /// ``start(_:completion:)`` with a closure.
    @discardableResult
    func start(_ request: consuming UpstreamRequest, completion: @escaping (UpstreamResult) -> Void) -> Handle {
        start(request, completion: .closure(completion))
    }
}

extension UpstreamClient {
    /// ``admit(_:completion:)`` with a closure.
    @discardableResult
    func admit(_ request: consuming UpstreamRequest, completion: @escaping (UpstreamResult) -> Void) -> TransferID {
        admit(request, completion: .closure(completion))
    }
}
