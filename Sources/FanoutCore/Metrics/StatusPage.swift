/// The status page (`GET /` on the admin listener): one self-contained HTML document, inline CSS and JS, no
/// external asset. Its script fetches `status.json` (``StatusReport``) at once and then every second, and
/// redraws two tables: upstreams, and routes with their calls.
///
/// The script only ever sets `textContent` (never `innerHTML`), so a name from the configuration cannot
/// become markup. An error in the script writes `page error: …` into `#page-error` (`window.onerror`), which
/// the browser test looks for. Figures carry `data-figure` attributes and rows `data-route` / `data-upstream`,
/// so a test reads them from the DOM without depending on the layout.
public enum StatusPage {
    public static let contentType = "text/html; charset=utf-8"

    /// How often the page polls `status.json`, in milliseconds.
    public static let pollIntervalMs = 1_000

    public static let html: String = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>fanout status</title>
        <style>
        :root { --fg: #1d232a; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --ok: #067647; --warn: #b54708;
                --bad: #b42318; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
               background: var(--bg); }
        header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px; padding: 14px 24px;
                 background: #fff; border-bottom: 1px solid var(--line); }
        header h1 { margin: 0; font-size: 18px; }
        header .fact { color: var(--muted); }
        header .fact b { color: var(--fg); font-weight: 600; font-variant-numeric: tabular-nums; }
        main { padding: 8px 24px 24px; }
        h2 { font-size: 15px; margin: 18px 0 8px; }
        h2 small { font-weight: normal; color: var(--muted); }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
        th, td { padding: 6px 10px; text-align: right; border-bottom: 1px solid var(--line); white-space: nowrap; }
        th { font-size: 12px; font-weight: 600; color: var(--muted); background: #fbfbfc; }
        th:first-child, td:first-child, td.text, th.text { text-align: left; }
        td.text { white-space: normal; }
        .sub { display: block; font-size: 12px; color: var(--muted); }
        td { font-variant-numeric: tabular-nums; }
        tr.call td { color: #344054; background: #fcfcfd; font-size: 13px; }
        tr.call td:first-child { padding-left: 28px; }
        .tag { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px;
               border: 1px solid var(--line); color: var(--muted); margin-left: 6px; }
        .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
        .pill.closed { color: var(--ok); background: #ecfdf3; }
        .pill.open { color: var(--bad); background: #fef3f2; }
        .pill.half_open { color: var(--warn); background: #fffaeb; }
        .pill.off { color: var(--muted); background: #f2f4f7; font-weight: normal; }
        .bad { color: var(--bad); }
        .muted { color: var(--muted); }
        #state.live { color: var(--ok); }
        #state.lost { color: var(--bad); }
        #page-error { color: var(--bad); font-weight: 600; }
        footer { color: var(--muted); font-size: 12px; margin-top: 14px; }
        </style>
        </head>
        <body>
        <header>
          <h1>fanout</h1>
          <span class="fact">status <b id="state">loading…</b></span>
          <span class="fact">up <b id="uptime">–</b></span>
          <span class="fact">workers <b id="workers">–</b></span>
          <span class="fact">requests in flight <b id="in-flight">–</b></span>
          <span class="fact">client connections <b id="connections">–</b></span>
          <span class="fact">updates <b id="polls" data-polls="0">0</b></span>
          <span id="page-error"></span>
        </header>
        <main>
          <h2>Upstreams</h2>
          <table>
            <thead><tr><th>upstream</th><th>in flight</th><th>queued</th><th class="text">breaker</th>
              <th class="text">failures</th><th>cache hit / miss</th><th>coalesced</th><th>retries / hedges</th>
              <th>connections new / reused</th></tr></thead>
            <tbody id="upstreams"></tbody>
          </table>
          <h2>Routes <small id="window"></small></h2>
          <table>
            <thead><tr><th>route / call</th><th>requests</th><th class="text">statuses</th><th>recent</th><th>p50</th>
              <th>p99</th></tr></thead>
            <tbody id="routes"></tbody>
          </table>
          <footer>Totals since start; "recent", p50 and p99 over the window shown above, estimated from
            histogram buckets (1 ms … 10 s) like Prometheus's histogram_quantile. Raw figures:
            <a href="status.json">status.json</a>, <a href="metrics">metrics</a>.</footer>
        </main>
        <script>
        "use strict";
        window.onerror = function (message) {
          document.getElementById("page-error").textContent = "page error: " + message;
        };
        let polls = 0;
        function cell(row, text, figure, className) {
          const td = row.insertCell();
          td.textContent = text;
          if (className) td.className = className;
          if (figure) td.dataset.figure = figure;
          return td;
        }
        function ms(value) { return value === null ? "–" : value.toFixed(1) + " ms"; }
        function milliseconds(value) { return value % 1000 === 0 ? value / 1000 + " s" : value + " ms"; }
        function duration(seconds) {
          if (seconds < 120) return Math.round(seconds) + " s";
          if (seconds < 7200) return Math.round(seconds / 60) + " min";
          return (seconds / 3600).toFixed(1) + " h";
        }
        function pairs(object) {
          const keys = Object.keys(object);
          return keys.length === 0 ? "–" : keys.map(function (key) { return key + " " + object[key]; }).join(", ");
        }
        function tag(td, text) {
          const span = document.createElement("span");
          span.className = "tag";
          span.textContent = text;
          td.appendChild(span);
        }
        function routeRows(body, route) {
          const row = body.insertRow();
          row.dataset.route = route.name;
          const name = cell(row, route.name, "name");
          tag(name, route.kind + (route.deadline_ms ? " · deadline " + milliseconds(route.deadline_ms) : ""));
          cell(row, route.requests, "requests");
          cell(row, pairs(route.statuses), "statuses", "text");
          cell(row, route.recent.count, "recent");
          cell(row, ms(route.recent.p50_ms), "p50");
          cell(row, ms(route.recent.p99_ms), "p99");
          route.calls.forEach(function (call) {
            const callRow = body.insertRow();
            callRow.className = "call";
            callRow.dataset.route = route.name;
            callRow.dataset.call = call.name;
            const callName = cell(callRow, call.name + " → " + call.upstream, "name");
            if (call.optional) tag(callName, "optional");
            if (call.for_each) tag(callName, "for_each");
            cell(callRow, call.total, "requests");
            cell(callRow, "", null);
            cell(callRow, call.recent.count, "recent");
            cell(callRow, ms(call.recent.p50_ms), "p50");
            cell(callRow, ms(call.recent.p99_ms), "p99");
          });
        }
        function upstreamRow(body, upstream) {
          const row = body.insertRow();
          row.dataset.upstream = upstream.name;
          const name = cell(row, upstream.name, "name");
          const origin = document.createElement("span");
          origin.className = "sub";
          origin.textContent = upstream.origin;
          name.appendChild(origin);
          cell(row, upstream.in_flight + " / " + upstream.max_connections, "in-flight");
          cell(row, upstream.queued, "queued");
          const breaker = cell(row, "", null, "text");
          const pill = document.createElement("span");
          if (upstream.breaker === null) {
            pill.className = "pill off";
            pill.textContent = "off";
          } else {
            const b = upstream.breaker;
            pill.className = "pill " + b.state;
            pill.textContent = b.state.replace("_", "-") +
              (b.state === "closed" ? "" : " on " + (b.open + b.half_open) + " of " + b.workers);
          }
          pill.dataset.figure = "breaker";
          breaker.appendChild(pill);
          if (upstream.breaker_opens > 0) tag(breaker, "opened " + upstream.breaker_opens + "×");
          const failures = cell(row, pairs(upstream.failures), "failures", "text");
          if (Object.keys(upstream.failures).length > 0) failures.className = "text bad";
          cell(row, upstream.cache_hits + " / " + upstream.cache_misses, "cache");
          cell(row, upstream.coalesced, "coalesced");
          cell(row, upstream.retries + " / " + upstream.hedges, "retries-hedges");
          cell(row, upstream.connections_opened + " / " + upstream.connections_reused, "connections");
        }
        function render(status) {
          document.getElementById("uptime").textContent = duration(status.uptime_s);
          document.getElementById("workers").textContent = status.workers;
          document.getElementById("in-flight").textContent = status.requests_in_flight;
          document.getElementById("connections").textContent = status.client_connections;
          const span = duration(status.window_s);
          document.getElementById("window").textContent = "recent = " +
            (status.window_since_start ? "since start (" + span + ")" : "last " + span);
          const routes = document.createElement("tbody");
          routes.id = "routes";
          status.routes.forEach(function (route) { routeRows(routes, route); });
          if (status.unmatched.requests > 0) {
            routeRows(routes, { name: "(no route)", kind: "404/405", requests: status.unmatched.requests,
              statuses: status.unmatched.statuses, recent: status.unmatched.recent, calls: [] });
          }
          document.getElementById("routes").replaceWith(routes);
          const upstreams = document.createElement("tbody");
          upstreams.id = "upstreams";
          status.upstreams.forEach(function (upstream) { upstreamRow(upstreams, upstream); });
          document.getElementById("upstreams").replaceWith(upstreams);
        }
        function setState(text, className) {
          const state = document.getElementById("state");
          state.textContent = text;
          state.className = className;
        }
        function poll() {
          fetch("status.json", { cache: "no-store" })
            .then(function (response) {
              if (!response.ok) throw new Error("status.json answered " + response.status);
              return response.json();
            })
            .then(function (status) {
              render(status);
              polls += 1;
              const counter = document.getElementById("polls");
              counter.textContent = polls;
              counter.dataset.polls = polls;
              setState("live", "live");
            })
            .catch(function (error) { setState("not reachable (" + error.message + ")", "lost"); });
        }
        poll();
        setInterval(poll, \#(pollIntervalMs));
        </script>
        </body>
        </html>

        """#
}
