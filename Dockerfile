# Builds rtt's static binaries into one small image; compose.yaml runs each
# service from it with its own command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./services/ingest ./services/drift ./services/corridor ./services/sink ./cmd/rtt

FROM alpine:3.20
RUN adduser -D -u 10001 rtt && mkdir -p /data && chown rtt /data
COPY --from=build /out/ /usr/local/bin/
USER rtt
WORKDIR /data
