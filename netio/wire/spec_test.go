package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The specification is the reference the codec is tested against: these
// tests read docs/protocol.md and check that every message's table (its
// type letter, body length, and each field's offset, size and type) is what
// the encoders write, that the message-type summary and the reason tables
// agree with the constants, and that the worked examples decode. A field
// moved in the code or in the document fails here, which a round trip
// alone (the same mistake on both sides) would not catch.

const specPath = "../../docs/protocol.md"

type specField struct {
	off, size int
	typ       string
	name      string
}

type specMessage struct {
	name   string
	typ    byte // 0 for Level
	body   int
	fields []specField
}

type specDoc struct {
	messages map[string]*specMessage
	summary  map[byte]summaryRow
	reasons  map[string]map[int]string // section heading -> code -> text
	examples map[string][]byte
}

type summaryRow struct {
	name string
	body string
}

var (
	reHeading = regexp.MustCompile("^#### (\\w+)(?: `(.)`)? — (?:body )?(\\d+)")
	reField   = regexp.MustCompile(`^\| *(\d+) *\| *(\d+) *\| *(\w+) *\| *([^|]+?) *\|`)
	reSummary = regexp.MustCompile("^\\| `(.)` \\| (\\w+) \\|.*\\| ([^|]+?) \\|$")
	reSection = regexp.MustCompile(`^### (6\.\d) (.+)$`)
	reReason  = regexp.MustCompile(`^\| *(\d+) *\| ([^|]+?) *\|`)
	reExample = regexp.MustCompile(`^<!-- example: (\w+) -->$`)
)

func readSpec(t *testing.T) *specDoc {
	t.Helper()
	f, err := os.Open(specPath)
	if err != nil {
		t.Fatalf("the specification: %v", err)
	}
	defer f.Close()
	d := &specDoc{
		messages: map[string]*specMessage{},
		summary:  map[byte]summaryRow{},
		reasons:  map[string]map[int]string{},
		examples: map[string][]byte{},
	}
	var (
		msg     *specMessage
		section string
		example string
		inCode  bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			if !inCode {
				example = ""
			}
			continue
		}
		if inCode {
			if example != "" {
				d.examples[example] = append(d.examples[example], hexPrefix(t, line)...)
			}
			continue
		}
		if m := reExample.FindStringSubmatch(line); m != nil {
			example = m[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			msg, section = nil, ""
		}
		if m := reHeading.FindStringSubmatch(line); m != nil {
			msg = &specMessage{name: m[1], body: atoi(t, m[3])}
			if m[2] != "" {
				msg.typ = m[2][0]
			}
			d.messages[msg.name] = msg
			continue
		}
		if m := reSection.FindStringSubmatch(line); m != nil {
			section = m[2]
			d.reasons[section] = map[int]string{}
			continue
		}
		if m := reSummary.FindStringSubmatch(line); m != nil {
			d.summary[m[1][0]] = summaryRow{name: m[2], body: m[3]}
			continue
		}
		if m := reField.FindStringSubmatch(line); m != nil && msg != nil {
			msg.fields = append(msg.fields, specField{off: atoi(t, m[1]), size: atoi(t, m[2]), typ: m[3], name: m[4]})
			continue
		}
		if m := reReason.FindStringSubmatch(line); m != nil && section != "" {
			d.reasons[section][atoi(t, m[1])] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("specification: %q is not a number", s)
	}
	return n
}

// hexPrefix reads the leading hex bytes of an example line; the comment
// after them is the first token that is not a hex byte.
func hexPrefix(t *testing.T, line string) []byte {
	var out []byte
	for _, tok := range strings.Fields(line) {
		b, err := hex.DecodeString(tok)
		if err != nil || len(b) != 1 {
			break
		}
		out = append(out, b[0])
	}
	return out
}

func TestSpecMessageLayouts(t *testing.T) {
	d := readSpec(t)
	r := rand.New(rand.NewSource(8))
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			sm := d.messages[c.name]
			if sm == nil {
				t.Fatalf("no table for %s in %s", c.name, specPath)
			}
			if sm.typ != c.typ {
				t.Errorf("type %q in the specification, %q in the code", sm.typ, c.typ)
			}
			n, _, _ := BodyLen(c.typ)
			if sm.body != n {
				t.Errorf("body %d in the specification, %d in the code", sm.body, n)
			}
			checkTiling(t, sm)
			for range 50 {
				frame, v := c.sample(r)
				values := flatten(v)
				var levels []Level
				if s, ok := v.(BookSnapshot); ok {
					values = []any{s.Symbol, s.Seq, uint16(len(s.Bids)), uint16(len(s.Asks))}
					levels = append(append(levels, s.Bids...), s.Asks...)
				}
				want := layout(t, sm, values)
				for _, l := range levels {
					want = append(want, layout(t, d.messages["Level"], flatten(l))...)
				}
				if got := frame[HeaderLen:]; !bytes.Equal(got, want) {
					t.Fatalf("value %+v\nencoded % x\nspec    % x", v, got, want)
				}
			}
		})
	}
}

// checkTiling checks that a table's fields follow each other with no gap
// or overlap and fill the body.
func checkTiling(t *testing.T, sm *specMessage) {
	t.Helper()
	off := 0
	for _, f := range sm.fields {
		if f.off != off {
			t.Errorf("%s.%s at offset %d, want %d", sm.name, f.name, f.off, off)
		}
		off = f.off + f.size
	}
	if off != sm.body {
		t.Errorf("%s: fields end at %d, body is %d", sm.name, off, sm.body)
	}
}

// flatten lists a message struct's fields in declaration order, which is
// the order of the wire layout.
func flatten(v any) []any {
	rv := reflect.ValueOf(v)
	out := make([]any, rv.NumField())
	for i := range out {
		out[i] = rv.Field(i).Interface()
	}
	return out
}

// layout writes values at the offsets and sizes of the specification's
// table, in big-endian, independently of the codec.
func layout(t *testing.T, sm *specMessage, values []any) []byte {
	t.Helper()
	if len(values) != len(sm.fields) {
		t.Fatalf("%s: %d fields in the specification, %d in the struct", sm.name, len(sm.fields), len(values))
	}
	b := make([]byte, sm.body)
	for i, f := range sm.fields {
		dst := b[f.off : f.off+f.size]
		v := reflect.ValueOf(values[i])
		width := map[string]int{"u8": 1, "bool": 1, "u16": 2, "u32": 4, "u64": 8, "i64": 8}[f.typ]
		switch {
		case f.typ == "symbol" || f.typ == "alpha":
			if v.Kind() != reflect.Array || v.Len() != f.size {
				t.Fatalf("%s.%s: %s of %d bytes, the struct has %s", sm.name, f.name, f.typ, f.size, v.Type())
			}
			reflect.Copy(reflect.ValueOf(dst), v)
		case width == 0:
			t.Fatalf("%s.%s: unknown type %q", sm.name, f.name, f.typ)
		case width != f.size || int(v.Type().Size()) != f.size:
			t.Fatalf("%s.%s: %s of %d bytes, the struct has %s", sm.name, f.name, f.typ, f.size, v.Type())
		case f.typ == "bool":
			if v.Kind() != reflect.Bool {
				t.Fatalf("%s.%s: bool, the struct has %s", sm.name, f.name, v.Type())
			}
			if v.Bool() {
				dst[0] = 1
			}
		default:
			var u uint64
			if v.CanInt() {
				if f.typ != "i64" {
					t.Fatalf("%s.%s: %s, the struct has %s", sm.name, f.name, f.typ, v.Type())
				}
				u = uint64(v.Int())
			} else {
				u = v.Uint()
			}
			var be [8]byte
			binary.BigEndian.PutUint64(be[:], u)
			copy(dst, be[8-f.size:])
		}
	}
	return b
}

func TestSpecMessageTypes(t *testing.T) {
	d := readSpec(t)
	if len(d.summary) != len(codecs) {
		t.Errorf("%d message types in the summary, %d in the code", len(d.summary), len(codecs))
	}
	for _, c := range codecs {
		row, ok := d.summary[c.typ]
		if !ok {
			t.Errorf("%s (%q) missing from the summary", c.name, c.typ)
			continue
		}
		n, _, _ := BodyLen(c.typ)
		if row.name != c.name || !strings.HasPrefix(row.body, strconv.Itoa(n)) {
			t.Errorf("summary row %q: %s, body %q; want %s, %d", c.typ, row.name, row.body, c.name, n)
		}
	}
}

func TestSpecReasons(t *testing.T) {
	d := readSpec(t)
	tables := []struct {
		section string
		codes   []uint16
		text    func(uint16) string
	}{
		{"Reject reasons", RejectReasons(), ReasonText},
		{"Login reject reasons", LoginReasons(), LoginText},
		{"Logout reasons", LogoutReasons(), LogoutText},
		{"Subscription reject reasons", SubReasons(), SubText},
		{"Cancel reasons", u8s(CancelReasons()), func(c uint16) string { return CancelText(uint8(c)) }},
		{"Order event kinds", u8s(OrderKinds()), func(c uint16) string { return OrderKindText(uint8(c)) }},
	}
	for _, tb := range tables {
		rows, ok := d.reasons[tb.section]
		if !ok {
			t.Errorf("no section %q in the specification", tb.section)
			continue
		}
		if len(rows) != len(tb.codes) {
			t.Errorf("%s: %d codes in the specification, %d in the code", tb.section, len(rows), len(tb.codes))
		}
		for _, c := range tb.codes {
			if txt, ok := rows[int(c)]; !ok || txt != tb.text(c) {
				t.Errorf("%s %d: %q in the specification, %q in the code", tb.section, c, txt, tb.text(c))
			}
		}
	}
}

func TestSpecExamples(t *testing.T) {
	d := readSpec(t)
	want := map[string][]byte{
		"NewOrder": AppendNewOrder(nil, &NewOrder{ClientOrderID: 1, Symbol: MakeSymbol("BTC-USD"),
			Side: 1, Type: 1, TIF: 1, Price: 6_500_000, Qty: 10}),
		"OrderAck": AppendOrderAck(nil, &OrderAck{ClientOrderID: 1, OrderID: 1<<48 | 7, Seq: 7,
			RecvTime: 1_700_000_000_000_000_000}),
	}
	if len(d.examples) != len(want) {
		t.Errorf("%d examples in the specification, %d checked", len(d.examples), len(want))
	}
	for name, w := range want {
		if got := d.examples[name]; !bytes.Equal(got, w) {
			t.Errorf("example %s:\n% x in the specification\n% x from the codec", name, got, w)
		}
	}
}
