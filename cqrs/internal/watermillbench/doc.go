// Package watermillbench measures cqrs event handling against Watermill's CQRS component
// and against plain courier consumption, side by side in one run. It is a module of its own
// so that Watermill never enters the root module's dependencies. Run:
//
//	go test -run '^$' -bench SideBySide -benchtime 5x ./cqrs/internal/watermillbench/
package watermillbench
