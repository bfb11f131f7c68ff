# Gatehouse: build with cgo (go-sqlite3), run as a non-root user with the
# database (and its secret key, auth.db.key) on a volume; /keys is for a key
# shared by several instances (compose.yaml).
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v gatehouse-data:/data gatehouse

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/gatehouse .

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --no-log-init --user-group --home-dir /data --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /data /keys \
 && chown gatehouse:gatehouse /data /keys
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER gatehouse
ENV GATEHOUSE_DB=/data/auth.db \
    GATEHOUSE_ADDR=:8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
