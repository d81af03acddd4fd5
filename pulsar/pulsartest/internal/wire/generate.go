// Package wire holds the protocol buffer types of the Pulsar binary protocol
// that pulsartest needs, generated from wire.proto.
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
