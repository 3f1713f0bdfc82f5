package journal

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's log through slog: its chatty informational
// messages at Debug, errors at Error.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "source", "pebble")
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

// Fatalf must not return. Pebble's default logger exits the process; this
// one panics with a pebbleFatal so that Store.apply can turn a fatal commit
// error into the store's sticky failure. Anywhere else the panic still ends
// the process, with a stack.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "source", "pebble", "fatal", true)
	panic(pebbleFatal(msg))
}

// pebbleFatal is the panic value of pebbleLogger.Fatalf.
type pebbleFatal string

func (f pebbleFatal) Error() string { return string(f) }
