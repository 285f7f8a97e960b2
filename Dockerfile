# ingestd: build on Debian 12, run on a slim Debian 12 with only the runtime libraries.
#   docker build -t ingestd .
#   docker run -e DATABASE_URL=postgres://... -p 8080:8080 ingestd
# Without DATABASE_URL the image can run the embedded PostgreSQL too (the
# postgresql-15 server package is included for that), keeping its data in
# /var/lib/ingestd (mount a volume there).

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libpq-dev zlib1g-dev uuid-dev \
      libssl-dev libyaml-dev libsnappy-dev libzstd-dev libisal-dev libgit2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY core core
COPY codec codec
COPY storage storage
COPY clients clients
COPY jobs jobs
COPY handlers handlers
COPY server server
COPY migrations migrations
COPY openapi/openapi.yaml openapi/openapi_html.c openapi/markdown.c openapi/markdown.h openapi/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DINGESTD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && strip build/ingestd

FROM debian:12-slim
# The libraries ingestd links (tests/deploy/check_dockerfile_libs.sh holds this list to the
# binary; ingestd links with --no-as-needed, so libsnappy1v5 and libzstd1 are listed
# before a job calls the Parquet and ORC readers).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libcurl4 libpq5 zlib1g libisal2 libuuid1 libssl3 libsnappy1v5 \
      libzstd1 \
      libgit2-1.5 \
      ca-certificates \
      postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/ingestd --create-home ingestd
COPY --from=build /src/build/ingestd /usr/local/bin/ingestd
USER ingestd
WORKDIR /var/lib/ingestd
ENV INGESTD_LISTEN=0.0.0.0:8080 \
    INGESTD_DATA_DIR=/var/lib/ingestd \
    INGESTD_PG_BINDIR=/usr/lib/postgresql/15/bin
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/ingestd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ingestd"]
CMD ["serve"]
