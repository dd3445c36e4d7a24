// Package natsx wraps nats-server and nats.go for rtt: the embedded
// one-machine server, connections that log their state, and the streams,
// subjects and headers every service agrees on.
package natsx
