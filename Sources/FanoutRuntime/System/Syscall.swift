import Glibc

/// The outcome of a non-blocking system call that may have nothing to do right now.
enum IOResult<T> {
    case processed(T)
    case wouldBlock
}

/// Runs a system call, retrying on `EINTR`. This is the one place errno is read after a syscall.
///
/// - Parameters:
///   - name: the C function's name, for the error.
///   - body: the call; returns -1 and sets errno on failure.
/// - Returns: `.wouldBlock` for `EAGAIN`/`EWOULDBLOCK`, otherwise the result.
/// - Throws: `SystemError` for every other errno.
@inline(__always)
func syscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let code = Glibc.errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default: throw SystemError(call: "\(name)", errno: code)
        }
    }
}

/// Like `syscall` for calls that never legitimately return `EAGAIN`.
@inline(__always)
func blockingSyscall<T: FixedWidthInteger>(_ name: StaticString, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: "\(name)", errno: code)
    }
}

/// Closes a descriptor. `EINTR` is not retried: on Linux the descriptor is released even when close is
/// interrupted, and a retry could close a number another thread just got (lwn.net/Articles/576478).
@inline(__always)
func closeDescriptor(_ fd: Int32) {
    _ = Glibc.close(fd)
}
