# syntax=docker/dockerfile:1
# sb-cookie-proxy: the production build (no demo, no stand-in Supabase) in a
# distroless image holding the binary only, run as a non-root user.
#
#   docker build -t sb-cookie-proxy .
#   docker run -p 8787:8787 -e SUPABASE_URL=... -e SUPABASE_ANON_KEY=... \
#     -e PROXY_PUBLIC_URL=https://app.example.com/supabase \
#     -v sbp-data:/var/lib/sb-cookie-proxy sb-cookie-proxy
#
# tests/e2e/packaging.rs builds the binary with this file's cargo line.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features -p sb-cookie-proxy \
    && install -D -m 0755 target/release/sb-cookie-proxy /out/sb-cookie-proxy \
    && install -d -m 0700 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sb-cookie-proxy /usr/local/bin/sb-cookie-proxy
COPY --from=build --chown=65532:65532 /out/data /var/lib/sb-cookie-proxy
ENV PROXY_LISTEN=0.0.0.0:8787 \
    PROXY_SESSION_STORE=file:/var/lib/sb-cookie-proxy/sessions.redb
VOLUME ["/var/lib/sb-cookie-proxy"]
EXPOSE 8787
USER nonroot
ENTRYPOINT ["/usr/local/bin/sb-cookie-proxy"]
