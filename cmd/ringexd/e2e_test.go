package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringex/ringex/client"
	"github.com/ringex/ringex/internal/testproc"
	"github.com/ringex/ringex/netio/wire"
)

// These tests run the real ringexd binary on 127.0.0.1 and talk to it
// with the client package, as a trader would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func ringexdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ringexd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ringexd")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback address for ringexd to listen on, reserved
// for the test (see internal/testproc: a port released by 127.0.0.1:0 can
// be taken by a parallel test before the child binds it).
func freePort(t *testing.T) string {
	t.Helper()
	return testproc.Addr(t)
}

type server struct {
	t               *testing.T
	cmd             *exec.Cmd
	addr, md, admin string
	dir             string
	log             testproc.Output // the child's stderr and stdout

	exited  chan struct{} // closed once the child has exited; err then holds why
	err     error
	stopped bool
}

// startServer starts ringexd on dir with the tests' flags, then extra,
// and returns once every port the tests use accepts connections. The test
// fails at once if ringexd exits first.
func startServer(t *testing.T, dir string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dir: dir, addr: freePort(t), md: freePort(t), admin: freePort(t), exited: make(chan struct{})}
	args := []string{"-data", dir, "-listen", s.addr, "-md-listen", s.md, "-admin", s.admin,
		"-sync", "always", "-loops", "2", "-snapshot-every", "50"}
	s.cmd = exec.Command(ringexdBinary(t), append(args, extra...)...)
	// gnet logs to stdout (its launch line names the event loops); the
	// same writer for both makes exec copy them through one pipe.
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop() })
	// The admin port opens once both gnet servers accept; wait for every
	// port anyway, the TLS fronts' callers wait for theirs.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{s.addr, s.md, s.admin} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ringexd did not come up on %s within 20s: %v\n%s", addr, err, s.log.String())
			}
			select {
			case <-s.exited:
				s.stopped = true
				t.Fatalf("ringexd exited (%v) before listening on %s:\n%s", s.err, addr, s.log.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit; a server that exited by
// itself before is reported too.
func (s *server) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.err != nil {
			s.t.Errorf("ringexd exit: %v\n%s", s.err, s.log.String())
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("ringexd did not stop on SIGTERM\n%s", s.log.String())
	}
}

func (s *server) session(user, key string, h client.Handler) *client.Session {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sess, err := client.Dial(ctx, s.addr, user, key, h)
	if err != nil {
		s.t.Fatalf("dial %s: %v", user, err)
	}
	s.t.Cleanup(func() { sess.Close() })
	return sess
}

var btc = wire.MakeSymbol("BTC-USD") // tick 50, lot 1 in the default config

func limit(id uint64, side uint8, price, qty int64) *wire.NewOrder {
	return &wire.NewOrder{ClientOrderID: id, Symbol: btc, Side: side, Type: 1, TIF: 1, Price: price, Qty: qty}
}

// ctx5 bounds one request; the timer it leaves behind ends by itself.
func ctx5() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	time.AfterFunc(5*time.Second, cancel)
	return ctx
}

func wantReject(t *testing.T, what string, err error, code uint16) {
	t.Helper()
	var rej *client.RejectError
	if !errors.As(err, &rej) || rej.Code != code {
		t.Fatalf("%s: got %v, want reject code %d (%s)", what, err, code, wire.ReasonText(code))
	}
}

// privateEvents collects a user's order events from the market-data feed.
type privateEvents struct {
	client.NopFeedHandler
	mu  sync.Mutex
	evs []wire.OrderEvent
	sub chan struct{}
}

func (p *privateEvents) OnSubscribed(*wire.Subscribed) { close(p.sub) }
func (p *privateEvents) OnOrderEvent(e *wire.OrderEvent) {
	p.mu.Lock()
	p.evs = append(p.evs, *e)
	p.mu.Unlock()
}

func (p *privateEvents) find(kind uint8, orderID uint64) (wire.OrderEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.evs {
		if e.Kind == kind && e.OrderID == orderID {
			return e, true
		}
	}
	return wire.OrderEvent{}, false
}

func waitEvent(t *testing.T, p *privateEvents, kind uint8, orderID uint64) wire.OrderEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e, ok := p.find(kind, orderID); ok {
			return e
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no order event of kind %d for order %d", kind, orderID)
	return wire.OrderEvent{}
}

func subscribeOrders(t *testing.T, s *server, user, key string) *privateEvents {
	t.Helper()
	p := &privateEvents{sub: make(chan struct{})}
	f, err := client.DialFeed(ctx5(), s.md, user, key, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Subscribe("BTC-USD", wire.ChanOrders, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.sub:
	case <-time.After(5 * time.Second):
		t.Fatal("private subscription not confirmed")
	}
	return p
}

// TestEndToEnd drives a real ringexd: every order type, cancel and replace
// by the owner, a cancel by another user refused by the matcher, the
// gateway's reject reasons, ack order, and restart continuity.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	alice := s.session("alice", "alice-demo-key", nil)
	bob := s.session("bob", "bob-demo-key", nil)
	aliceEvents := subscribeOrders(t, s, "alice", "alice-demo-key")
	bobEvents := subscribeOrders(t, s, "bob", "bob-demo-key")

	// A resting sell, then a buy that crosses it.
	ask, err := alice.PlaceSync(ctx5(), limit(1, 2, 6_500_000, 10))
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aliceEvents, wire.OrderAccepted, ask.OrderID)
	take, err := bob.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 2, Symbol: btc, Side: 1, Type: 1, TIF: 2, Price: 6_500_000, Qty: 4})
	if err != nil {
		t.Fatal(err)
	}
	fill := waitEvent(t, bobEvents, wire.OrderFilled, take.OrderID)
	if fill.Price != 6_500_000 || fill.Qty != 4 || fill.Remaining != 0 {
		t.Fatalf("bob's fill: %+v", fill)
	}
	makerFill := waitEvent(t, aliceEvents, wire.OrderFilled, ask.OrderID)
	if makerFill.Remaining != 6 {
		t.Fatalf("alice's fill: %+v", makerFill)
	}
	// Private events go to their owner only.
	if _, ok := aliceEvents.find(wire.OrderFilled, take.OrderID); ok {
		t.Fatal("alice received bob's fill")
	}

	// Market order for more than the book holds: the rest is canceled.
	mkt, err := bob.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 3, Symbol: btc, Side: 1, Type: 2, TIF: 2, Qty: 10})
	if err != nil {
		t.Fatal(err)
	}
	if c := waitEvent(t, bobEvents, wire.OrderCanceled, mkt.OrderID); c.Reason != wire.CancelMarketNoFill || c.Qty != 4 {
		t.Fatalf("market remainder: %+v", c)
	}
	// FOK that cannot fill, post-only that would take: refused by the matcher.
	rest, _ := alice.PlaceSync(ctx5(), limit(4, 2, 6_600_000, 5))
	fok, _ := bob.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 5, Symbol: btc, Side: 1, Type: 1, TIF: 3, Price: 6_600_000, Qty: 6})
	if e := waitEvent(t, bobEvents, wire.OrderRejected, fok.OrderID); e.Reason != uint8(wire.ReasonFOKUnfillable) {
		t.Fatalf("FOK: %+v", e)
	}
	po, _ := bob.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 6, Symbol: btc, Side: 1, Type: 1, TIF: 1, PostOnly: true, Price: 6_600_000, Qty: 1})
	if e := waitEvent(t, bobEvents, wire.OrderRejected, po.OrderID); e.Reason != uint8(wire.ReasonPostOnlyTake) {
		t.Fatalf("post-only: %+v", e)
	}

	// Cancel by another user: journaled and acked, then refused by the matcher.
	cx, err := bob.CancelSync(ctx5(), &wire.Cancel{ClientOrderID: 7, Symbol: btc, OrderID: rest.OrderID})
	if err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, bobEvents, wire.OrderRejected, rest.OrderID); e.Reason != uint8(wire.ReasonNotOwner) || e.ClientOrderID != cx.ClientOrderID {
		t.Fatalf("bob's cancel of alice's order: %+v", e)
	}
	// Replace (quantity down) and cancel by the owner.
	if _, err := alice.ReplaceSync(ctx5(), &wire.Replace{ClientOrderID: 8, Symbol: btc, OrderID: rest.OrderID, Qty: 3}); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, aliceEvents, wire.OrderReplaced, rest.OrderID); e.Qty != 3 && e.Remaining != 3 {
		t.Fatalf("replace: %+v", e)
	}
	if _, err := alice.CancelSync(ctx5(), &wire.Cancel{ClientOrderID: 9, Symbol: btc, OrderID: rest.OrderID}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aliceEvents, wire.OrderCanceled, rest.OrderID)

	// Gateway rejects, each with its code, the session going on.
	_, err = alice.PlaceSync(ctx5(), limit(10, 1, 6_500_001, 1))
	wantReject(t, "off tick", err, wire.ReasonOffTick)
	_, err = alice.PlaceSync(ctx5(), limit(11, 1, 6_500_000, 0))
	wantReject(t, "zero qty", err, wire.ReasonBadQuantity)
	_, err = alice.PlaceSync(ctx5(), limit(12, 1, 100_000_000_050, 1))
	wantReject(t, "above band", err, wire.ReasonBadPrice)
	_, err = alice.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 13, Symbol: wire.MakeSymbol("DOGE"), Side: 1, Type: 1, TIF: 1, Price: 50, Qty: 1})
	wantReject(t, "unknown asset", err, wire.ReasonUnknownAsset)
	_, err = alice.PlaceSync(ctx5(), &wire.NewOrder{ClientOrderID: 14, Symbol: btc, Side: 3, Type: 1, TIF: 1, Price: 50, Qty: 1})
	wantReject(t, "bad side", err, wire.ReasonBadSide)

	// Acks of pipelined orders come back in journal order.
	rec := &ackRecorder{done: make(chan struct{}), want: 200}
	fast := s.session("carol", "carol-demo-key", rec)
	for i := range 200 {
		fast.NewOrder(limit(uint64(1000+i), 1, 100_000+int64(i%10)*50, 1))
	}
	fast.Flush()
	select {
	case <-rec.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d of 200 acks", rec.count())
	}
	for i := 1; i < len(rec.acks); i++ {
		if rec.acks[i].Seq <= rec.acks[i-1].Seq || rec.acks[i].ClientOrderID != rec.acks[i-1].ClientOrderID+1 {
			t.Fatalf("acks out of order at %d: %+v after %+v", i, rec.acks[i], rec.acks[i-1])
		}
	}
	lastSeq := rec.acks[len(rec.acks)-1].Seq

	// Restart: sequences continue, resting orders survive.
	alice.Close()
	bob.Close()
	fast.Close()
	s.stop()
	s = startServer(t, dir)
	carol := s.session("carol", "carol-demo-key", nil)
	ack, err := carol.PlaceSync(ctx5(), limit(5000, 2, 6_500_000, 1))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Seq != lastSeq+1 {
		t.Fatalf("after restart the journal sequence is %d, want %d", ack.Seq, lastSeq+1)
	}
	// carol's 200 resting bids are still there: cancel one of them.
	if _, err := carol.CancelSync(ctx5(), &wire.Cancel{ClientOrderID: 5001, Symbol: btc, OrderID: rec.acks[0].OrderID}); err != nil {
		t.Fatal(err)
	}
}

type ackRecorder struct {
	mu   sync.Mutex
	acks []wire.OrderAck
	done chan struct{}
	want int
}

func (r *ackRecorder) OnAck(a *wire.OrderAck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, *a)
	if len(r.acks) == r.want {
		close(r.done)
	}
}
func (r *ackRecorder) OnReject(j *wire.Reject) {}
func (r *ackRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acks)
}

// TestGarbageDoesNotDisturbOthers throws random bytes, truncated frames and
// oversized lengths at a live server from several connections while
// another session trades and must see every one of its acks.
func TestGarbageDoesNotDisturbOthers(t *testing.T) {
	s := startServer(t, t.TempDir())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", s.addr)
				if err != nil {
					continue
				}
				var login wire.Login
				login.Version = wire.Version
				login.SetUser("bob")
				login.SetKey("bob-demo-key")
				buf := wire.AppendLogin(nil, &login)
				switch rng.IntN(3) {
				case 0: // random bytes
					junk := make([]byte, rng.IntN(300))
					for i := range junk {
						junk[i] = byte(rng.Uint32())
					}
					buf = append(buf, junk...)
				case 1: // a truncated order, then close
					f := wire.AppendNewOrder(nil, limit(1, 1, 50, 1))
					buf = append(buf, f[:rng.IntN(len(f))]...)
				case 2: // an impossible length
					buf = append(buf, 0xff, 0xff, 'O')
				}
				c.Write(buf)
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				c.Read(make([]byte, 512))
				c.Close()
			}
		}()
	}
	rec := &ackRecorder{done: make(chan struct{}), want: 500}
	trader := s.session("alice", "alice-demo-key", rec)
	for i := range 500 {
		trader.NewOrder(limit(uint64(i+1), uint8(1+i%2), 6_500_000+int64(i%7-3)*50, 1))
		if i%50 == 49 {
			trader.Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}
	trader.Flush()
	select {
	case <-rec.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the honest session got %d of 500 acks while others sent garbage", rec.count())
	}
	close(stop)
	wg.Wait()
}

// TestLoopsReachServers starts ringexd with different -loops and -md-loops
// and reads from gnet's launch lines that each server got its own count:
// -loops is order entry's alone, -md-loops market data's.
func TestLoopsReachServers(t *testing.T) {
	s := startServer(t, t.TempDir(), "-loops", "1", "-md-loops", "3")
	out := s.log.String()
	for _, want := range []string{
		"Launching gnet with 1 event-loops, listening on: tcp://" + s.addr,
		"Launching gnet with 3 event-loops, listening on: tcp://" + s.md,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ringexd's log lacks %q:\n%s", want, out)
		}
	}
}

// -md-cpus partitions the process: once market data has drained, its
// event loops' threads run on the named CPU and every other thread of the
// server on the rest (/proc/PID/task/*/status, Cpus_allowed_list).
func TestMDCPUsPartition(t *testing.T) {
	all, err := processCPUs()
	if err != nil || len(all) < 2 {
		t.Skipf("needs two CPUs: %v %v", all, err)
	}
	md := all[len(all)-1]
	s := startServer(t, t.TempDir(), "-md-cpus", strconv.Itoa(md), "-md-loops", "1")
	alice := s.session("alice", "alice-demo-key", nil)
	events := subscribeOrders(t, s, "alice", "alice-demo-key")
	ack, err := alice.PlaceSync(ctx5(), limit(1, 2, 6_500_000, 10))
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, wire.OrderAccepted, ack.OrderID) // the loop has drained

	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var onMD, onRest int
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended meanwhile
		}
		_, v, _ := strings.Cut(string(b), "Cpus_allowed_list:")
		v, _, _ = strings.Cut(v, "\n")
		cpus, err := parseCPUList(strings.TrimSpace(v))
		switch {
		case err != nil:
			t.Fatalf("%s: Cpus_allowed_list %q: %v", p, v, err)
		case slices.Equal(cpus, []int{md}):
			onMD++
		case slices.Equal(cpus, all[:len(all)-1]):
			onRest++
		default:
			t.Errorf("%s: thread on CPUs %v, want [%d] (market data) or %v", p, cpus, md, all[:len(all)-1])
		}
	}
	if onMD != 1 || onRest == 0 {
		t.Errorf("%d threads on the market-data CPU with one loop drained, %d on the others; want 1 and some", onMD, onRest)
	}
}
