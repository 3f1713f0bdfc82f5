package auth

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func usersOf(t *testing.T, lines ...string) *Users {
	t.Helper()
	u, err := ParseUsers(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestParseUsers(t *testing.T) {
	a, b := HashKey("a"), HashKey("b")
	u := usersOf(t, "# comment", "", "1 alice "+a, "2 bob "+a+","+b+" rate=500 burst=50 sessions=2", "3 load "+b+" rate=off")
	if u.Len() != 3 {
		t.Fatalf("Len = %d", u.Len())
	}
	bob := u.Lookup("bob")
	if len(bob.Keys) != 2 || bob.Limits != (Limits{Rate: 500, Burst: 50, MaxSessions: 2}) {
		t.Fatalf("bob = %+v", bob)
	}
	if u.Lookup("load").Limits.Rate >= 0 {
		t.Fatalf("rate=off not unlimited: %+v", u.Lookup("load").Limits)
	}
	for _, k := range []string{"a", "b"} {
		if id, ok := u.Authenticate("bob", []byte(k)); !ok || id != 2 {
			t.Fatalf("bob with key %q: %d %v", k, id, ok)
		}
	}
	if _, ok := u.Authenticate("alice", []byte("b")); ok {
		t.Fatal("alice logged in with bob's second key")
	}
	bad := []string{
		"1 alice",
		"0 alice " + a,
		"1 alice " + a + "," + b + "," + HashKey("c"),
		"1 alice " + a + "," + a,
		"1 alice " + a + " rate=0",
		"1 alice " + a + " rate=x",
		"1 alice " + a + " burst=-1",
		"1 alice " + a + " sessions=0",
		"1 alice " + a + " colour=blue",
		"1 alice " + a + " rate",
		"1 alice " + a[:63],
		"1 alice " + a + "\n1 bob " + b,
		"1 alice " + a + "\n2 alice " + b,
		"# nobody",
	}
	for _, text := range bad {
		if _, err := ParseUsers(strings.NewReader(text)); err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}

func TestLimiterBurstThenRate(t *testing.T) {
	var l limiter
	l.rate.Store(newRateParams(Limits{Rate: 1000, Burst: 10})) // 1 ms per request
	now := int64(1e12)
	for i := 0; i < 10; i++ {
		if !l.allow(now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow(now) {
		t.Fatal("11th request at once allowed")
	}
	if l.allow(now + 999_000) {
		t.Fatal("allowed before a token came back")
	}
	if !l.allow(now + 1_000_000) {
		t.Fatal("refused after one interval")
	}
	// A long quiet period refills the burst, no more.
	now += 1e9
	n := 0
	for l.allow(now) {
		n++
	}
	if n != 10 {
		t.Fatalf("after a quiet second: %d allowed at once, want the burst 10", n)
	}
	l.rate.Store(newRateParams(Limits{Rate: -1}))
	if !l.unlimited() || !l.allow(now) {
		t.Fatal("unlimited limiter refused")
	}
}

// TestLimiterExtremes: the slowest rate with the largest burst neither
// overflows nor refuses the burst; the fastest rate lets a burst through.
func TestLimiterExtremes(t *testing.T) {
	now := time.Now().UnixNano()
	for _, lim := range []Limits{{Rate: 1e-9, Burst: 1 << 30}, {Rate: 1e9, Burst: 1 << 30}, {Rate: 1e-9, Burst: 1}, {Rate: 1e9, Burst: 1}} {
		var l limiter
		l.rate.Store(newRateParams(lim))
		n := 0
		for n < 1000 && l.allow(now) {
			n++
		}
		want := min(lim.Burst, 1000)
		if n != want {
			t.Errorf("%+v: %d allowed at once, want %d", lim, n, want)
		}
		if tat := l.tat.Load(); tat < now {
			t.Errorf("%+v: tat %d overflowed", lim, tat)
		}
	}
}

// TestLimiterConcurrent: however many goroutines share a user's bucket,
// no more than burst + elapsed*rate requests get through.
func TestLimiterConcurrent(t *testing.T) {
	var l limiter
	l.rate.Store(newRateParams(Limits{Rate: 1e6, Burst: 100}))
	var allowed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				if l.allow(time.Now().UnixNano()) {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	limit := 100 + time.Since(start).Seconds()*1e6 + 1
	if got := float64(allowed.Load()); got > limit {
		t.Fatalf("%v allowed, limit %v", got, limit)
	}
}

func TestLimiterAllocs(t *testing.T) {
	g := New(Config{Users: usersOf(t, "1 alice "+HashKey("k")+" rate=1e9 burst=10"), Logger: quiet()})
	s, res := g.Login(OrderEntry, "127.0.0.1:1", "alice", []byte("k"), nil)
	if res != OK {
		t.Fatal(res)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Allow() }); n != 0 {
		t.Fatalf("Allow allocates %v per call", n)
	}
}

func TestThrottle(t *testing.T) {
	th := newThrottle(ThrottleConfig{AddrFailures: 3, UserFailures: 5, Window: time.Second, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	ms := int64(time.Millisecond)
	now := int64(1e12)
	// Two failures: not blocked; the third blocks the address for 100 ms.
	for i := 0; i < 2; i++ {
		if b := th.fail("10.0.0.1", fmt.Sprint("u", i), now); len(b) != 0 {
			t.Fatalf("blocked after %d failures", i+1)
		}
	}
	if b := th.fail("10.0.0.1", "u2", now); len(b) != 1 || b[0].byUser || b[0].until != now+100*ms {
		t.Fatalf("third failure: %+v", b)
	}
	if _, _, ok := th.blocked("10.0.0.1", "anyone", now+99*ms); !ok {
		t.Fatal("address not blocked")
	}
	if _, _, ok := th.blocked("10.0.0.2", "anyone", now); ok {
		t.Fatal("another address blocked")
	}
	if _, _, ok := th.blocked("10.0.0.1", "anyone", now+100*ms); ok {
		t.Fatal("still blocked after the back-off")
	}
	// The next block doubles, then stops at the maximum.
	now += 200 * ms
	for _, want := range []int64{200, 300, 300} {
		var b []block
		for i := 0; i < 3; i++ {
			b = th.fail("10.0.0.1", fmt.Sprint("v", want, i), now)
		}
		if len(b) != 1 || b[0].until != now+want*ms {
			t.Fatalf("want a %d ms block, got %+v (now %d)", want, b, now)
		}
		now = b[0].until + ms
	}
	// Quiet for a window after the block: back to the first back-off.
	now += 2 * int64(time.Second)
	var b []block
	for i := 0; i < 3; i++ {
		b = th.fail("10.0.0.1", "w", now)
	}
	if len(b) != 1 || b[0].until != now+100*ms {
		t.Fatalf("after a quiet window: %+v", b)
	}
	// Per user name, from many addresses.
	now += int64(time.Second)
	for i := 0; i < 5; i++ {
		b = th.fail(fmt.Sprint("10.1.0.", i), "victim", now)
	}
	if len(b) != 1 || !b[0].byUser {
		t.Fatalf("user block: %+v", b)
	}
	if byUser, _, ok := th.blocked("10.9.9.9", "victim", now); !ok || !byUser {
		t.Fatal("name not blocked from a fresh address")
	}
	// Failures spread over more than a window never block.
	now += int64(time.Second)
	for i := 0; i < 10; i++ {
		if b := th.fail("10.2.0.1", fmt.Sprint("x", i), now+int64(i)*600*ms); len(b) != 0 {
			t.Fatalf("blocked by failures %v apart", 600*time.Millisecond)
		}
	}
}

func TestThrottleBounded(t *testing.T) {
	th := newThrottle(ThrottleConfig{MaxEntries: 64})
	for i := 0; i < 10000; i++ {
		th.fail(fmt.Sprint("10.0.", i/256, ".", i%256), fmt.Sprint("name", i), int64(1e12))
		if n := th.len(); n > 64 {
			t.Fatalf("%d entries past the bound of 64", n)
		}
	}
}

func TestGuardLoginThrottle(t *testing.T) {
	g := New(Config{Users: usersOf(t, "1 alice "+HashKey("ka"), "2 bob "+HashKey("kb")), Logger: quiet(),
		Throttle: ThrottleConfig{AddrFailures: 5, UserFailures: 1000, Backoff: time.Hour}})
	for i := 0; i < 5; i++ {
		if _, r := g.Login(OrderEntry, "10.0.0.1:5000", "alice", []byte("guess"), nil); r != BadCredentials {
			t.Fatalf("attempt %d: %v", i, r)
		}
	}
	// Blocked: even the right key is not checked.
	if _, r := g.Login(OrderEntry, "10.0.0.1:5001", "alice", []byte("ka"), nil); r != Throttled {
		t.Fatalf("right key from a blocked address: %v", r)
	}
	// Another address, another user: unaffected.
	if s, r := g.Login(OrderEntry, "10.0.0.2:5000", "bob", []byte("kb"), nil); r != OK || s.UserID != 2 || s.Remote != "10.0.0.2:5000" {
		t.Fatalf("bob from elsewhere: %v %+v", r, s)
	}
}

func TestGuardMaxSessions(t *testing.T) {
	g := New(Config{Users: usersOf(t, "1 alice "+HashKey("ka")+" sessions=2"), Logger: quiet()})
	login := func(svc Service) (*Session, Result) {
		return g.Login(svc, "10.0.0.1:1", "alice", []byte("ka"), nil)
	}
	s1, _ := login(OrderEntry)
	login(OrderEntry)
	if _, r := login(OrderEntry); r != TooManySessions {
		t.Fatalf("third session: %v", r)
	}
	if _, r := login(MarketData); r != OK {
		t.Fatalf("market data is not counted: %v", r)
	}
	s1.End(nil, "")
	s1.End(nil, "")
	if _, r := login(OrderEntry); r != OK {
		t.Fatalf("after one ended: %v", r)
	}
	if oe, all := g.Sessions("alice"); oe != 2 || all != 3 {
		t.Fatalf("sessions %d/%d", oe, all)
	}
}

// TestGuardRateShared: the bucket is the user's, not the session's, and it
// survives a logout.
func TestGuardRateShared(t *testing.T) {
	g := New(Config{Users: usersOf(t, "1 alice "+HashKey("ka")+" rate=0.001 burst=4", "2 bob "+HashKey("kb")),
		Defaults: Limits{Rate: 0.001, Burst: 2}, Logger: quiet()})
	a1, _ := g.Login(OrderEntry, "10.0.0.1:1", "alice", []byte("ka"), nil)
	a2, _ := g.Login(OrderEntry, "10.0.0.1:2", "alice", []byte("ka"), nil)
	n := 0
	for i := 0; i < 10; i++ {
		for _, s := range []*Session{a1, a2} {
			if s.Allow() {
				n++
			}
		}
	}
	if n != 4 {
		t.Fatalf("alice's two sessions got %d requests, want the burst 4", n)
	}
	a1.End(nil, "")
	a2.End(nil, "")
	a3, _ := g.Login(OrderEntry, "10.0.0.1:3", "alice", []byte("ka"), nil)
	if a3.Allow() {
		t.Fatal("a new session refilled the bucket")
	}
	b, _ := g.Login(OrderEntry, "10.0.0.1:4", "bob", []byte("kb"), nil)
	if !b.Allow() || !b.Allow() || b.Allow() {
		t.Fatal("bob's default burst of 2 not applied")
	}
}

func TestGuardReload(t *testing.T) {
	g := New(Config{Users: usersOf(t, "1 alice "+HashKey("old"), "2 bob "+HashKey("kb"), "3 carol "+HashKey("kc")), Logger: quiet()})
	var revoked sync.Map
	var calls atomic.Int32
	login := func(user, key string) *Session {
		s, r := g.Login(OrderEntry, "10.0.0.1:1", user, []byte(key), func() { revoked.Store(user+"/"+key, true); calls.Add(1) })
		if r != OK {
			t.Fatalf("%s/%s: %v", user, key, r)
		}
		return s
	}
	login("alice", "old")
	login("bob", "kb")
	login("carol", "kc")

	// Rotation, step 1: alice gets a second key; nothing is revoked.
	st := g.Reload(usersOf(t, "1 alice "+HashKey("old")+","+HashKey("new"), "2 bob "+HashKey("kb"), "3 carol "+HashKey("kc")))
	if st.KeysAdded != 1 || st.Revoked != 0 {
		t.Fatalf("step 1: %+v", st)
	}
	login("alice", "new")

	// Step 2: the old key goes; bob is removed; carol changes id.
	st = g.Reload(usersOf(t, "1 alice "+HashKey("new"), "4 carol "+HashKey("kc")))
	if st.KeysRemoved != 1 || st.Removed != 2 || st.Added != 1 || st.Revoked != 3 {
		t.Fatalf("step 2: %+v", st)
	}
	for _, k := range []string{"alice/old", "bob/kb", "carol/kc"} {
		if _, ok := revoked.Load(k); !ok {
			t.Errorf("%s not revoked", k)
		}
	}
	if _, ok := revoked.Load("alice/new"); ok {
		t.Error("alice's new key revoked")
	}
	// The revoked sessions have not ended yet (their connections are
	// still closing): another reload must not revoke them again.
	st = g.Reload(usersOf(t, "1 alice "+HashKey("new"), "4 carol "+HashKey("kc")))
	if st.Revoked != 0 || calls.Load() != 3 {
		t.Fatalf("reload before the revoked sessions ended: %+v, %d revoke calls, want 3", st, calls.Load())
	}
	if _, r := g.Login(OrderEntry, "10.0.0.1:1", "alice", []byte("old"), nil); r != BadCredentials {
		t.Fatalf("old key after rotation: %v", r)
	}
	if _, err := g.ReloadFrom(strings.NewReader("garbage")); err == nil {
		t.Fatal("bad file reloaded")
	}
	if g.Users().Lookup("alice") == nil {
		t.Fatal("a failed reload changed the table")
	}
}
