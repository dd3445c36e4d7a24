// Package chserver runs a private ClickHouse server from its installed binary,
// for tests and local development.
//
// Start writes a self-contained configuration (root element <yandex>, which
// ClickHouse 18.16 and modern releases both accept) into a folder of its own,
// starts clickhouse-server on free loopback ports and returns once the server
// answers /ping. The child process is killed if the parent dies (Linux), so a
// crashed test binary does not leave servers behind.
//
// No Docker is needed: the binary comes from the distribution package
// (apt-get install -y clickhouse-server), which Install can run.
package chserver
