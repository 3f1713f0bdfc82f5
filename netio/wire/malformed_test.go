package wire

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

func TestNextFrame(t *testing.T) {
	hb := AppendHeartbeat(nil)
	two := append(AppendHeartbeat(nil), AppendLogout(nil, 3)...)
	maxIn := append([]byte{0, MaxInboundFrame, 'O'}, make([]byte, MaxInboundFrame-1)...)
	tests := []struct {
		name    string
		in      []byte
		max     int
		wantN   int
		wantErr error
	}{
		{"empty", nil, MaxInboundFrame, 0, nil},
		{"one byte", []byte{0}, MaxInboundFrame, 0, nil},
		{"length only", []byte{0, 1}, MaxInboundFrame, 0, nil},
		{"zero length", []byte{0, 0, 'H'}, MaxInboundFrame, 0, ErrFrameTooShort},
		{"zero length, nothing after", []byte{0, 0}, MaxInboundFrame, 0, ErrFrameTooShort},
		{"over the inbound maximum", []byte{0, MaxInboundFrame + 1}, MaxInboundFrame, 0, ErrFrameTooLong},
		{"over the maximum before the body arrives", []byte{0xff, 0xff}, MaxInboundFrame, 0, ErrFrameTooLong},
		{"the inbound maximum", maxIn, MaxInboundFrame, len(maxIn), nil},
		{"the inbound maximum, one byte short", maxIn[:len(maxIn)-1], MaxInboundFrame, 0, nil},
		{"largest outbound, incomplete", []byte{0xff, 0xff, 'W'}, MaxFrame, 0, nil},
		{"partial body", []byte{0, 5, 'Z', 0}, MaxInboundFrame, 0, nil},
		{"heartbeat", hb, MaxInboundFrame, 3, nil},
		{"two frames", two, MaxInboundFrame, 3, nil},
		{"unknown type is still a frame", []byte{0, 1, '?'}, MaxInboundFrame, 3, nil},
	}
	for _, tc := range tests {
		f, n, err := NextFrame(tc.in, tc.max)
		if n != tc.wantN || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: n=%d err=%v, want n=%d err=%v", tc.name, n, err, tc.wantN, tc.wantErr)
		}
		if n > 0 && !bytes.Equal(f, tc.in[:n]) {
			t.Errorf("%s: frame % x, want % x", tc.name, f, tc.in[:n])
		}
		if n == 0 && f != nil {
			t.Errorf("%s: a frame with n == 0", tc.name)
		}
	}
}

// TestWrongLength cuts and extends every type's body by one byte, and
// empties it: each decoder must say ErrBadLength (Check too), never read
// past the frame or accept it.
func TestWrongLength(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range codecs {
		frame, _ := c.sample(r)
		variants := map[string][]byte{
			"one short": resize(frame, len(frame)-HeaderLen-1),
			"one long":  resize(frame, len(frame)-HeaderLen+1),
			"empty":     resize(frame, 0),
			"doubled":   resize(frame, 2*(len(frame)-HeaderLen)),
		}
		for what, f := range variants {
			if f == nil || len(f) == len(frame) {
				continue // the heartbeat has no body to cut or double
			}
			if c.typ == TypeLogout && len(f) == HeaderLen {
				continue // a client's empty Logout is allowed
			}
			if c.typ == TypeBookSnapshot && checkSnapshotLen(f) == nil {
				continue // a different level count can fit a new length
			}
			if _, _, err := c.redo(f); !errors.Is(err, ErrBadLength) {
				t.Errorf("%s %s: decode err %v, want ErrBadLength", c.name, what, err)
			}
			if err := Check(f); !errors.Is(err, ErrBadLength) {
				t.Errorf("%s %s: Check err %v, want ErrBadLength", c.name, what, err)
			}
		}
	}
}

// resize returns a copy of frame with a body of n bytes (cut, or extended
// with zeros) and a length prefix that says so.
func resize(frame []byte, n int) []byte {
	if n < 0 {
		return nil
	}
	f := make([]byte, HeaderLen+n)
	copy(f, frame)
	f[0], f[1] = byte((n+1)>>8), byte(n+1)
	return f
}

// TestWrongType hands each decoder a frame of every other type, of the
// right length for the decoder: it must refuse it.
func TestWrongType(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, c := range codecs {
		frame, _ := c.sample(r)
		for _, other := range codecs {
			if other.typ == c.typ {
				continue
			}
			f := bytes.Clone(frame)
			f[2] = other.typ
			if _, _, err := c.redo(f); !errors.Is(err, ErrWrongType) {
				t.Errorf("%s decoder on a %s frame: %v, want ErrWrongType", c.name, other.name, err)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	snap := AppendBookSnapshot(nil, MakeSymbol("X"), 1, []Level{{1, 2, 3}}, []Level{{4, 5, 6}, {7, 8, 9}})
	badCount := bytes.Clone(snap)
	badCount[HeaderLen+19]++ // three asks claimed, two sent
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"heartbeat", AppendHeartbeat(nil), nil},
		{"client logout without a reason", []byte{0, 1, TypeLogout}, nil},
		{"unknown type", []byte{0, 1, '?'}, ErrUnknownType},
		{"lower-case type", []byte{0, 1, 'h'}, ErrUnknownType},
		{"heartbeat with a body", []byte{0, 2, TypeHeartbeat, 0}, ErrBadLength},
		{"snapshot", snap, nil},
		{"snapshot, count over the levels sent", badCount, ErrBadLength},
		{"snapshot without a header", []byte{0, 1, TypeBookSnapshot}, ErrBadLength},
		{"no type byte", []byte{0, 0}, ErrFrameTooShort},
	}
	for _, tc := range tests {
		if err := Check(tc.frame); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	var m BookSnapshot
	if err := DecodeBookSnapshot(badCount, &m); !errors.Is(err, ErrBadLength) {
		t.Errorf("DecodeBookSnapshot with a bad count: %v", err)
	}
}

// TestSnapshotCut checks that sides deeper than one frame holds are cut to
// MaxSnapshotSide and that the frame still fits the length prefix.
func TestSnapshotCut(t *testing.T) {
	deep := make([]Level, MaxSnapshotSide+10)
	for i := range deep {
		deep[i] = Level{Price: int64(i + 1), Qty: 1, Count: 1}
	}
	f := AppendBookSnapshot(nil, MakeSymbol("X"), 7, deep, deep)
	if len(f)-2 > MaxFrame {
		t.Fatalf("snapshot frame length %d over %d", len(f)-2, MaxFrame)
	}
	var m BookSnapshot
	if err := DecodeBookSnapshot(f, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Bids) != MaxSnapshotSide || len(m.Asks) != MaxSnapshotSide || m.Bids[0].Price != 1 || m.Asks[MaxSnapshotSide-1].Price != MaxSnapshotSide {
		t.Fatalf("cut snapshot: %d bids, %d asks", len(m.Bids), len(m.Asks))
	}
}
