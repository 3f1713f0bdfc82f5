//go:build race

package orderentry

const raceEnabled = true
