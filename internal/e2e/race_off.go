//go:build !race

package e2e

// RaceEnabled says the tests run with the race detector, and tend is built with it.
const RaceEnabled = false
