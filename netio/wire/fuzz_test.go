package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"
)

// seeds adds one valid frame of every type and a few broken streams.
func seeds(f *testing.F) {
	r := rand.New(rand.NewSource(5))
	for _, c := range codecs {
		frame, _ := c.sample(r)
		f.Add(frame)
	}
	f.Add(append(AppendHeartbeat(nil), AppendCancel(nil, &Cancel{})...))
	f.Add([]byte{0xff, 0xff, 'O'})
	f.Add([]byte{0, 0, 'H'})
	f.Add([]byte{0, 1, TypeLogout})
	f.Add(AppendNewOrder(nil, &NewOrder{})[:20])
}

// FuzzNextFrame checks the splitter's contract on any input, delivered
// whole and one byte at a time: it never panics, a frame is exactly what
// its length prefix says, n == 0 means the input is a proper prefix of a
// frame, and an error comes only from a prefix of 0 or over the maximum.
func FuzzNextFrame(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		max := MaxInboundFrame
		if len(data) > 0 && data[0]&1 == 1 {
			max = MaxFrame
		}
		var whole [][]byte
		for buf := data; ; {
			frame, n, err := NextFrame(buf, max)
			if len(buf) >= 2 {
				l := int(binary.BigEndian.Uint16(buf))
				switch {
				case l == 0 && !errors.Is(err, ErrFrameTooShort):
					t.Fatalf("length 0: err %v", err)
				case l > max && !errors.Is(err, ErrFrameTooLong):
					t.Fatalf("length %d over %d: err %v", l, max, err)
				case l >= 1 && l <= max && err != nil:
					t.Fatalf("length %d: err %v", l, err)
				case err == nil && n == 0 && len(buf) >= 2+l:
					t.Fatalf("length %d, %d bytes: no frame", l, len(buf))
				case n > 0 && (n != 2+l || !bytes.Equal(frame, buf[:n])):
					t.Fatalf("length %d: frame of %d bytes", l, n)
				}
			} else if n != 0 || err != nil {
				t.Fatalf("%d bytes: n=%d err=%v", len(buf), n, err)
			}
			if err != nil || n == 0 {
				break
			}
			whole = append(whole, frame)
			buf = buf[n:]
		}
		// Byte by byte, as a reader with the worst luck sees the stream.
		var pending []byte
		got := 0
		for _, c := range data {
			pending = append(pending, c)
			frame, n, err := NextFrame(pending, max)
			if err != nil {
				return // the whole-buffer pass met the same error at the same place
			}
			if n > 0 {
				if got >= len(whole) || !bytes.Equal(frame, whole[got]) {
					t.Fatalf("byte by byte: frame %d differs", got)
				}
				got++
				pending = pending[:0]
			}
		}
		if got != len(whole) {
			t.Fatalf("byte by byte: %d frames, whole: %d", got, len(whole))
		}
	})
}

// FuzzDecode feeds any byte stream through the splitter and the decoder of
// each frame's type: nothing panics, a frame that decodes re-encodes to the
// same bytes, and the decoders agree with Check (only a field value the
// format forbids makes a well-formed frame fail to decode).
func FuzzDecode(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) > 0 {
			frame, n, err := NextFrame(data, MaxFrame)
			if err != nil || n == 0 {
				return
			}
			data = data[n:]
			checkErr := Check(frame)
			c := codecOf(Type(frame))
			if c == nil {
				if !errors.Is(checkErr, ErrUnknownType) {
					t.Fatalf("type %q: Check says %v", Type(frame), checkErr)
				}
				continue
			}
			again, _, err := c.redo(frame)
			switch {
			case err != nil && checkErr == nil && !errors.Is(err, ErrBadValue):
				t.Fatalf("%s: Check passes, decode fails: %v", c.name, err)
			case err == nil && checkErr != nil:
				t.Fatalf("%s: decode passes, Check fails: %v", c.name, checkErr)
			case err != nil:
				continue
			}
			if c.typ == TypeLogout && len(frame) == HeaderLen {
				frame = AppendLogout(nil, 0) // an empty Logout means reason 0
			}
			if !bytes.Equal(again, frame) {
				t.Fatalf("%s re-encodes to\n% x\nwant\n% x", c.name, again, frame)
			}
		}
	})
}
