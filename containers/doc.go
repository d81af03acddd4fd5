// Package containers starts the brokers courier's tests run against, with testcontainers-go,
// on a machine that has a Docker engine.
//
// It is a module of its own so that no other courier module has testcontainers (and the
// Docker client it brings) in its module graph. Tests reach it through the command
// courier-containers, which internal/testenv runs when a COURIER_* variable is unset and a
// Docker engine is there: the command starts the broker, prints its address, and removes
// the container when the test binary that started it exits.
package containers
