/// How the client's side of a connection ended, as the server saw it.
///
/// TCP cannot tell a client that closed its socket from one that only half-closed it (`shutdown(SHUT_WR)`,
/// `nc -q`): both send a FIN, and the difference shows only once the server writes and the closed one
/// answers with an RST. ``ClientDeparture/verdict(answer:abortOnClose:)`` decides what a FIN means.
public enum ClientDeparture: String, Sendable, CaseIterable {
    /// A FIN: a read returned 0, or epoll reported `EPOLLRDHUP`.
    case closed
    /// An RST or a socket error (`EPOLLERR`/`EPOLLHUP`, `ECONNRESET`, `EPIPE`): nothing can be written any more.
    case reset

    /// Where the request on the connection stands when the client's side ends.
    public enum Answer: Sendable {
        /// A request is in hand and its answer is not complete: upstream calls run, its body is still being
        /// uploaded, or a streamed answer is still arriving.
        case pending
        /// The whole answer is queued (and logged); only writing it is left.
        case queued
    }

    /// What the connection does about a departure.
    public enum Verdict: Sendable, Equatable {
        /// The client went away: cancel the request's work, log it with status 499, close.
        case abort
        /// Go on writing the answer (a half-closed client still reads it), then close.
        case keepAnswering
        /// Close: the answer is already logged and cannot be delivered.
        case close
    }

    /// What happens when the client's side ends while `answer` stands.
    ///
    /// A reset always ends the request: nothing can reach the client. A FIN while the answer is pending is an
    /// abort by default (`abort_on_close on`), as nginx (`proxy_ignore_client_abort off`), Envoy and Pingora
    /// treat it: a client that closed must not keep partners working for nobody. With `abort_on_close off` it
    /// is a half-close, as HAProxy treats it without `option abortonclose`: the answer is still written. A FIN
    /// after the answer was queued is a half-close either way: there is no work left to save.
    public func verdict(answer: Answer, abortOnClose: Bool) -> Verdict {
        switch (self, answer) {
        case (.reset, .pending): return .abort
        case (.reset, .queued): return .close
        case (.closed, .pending): return abortOnClose ? .abort : .keepAnswering
        case (.closed, .queued): return .keepAnswering
        }
    }

    /// The status the access log and `fanout_requests_total` show for an aborted request (nginx's "client
    /// closed request").
    public static let abortStatus = 499
}
