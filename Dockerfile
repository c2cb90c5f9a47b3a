# fanout container image: build in the official Swift image, run on slim Debian with libcurl.
#
#   docker build -t fanout .          (here: podman --runtime runc --cgroup-manager cgroupfs build --pull=never -t fanout .)
#   docker run --rm -p 8080:8080 fanout
#   curl localhost:8080/demo
#   curl localhost:9901/healthz      (the admin listener: FANOUT_ADMIN below)
#
# Mount your own configuration at /etc/fanout/proxy.conf; secrets come in as environment variables (${VAR}).

FROM swift:6.3-bookworm AS build
# The build needs libcurl's, zlib's and OpenSSL's headers; install them only where they are missing.
RUN (pkg-config --exists libcurl && pkg-config --exists zlib && pkg-config --exists openssl) 2>/dev/null || \
    (apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcurl4-openssl-dev zlib1g-dev \
        libssl-dev pkg-config && \
    rm -rf /var/lib/apt/lists/*)
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# Package.swift declares test targets; SwiftPM refuses to load the package if their folders are missing.
COPY Tests ./Tests
# Package.swift declares the JSON micro-benchmark target too; SwiftPM wants its sources present.
COPY Benchmarks/JSONBench ./Benchmarks/JSONBench
RUN swift build -c release --static-swift-stdlib --product fanout \
    && install -D "$(swift build -c release --show-bin-path)/fanout" /out/fanout \
    && strip /out/fanout

FROM debian:bookworm-slim
# libssl3 for TLS to the shared store (libcurl4 needs it too), libcurl4 for upstream calls (bookworm's 7.88.1:
# bookworm-backports' 8.14.1 costs more per call, see docs/operations/container.md, "libcurl version"), curl
# for the HEALTHCHECK, ca-certificates for https partners.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libssl3 libcurl4 curl ca-certificates && \
    apt-get clean && rm -rf /var/lib/apt/lists/* && \
    useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fanout
COPY --from=build /out/fanout /usr/local/bin/fanout
COPY proxy.conf /etc/fanout/proxy.conf
# The shipped proxy.conf reads these: listen on all interfaces inside the container.
ENV FANOUT_HOST=0.0.0.0 FANOUT_PORT=8080
# The admin listener (/healthz, /readyz, /metrics) for the HEALTHCHECK, Kubernetes probes and Prometheus.
# `fanout serve` reads FANOUT_ADMIN itself: it sets admin_listen whatever the configuration says, so a mounted
# configuration without admin_listen gets it too. Values: a port (on 127.0.0.1), *:PORT, or off.
ENV FANOUT_ADMIN=*:9901
USER 10001:10001
EXPOSE 8080 9901
# /healthz on the admin listener, over loopback (so FANOUT_ADMIN must be PORT, *:PORT, 0.0.0.0:PORT or
# 127.0.0.1:PORT); shell form, so the port follows FANOUT_ADMIN when it is overridden at run time. With
# FANOUT_ADMIN=off (or empty) there is nothing to probe and the check passes.
HEALTHCHECK --interval=10s --timeout=2s --start-period=2s --retries=3 \
    CMD case "${FANOUT_ADMIN:-off}" in off) exit 0 ;; esac; \
        curl -fsS "http://127.0.0.1:${FANOUT_ADMIN##*:}/healthz" >/dev/null || exit 1
# SIGTERM drains in-flight requests (shutdown_timeout, 10 s by default) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/fanout"]
CMD ["serve", "-c", "/etc/fanout/proxy.conf"]
