/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port the kernel chose, and closes the socket. **Racy by design**: another
/// process (or a parallel test) may take the port before the caller binds it. Use it only for configuration
/// that must name a port up front; anything that can bind port 0 itself and report its port (the proxy
/// under test, ``UpstreamStub``) should do that instead.
/// - Throws: ``TestSupportError`` naming `socket`, `bind` or `getsockname`.
public func freeTCPPort() throws -> UInt16 {
    let fd = try TCPSocket.makeLoopbackListener(listening: false)
    defer { TCPSocket.close(fd) }
    return try TCPSocket.localPort(fd)
}
