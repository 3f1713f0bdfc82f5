package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/orderentry"
	"github.com/ringex/ringex/pipeline"
)

// TestParseConfigRejects checks that every flag is validated at parse time
// with a message naming the flag and what it accepts. Each of these was
// accepted (or panicked later) before.
func TestParseConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // substrings of the error, all required
	}{
		{[]string{"-max-conns", "-1"}, []string{"-max-conns -1: want 1-1000000"}},
		{[]string{"-max-conns", "0"}, []string{"-max-conns 0: want 1-"}},
		{[]string{"-max-inflight", "-1"}, []string{"-max-inflight -1: want 1-"}},
		{[]string{"-max-inflight", "0"}, []string{"-max-inflight 0: want 1-"}},
		{[]string{"-idle-timeout", "-1s"}, []string{"-idle-timeout -1s: want 1s-24h"}},
		{[]string{"-heartbeat", "0"}, []string{"-heartbeat 0s: want 100ms-1h"}},
		{[]string{"-heartbeat", "-1s"}, []string{"-heartbeat -1s: want"}},
		{[]string{"-ring-size", "0"}, []string{"-ring-size 0: want a power of two, 1-"}},
		{[]string{"-ring-size", "1000"}, []string{"-ring-size 1000: want a power of two"}},
		{[]string{"-out-ring-size", "128"}, []string{"-out-ring-size 128: want a power of two, 256-"}},
		{[]string{"-busy-timeout", "-1ms"}, []string{"-busy-timeout -1ms: want 1µs-10s"}},
		{[]string{"-busy-timeout", "0"}, []string{"-busy-timeout 0s: want"}},
		{[]string{"-loops", "-1"}, []string{"-loops -1: want 0-1024"}},
		{[]string{"-md-loops", "-1"}, []string{"-md-loops -1: want 0-1024"}},
		{[]string{"-md-loops", "1025"}, []string{"-md-loops 1025: want 0-1024"}},
		{[]string{"-md-max-coalesce", "-1ms"}, []string{"-md-max-coalesce -1ms: want 0 (off) or 100µs-1s"}},
		{[]string{"-md-max-coalesce", "2s"}, []string{"-md-max-coalesce 2s: want 0 (off) or 100µs-1s"}},
		{[]string{"-md-nice", "-1"}, []string{"-md-nice -1: want 0-19"}},
		{[]string{"-md-nice", "20"}, []string{"-md-nice 20: want 0-19"}},
		{[]string{"-gomaxprocs", "-1"}, []string{"-gomaxprocs -1: want 0-4096"}},
		{[]string{"stray"}, []string{`unexpected argument "stray"`}},
		{[]string{"-sync", "always", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"-asset", "BT C:id=1,tick=1,lot=1,min=1,max=10,maxqty=10"}, []string{"0x20", "0x21-0x7E"}},
		{[]string{"-asset", "BTC\x7f:id=1,tick=1,lot=1,min=1,max=10,maxqty=10"}, []string{"0x7f"}},
		{[]string{"-asset", "BTC:id=1,tick=1,lot=1,min=1,max=10"}, []string{"missing maxqty="}},
		{[]string{"-asset", "BTC:id=1,id=2,tick=1,lot=1,min=1,max=10,maxqty=10"}, []string{"id= given twice"}},
		{[]string{"-asset", "BTC:id=70000,tick=1,lot=1,min=1,max=10,maxqty=10"}, []string{"id=70000: want 1-65535"}},
		{[]string{"-pin", "journal=5000"}, []string{"-pin: journal=5000: CPU 5000 is not in the process's affinity set"}},
		{[]string{"-pin", "journal=x"}, []string{"-pin:", "want stage=cpu"}},
		{[]string{"-pin", "bogus=0"}, []string{"unknown stage"}},
		{[]string{"-md-cpus", "5000"}, []string{"-md-cpus: CPU 5000 is not in the process's affinity set"}},
		{[]string{"-md-cpus", "1-0"}, []string{"-md-cpus:", `"1-0": want a CPU or a range`}},
		{[]string{"-md-cpus", "x"}, []string{"-md-cpus:", `"x": want a CPU`}},
		{[]string{"-md-cpus", "0,"}, []string{"-md-cpus:", `"": want a CPU`}},
		{[]string{"-sync", "sometimes"}, []string{"-sync:"}},
		{[]string{"-sync", "interval=-1s"}, []string{"-sync:"}},
		{[]string{"-wait", "nap"}, []string{"-wait:"}},
		{[]string{"-log-level", "loud"}, []string{"-log-level"}},
		{[]string{"-listen", "7001"}, []string{`-listen "7001": want host:port`}},
		{[]string{"-md-listen", "127.0.0.1:7001"}, []string{"already used by -listen"}},
		{[]string{"-data", ""}, []string{"-data"}},
		{[]string{"-asset", "A:id=1,tick=1,lot=1,min=1,max=9,maxqty=9", "-asset", "B:id=1,tick=1,lot=1,min=1,max=9,maxqty=9"}, []string{"-asset B: id 1 or symbol given twice"}},
		{[]string{"-nope"}, []string{"not defined: -nope"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseConfig(tc.args, io.Discard)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The defaults are the packages' own.
	if c.maxConns != orderentry.DefaultMaxConns || c.maxInFlight != orderentry.DefaultMaxInFlight ||
		c.idle != orderentry.DefaultIdleTimeout || c.heartbeat != netio.DefaultHeartbeat ||
		c.busy != orderentry.DefaultBusyTimeout || c.inSize != pipeline.DefaultInSize || c.outSize != pipeline.DefaultOutSize {
		t.Fatalf("defaults differ from the packages': %+v", c)
	}
	// Order entry one event loop, market data one per CPU (docs/performance.md).
	if c.loops != 1 || c.mdLoops != 0 {
		t.Fatalf("-loops %d -md-loops %d, want 1 and 0", c.loops, c.mdLoops)
	}
	if c.pin != pipeline.NoPinning {
		t.Fatalf("pin %+v, want none", c.pin)
	}
	if len(c.assets) != 3 || c.assets[0].Config.Symbol != "BTC-USD" || c.assets[0].PriceDecimals != 2 || c.assets[0].QtyDecimals != 4 {
		t.Fatalf("default assets: %+v", c.assets)
	}
	if _, err := parseConfig([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestParseConfigAccepts(t *testing.T) {
	c, err := parseConfig([]string{
		"-asset", "X!~:id=9,tick=5,lot=2,min=5,max=50,maxqty=10,pdec=1,qdec=0",
		"-asset", "Y:id=10,tick=1,lot=1,min=1,max=9,maxqty=9",
		"-pin", "journal=0,matcher=0", "-md-cpus", "0,0-0",
		"-max-conns", "1", "-ring-size", "1", "-out-ring-size", "256", "-busy-timeout", "1us",
		"-idle-timeout", "24h", "-heartbeat", "100ms", "-loops", "0", "-md-loops", "4", "-gomaxprocs", "0", "-md-nice", "19",
		"-sync", "interval=5ms", "-admin", "", "-accept-journal-loss", "-md-max-coalesce", "0",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.assets) != 2 || c.assets[0].Config.Symbol != "X!~" || c.assets[0].PriceDecimals != 1 || c.assets[1].PriceDecimals != 0 {
		t.Fatalf("assets %+v", c.assets)
	}
	if c.pin.Journal != 0 || c.pin.Matcher != 0 || c.pin.Acker != -1 || c.busy != time.Microsecond || !c.acceptJournalLoss || c.mdMaxCoalesce != 0 ||
		c.loops != 0 || c.mdLoops != 4 || c.mdNice != 19 || !slices.Equal(c.mdCPUs, []int{0}) {
		t.Fatalf("config %+v", c)
	}
}

// By default the runtime gets a P more than the gnet loops of both servers;
// -md-nice gives it a P per market-data loop on top of the current count,
// unless -gomaxprocs says how many.
func TestConfigGomaxprocs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 1 + 2 + 1}, // one order-entry loop, a market-data loop per CPU
		{[]string{"-loops", "1", "-md-loops", "1"}, 1 + 1 + 1}, // above the CPU count
		{[]string{"-loops", "0", "-md-loops", "0"}, 2 + 2 + 1},
		{[]string{"-gomaxprocs", "3"}, 3},
		{[]string{"-md-nice", "10"}, 1 + 2 + 1}, // current 2 + 2 loops is less
		{[]string{"-md-nice", "10", "-md-loops", "1"}, 1 + 1 + 1},
		{[]string{"-md-nice", "10", "-gomaxprocs", "2"}, 2},     // said
		{[]string{"-md-nice", "10", "-md-loops", "1024"}, 1026}, // within maxProcs
	} {
		c, err := parseConfig(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.gomaxprocs(2, 2); got != tc.want {
			t.Errorf("%v: GOMAXPROCS %d, want %d", tc.args, got, tc.want)
		}
	}
}

// -md-cpus takes the market-data loops' CPUs out of the others' set, and
// refuses to take every CPU.
func TestConfigMDCPUs(t *testing.T) {
	all, err := processCPUs()
	if err != nil || len(all) == 0 {
		t.Skipf("the process's CPUs: %v %v", all, err)
	}
	every := strings.Trim(strings.ReplaceAll(fmt.Sprint(all), " ", ","), "[]")
	if _, err := parseConfig([]string{"-md-cpus", every}, io.Discard); err == nil || !strings.Contains(err.Error(), "leaving none for the order path") {
		t.Errorf("-md-cpus naming every CPU: %v", err)
	}
	if len(all) < 2 {
		return
	}
	last := all[len(all)-1]
	c, err := parseConfig([]string{"-md-cpus", strconv.Itoa(last)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.mdCPUs, []int{last}) || !slices.Equal(c.restCPUs, all[:len(all)-1]) {
		t.Errorf("md %v rest %v, want [%d] and %v", c.mdCPUs, c.restCPUs, last, all[:len(all)-1])
	}
	if got := c.gomaxprocs(2, 2); got != 1+2+4 { // the order path's four goroutines get a P each
		t.Errorf("GOMAXPROCS %d with -md-cpus, want %d", got, 1+2+4)
	}
}
