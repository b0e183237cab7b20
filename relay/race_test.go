//go:build race

package relay_test

// raceEnabled: the race detector slows everything about tenfold; heavy
// tests scale down.
const raceEnabled = true
