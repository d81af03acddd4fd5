//go:build race

package integration

// raceEnabled is set when the race detector runs: it slows the two sides of a throughput
// comparison unequally, so such comparisons are skipped.
const raceEnabled = true
