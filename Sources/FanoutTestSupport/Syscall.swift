import Glibc

/// The one place in this target that reads `errno`.
enum Syscall {
    /// Runs `body`, retrying while it fails with `EINTR`, and throws ``TestSupportError`` naming `call` on
    /// any other failure (`-1` return).
    ///
    /// `EAGAIN`/`EWOULDBLOCK` become ``TestSupportError/Kind/timedOut``: every socket here is blocking, so
    /// those only appear when `SO_RCVTIMEO`/`SO_SNDTIMEO` expires.
    static func call<Result: FixedWidthInteger & SignedInteger>(
        _ call: String,
        _ body: () -> Result
    ) throws -> Result {
        while true {
            let result = body()
            if result != -1 {
                return result
            }
            let code = errno
            if code == EINTR {
                continue
            }
            throw TestSupportError.system(code, call: call)
        }
    }
}
