import Glibc
import Testing

@testable import FanoutRuntime

@Suite struct SystemErrorTests {
    @Test func namesTheCallAndTheErrno() throws {
        // Reading a closed descriptor fails with EBADF.
        let error = #expect(throws: SystemError.self) {
            _ = try Socket.read(-1, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        }
        #expect(error?.call == "read")
        #expect(error?.errno == EBADF)
        #expect(error?.description.contains("read failed") == true)
        #expect(error?.description.contains("errno \(EBADF)") == true)
    }

    @Test(arguments: [
        ("/a/b?x=1", "/a/b?x=1"),
        ("http://example.com/a?b", "/a?b"),
        ("HTTPS://example.com", "/"),
        ("http://example.com?q=1", "/?q=1"),
    ])
    func acceptsOriginAndAbsoluteForm(target: String, expected: String) {
        #expect(RequestDispatcher.originFormTarget(target) == expected)
    }

    @Test func refusesAsteriskAndAuthorityForm() {
        #expect(RequestDispatcher.originFormTarget("*") == nil)
        #expect(RequestDispatcher.originFormTarget("example.com:443") == nil)
    }
}
