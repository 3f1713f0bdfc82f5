package wire

// SymbolLen is the size of a symbol field.
const SymbolLen = 8

// Symbol is an asset symbol as it travels: 8 ASCII bytes, left-aligned,
// padded with spaces on the right, like OUCH's stock field. Symbols compare
// with ==, so a Symbol can key a map without a conversion to string.
type Symbol [SymbolLen]byte

// MakeSymbol pads s into a Symbol; bytes past the eighth are cut. It does
// not allocate.
func MakeSymbol(s string) Symbol {
	var sym Symbol
	putText(sym[:], s)
	return sym
}

// SymbolFromBytes pads b into a Symbol, as MakeSymbol does for a string.
func SymbolFromBytes(b []byte) Symbol {
	var sym Symbol
	n := copy(sym[:], b)
	for i := n; i < SymbolLen; i++ {
		sym[i] = ' '
	}
	return sym
}

// Bytes returns the symbol without its padding, aliasing s: it does not
// allocate.
func (s *Symbol) Bytes() []byte { return trimText(s[:]) }

// String returns the symbol without its padding.
func (s Symbol) String() string { return string(trimText(s[:])) }

// Valid reports whether s is well formed: at least one printable ASCII
// character (0x21-0x7e), then only spaces. Trailing NULs are not padding
// on the wire; a sender that zero-fills is sending a different symbol.
func (s Symbol) Valid() bool {
	n := 0
	for n < SymbolLen && s[n] > ' ' && s[n] < 0x7f {
		n++
	}
	if n == 0 {
		return false
	}
	for _, c := range s[n:] {
		if c != ' ' {
			return false
		}
	}
	return true
}
