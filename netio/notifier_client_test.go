package netio

// STUB client for the sandbox: replaced by the wire-based one.

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ringex/ringex/engine"
)

type msgKind uint8

const (
	mTrade msgKind = iota + 1
	mLevel
	mSnapshot
	mOrder
	mBBO
	mResumed
	mAck
	mLogout
	mHeartbeat
	mOther
)

type feedMsg struct {
	kind      msgKind
	seq       uint64
	side      engine.Side
	price     int64
	qty       int64
	count     int32
	time      int64
	evKind    engine.EventKind
	maker     bool
	orderID   uint64
	remaining int64
	reason    uint16
	bids      []engine.Level
	asks      []engine.Level
}

type testFeed struct {
	c    *net.TCPConn
	r    *bufio.Reader
	body []byte
}

func dialTestFeed(t testing.TB, addr string) *testFeed {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return &testFeed{c: c.(*net.TCPConn), r: bufio.NewReaderSize(c, 64<<10)}
}

func (f *testFeed) close() { f.c.Close() }

func (f *testFeed) req(op byte, arg uint64) error {
	var b [16]byte
	b[0] = op
	binary.BigEndian.PutUint64(b[8:], arg)
	_, err := f.c.Write(b[:])
	return err
}

// login logs in as user (name, key) and waits for the answer.
func (f *testFeed) login(user testUser) error {
	if err := f.req('l', uint64(user.id)); err != nil {
		return err
	}
	_, err := f.waitFor(mAck)
	return err
}

func (f *testFeed) subscribe(symbol string, ch channel) error {
	op := map[channel]byte{chTrades: 't', chBook: 'b', chBBO: 'q', chOrders: 'o'}[ch]
	return f.req(op, 0)
}

func (f *testFeed) resume(symbol string, after uint64) error { return f.req('r', after) }

// waitFor reads until a message of kind k.
func (f *testFeed) waitFor(k msgKind) (feedMsg, error) {
	for {
		m, err := f.next()
		if err != nil || m.kind == k {
			return m, err
		}
	}
}

func (f *testFeed) next() (feedMsg, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return feedMsg{}, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:])) - 1
	if cap(f.body) < n {
		f.body = make([]byte, n)
	}
	body := f.body[:n]
	if _, err := io.ReadFull(f.r, body); err != nil {
		return feedMsg{}, err
	}
	be := binary.BigEndian
	u := func(i int) uint64 { return be.Uint64(body[i:]) }
	var m feedMsg
	switch hdr[2] {
	case 'T':
		m = feedMsg{kind: mTrade, seq: u(0), side: engine.Side(body[8]), price: int64(u(9)), qty: int64(u(17)), time: int64(u(25))}
	case 'B':
		m = feedMsg{kind: mLevel, seq: u(0), side: engine.Side(body[8]), price: int64(u(9)), qty: int64(u(17)), count: int32(u(25))}
	case 'S':
		m = feedMsg{kind: mSnapshot, seq: u(0)}
		nb, na := int(u(8)), int(u(16))
		off := 24
		for i := 0; i < nb+na; i++ {
			l := engine.Level{Price: int64(u(off)), Qty: int64(u(off + 8)), Count: int32(u(off + 16))}
			off += 24
			if i < nb {
				m.bids = append(m.bids, l)
			} else {
				m.asks = append(m.asks, l)
			}
		}
	case 'O':
		m = feedMsg{kind: mOrder, seq: u(0), evKind: engine.EventKind(body[8]), maker: body[9] == 1,
			orderID: u(10), qty: int64(u(18)), remaining: int64(u(26))}
	case 'Q':
		m = feedMsg{kind: mBBO, seq: u(0)}
	case 'R':
		m = feedMsg{kind: mResumed, seq: u(0)}
	case 'A':
		m = feedMsg{kind: mAck, seq: u(0)}
	case 'L':
		m = feedMsg{kind: mLogout, reason: uint16(u(0))}
	case 'H':
		m = feedMsg{kind: mHeartbeat}
	default:
		m = feedMsg{kind: mOther}
	}
	return m, nil
}
