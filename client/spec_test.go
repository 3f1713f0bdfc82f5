package client

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestSpecAssets holds the /assets table of docs/protocol.md to Asset, the
// type the server encodes its list from: the same keys in the same order,
// numbers for integers and strings for strings.
func TestSpecAssets(t *testing.T) {
	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct{ key, typ string }
	var rows []row
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			in = strings.HasPrefix(line, "### Asset parameters")
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		rows = append(rows, row{strings.Trim(strings.TrimSpace(cells[0]), "`"), strings.TrimSpace(cells[1])})
	}
	typ := reflect.TypeFor[Asset]()
	if len(rows) != typ.NumField() {
		t.Fatalf("the specification lists %d keys, Asset has %d fields", len(rows), typ.NumField())
	}
	for i, r := range rows {
		f := typ.Field(i)
		want := "number"
		if f.Type.Kind() == reflect.String {
			want = "string"
		}
		if tag := f.Tag.Get("json"); tag != r.key || want != r.typ {
			t.Errorf("key %d: the specification has %q (%s), Asset.%s is %q (%s)", i, r.key, r.typ, f.Name, tag, want)
		}
	}
}
