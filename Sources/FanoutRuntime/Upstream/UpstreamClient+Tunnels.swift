import CCurl
import FanoutCore

/// The connect-only transfers of `Upgrade` tunnels. They bypass admission control (a tunnel is a client's
/// connection, held for as long as the client wants, not a call) and stay in the multi handle until the
/// tunnel ends: libcurl 7.88.1 finds a connect-only connection for `curl_easy_send`/`recv` through the multi
/// handle only, and closes it when the handle is removed.
extension UpstreamClient {
    /// Starts connecting; `done` runs on the loop thread, outside libcurl callbacks, with CURLE_OK once the
    /// connection (TLS included) is up. Nil when no handle could be made or the worker is shutting down.
    func connectTunnel(
        url: String, transport: TransportOptions, connectTimeoutMs: Int, done: @escaping (CURLcode) -> Void
    ) -> CurlTransfer? {
        guard !closed, let transfer = CurlTransfer() else { return nil }
        transfer.prepareConnectOnly(url: url, transport: transport, connectTimeoutMs: connectTimeoutMs)
        transfer.connectOnlyDone = done
        tunnelTransfers[ObjectIdentifier(transfer)] = transfer
        guard curl_multi_add_handle(multi, transfer.easy) == CURLM_OK else {
            tunnelTransfers.removeValue(forKey: ObjectIdentifier(transfer))
            transfer.destroy()
            return nil
        }
        return transfer
    }

    /// Ends a tunnel's transfer: libcurl closes its connection. The caller has stopped watching the socket.
    func releaseTunnel(_ transfer: CurlTransfer) {
        guard tunnelTransfers.removeValue(forKey: ObjectIdentifier(transfer)) != nil else { return }
        transfer.connectOnlyDone = nil
        curl_multi_remove_handle(multi, transfer.easy)
        transfer.destroy()
    }
}
