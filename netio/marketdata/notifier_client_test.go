package marketdata

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// testFeed is a raw market-data client for the tests: netio/wire frames
// over a plain TCP connection, decoded into feedMsg.
type testFeed struct {
	c    *net.TCPConn
	r    *bufio.Reader
	out  []byte
	hdr  [2]byte
	body []byte
	snap wire.BookSnapshot
}

type msgKind uint8

const (
	mTrade msgKind = iota + 1
	mLevel
	mSnapshot
	mOrder
	mBBO
	mResumed
	mAck // Subscribed
	mSubRejected
	mLogin // LoginAccepted
	mLoginRejected
	mLogout
	mHeartbeat
	mReject
)

// feedMsg is any decoded server message; fields not meaningful for its
// kind are zero.
type feedMsg struct {
	kind      msgKind
	seq       uint64
	side      engine.Side
	price     int64
	qty       int64
	count     int32
	time      int64
	evKind    engine.EventKind
	orderID   uint64
	remaining int64
	reason    uint16
	channels  uint8
	bids      []engine.Level
	asks      []engine.Level
}

func dialTestFeed(t testing.TB, addr string) *testFeed {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return &testFeed{c: c.(*net.TCPConn), r: bufio.NewReaderSize(c, 64<<10)}
}

func (f *testFeed) close() { f.c.Close() }

func (f *testFeed) send() error {
	_, err := f.c.Write(f.out)
	f.out = f.out[:0]
	return err
}

// login logs in and waits for the answer.
func (f *testFeed) login(u nettest.User) error {
	var m wire.Login
	m.Version = wire.Version
	m.SetUser(u.Name)
	m.SetKey(u.Key)
	f.out = wire.AppendLogin(f.out, &m)
	if err := f.send(); err != nil {
		return err
	}
	for {
		r, err := f.next()
		switch {
		case err != nil:
			return err
		case r.kind == mLogin:
			return nil
		case r.kind == mLoginRejected:
			return fmt.Errorf("login rejected: %s", wire.LoginText(r.reason))
		}
	}
}

var chanBits = map[channel]uint8{chTrades: wire.ChanTrades, chBook: wire.ChanBook, chBBO: wire.ChanBBO, chOrders: wire.ChanOrders}

func (f *testFeed) subscribe(symbol string, ch channel) error {
	m := wire.Subscribe{Symbol: wire.MakeSymbol(symbol), Channels: chanBits[ch]}
	f.out = wire.AppendSubscribe(f.out, &m)
	return f.send()
}

// subscribeAll asks for every channel of symbol at once.
func (f *testFeed) subscribeAll(symbol string) error {
	m := wire.Subscribe{Symbol: wire.MakeSymbol(symbol), Channels: wire.ChanAll}
	f.out = wire.AppendSubscribe(f.out, &m)
	return f.send()
}

func (f *testFeed) resume(symbol string, after uint64) error {
	m := wire.Resume{Symbol: wire.MakeSymbol(symbol), After: after}
	f.out = wire.AppendResume(f.out, &m)
	return f.send()
}

// waitFor reads until a message of kind k.
func (f *testFeed) waitFor(k msgKind) (feedMsg, error) {
	for {
		m, err := f.next()
		if err != nil || m.kind == k {
			return m, err
		}
	}
}

// next reads and decodes one frame.
func (f *testFeed) next() (feedMsg, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return feedMsg{}, err
	}
	n := int(f.hdr[0])<<8 | int(f.hdr[1])
	if n == 0 {
		return feedMsg{}, fmt.Errorf("frame of length 0")
	}
	if cap(f.body) < 2+n {
		f.body = make([]byte, 2+n, 2+max(n, 256))
	}
	frame := f.body[:2+n]
	copy(frame, f.hdr[:])
	if _, err := io.ReadFull(f.r, frame[2:]); err != nil {
		return feedMsg{}, err
	}
	var m feedMsg
	var err error
	switch wire.Type(frame) {
	case wire.TypeTrade:
		var t wire.Trade
		err = wire.DecodeTrade(frame, &t)
		m = feedMsg{kind: mTrade, seq: t.Seq, side: engine.Side(t.Aggressor), price: t.Price, qty: t.Qty, time: t.Time}
	case wire.TypeBookUpdate:
		var u wire.BookUpdate
		err = wire.DecodeBookUpdate(frame, &u)
		m = feedMsg{kind: mLevel, seq: u.Seq, side: engine.Side(u.Side), price: u.Price, qty: u.Qty, count: int32(u.Count)}
	case wire.TypeBookSnapshot:
		err = wire.DecodeBookSnapshot(frame, &f.snap)
		m = feedMsg{kind: mSnapshot, seq: f.snap.Seq}
		for _, l := range f.snap.Bids {
			m.bids = append(m.bids, engine.Level{Price: l.Price, Qty: l.Qty, Count: int32(l.Count)})
		}
		for _, l := range f.snap.Asks {
			m.asks = append(m.asks, engine.Level{Price: l.Price, Qty: l.Qty, Count: int32(l.Count)})
		}
	case wire.TypeOrderEvent:
		var e wire.OrderEvent
		err = wire.DecodeOrderEvent(frame, &e)
		m = feedMsg{kind: mOrder, seq: e.Seq, evKind: engine.EventKind(e.Kind), side: engine.Side(e.Side),
			orderID: e.OrderID, price: e.Price, qty: e.Qty, remaining: e.Remaining, time: e.Time}
	case wire.TypeBBO:
		var q wire.BBO
		err = wire.DecodeBBO(frame, &q)
		m = feedMsg{kind: mBBO, seq: q.Seq}
	case wire.TypeResumeDone:
		var d wire.ResumeDone
		err = wire.DecodeResumeDone(frame, &d)
		m = feedMsg{kind: mResumed, seq: d.Seq}
	case wire.TypeSubscribed:
		var s wire.Subscribed
		err = wire.DecodeSubscribed(frame, &s)
		m = feedMsg{kind: mAck, seq: s.Seq, channels: s.Channels}
	case wire.TypeSubRejected:
		var s wire.SubRejected
		err = wire.DecodeSubRejected(frame, &s)
		m = feedMsg{kind: mSubRejected, reason: s.Reason}
	case wire.TypeLoginAccepted:
		var a wire.LoginAccepted
		err = wire.DecodeLoginAccepted(frame, &a)
		m = feedMsg{kind: mLogin}
	case wire.TypeLoginRejected:
		var r uint16
		r, err = wire.DecodeLoginRejected(frame)
		m = feedMsg{kind: mLoginRejected, reason: r}
	case wire.TypeLogout:
		var r uint16
		r, err = wire.DecodeLogout(frame)
		m = feedMsg{kind: mLogout, reason: r}
	case wire.TypeHeartbeat:
		m = feedMsg{kind: mHeartbeat}
	case wire.TypeReject:
		var r wire.Reject
		err = wire.DecodeReject(frame, &r)
		m = feedMsg{kind: mReject, reason: r.Reason}
	default:
		err = fmt.Errorf("unknown message type %q", wire.Type(frame))
	}
	return m, err
}
