package perf

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Mix is the share of each kind of request, in percent; the rest (to 100)
// is plain GTC limit orders.
type Mix struct {
	Market, IOC, FOK, PostOnly, Cancel, Replace int
}

// Limit is the share of plain GTC limit orders: what the others leave.
func (m Mix) Limit() int { return 100 - m.total() }

// String is the mix in ParseMix's syntax.
func (m Mix) String() string {
	return fmt.Sprintf("limit=%d,market=%d,ioc=%d,fok=%d,postonly=%d,cancel=%d,replace=%d",
		m.Limit(), m.Market, m.IOC, m.FOK, m.PostOnly, m.Cancel, m.Replace)
}

// ParseMix reads "market=5,ioc=10,fok=2,postonly=5,cancel=20,replace=20":
// percentages of each kind, the rest being GTC limit orders. A limit=N
// term may be given too; the terms must then add up to exactly 100.
func ParseMix(s string) (Mix, error) {
	var m Mix
	if s == "" {
		return m, nil
	}
	limit := -1
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || n > 100 {
			return m, fmt.Errorf("mix %q: want kind=percent", kv)
		}
		switch k {
		case "limit":
			limit = n
		case "market":
			m.Market = n
		case "ioc":
			m.IOC = n
		case "fok":
			m.FOK = n
		case "postonly":
			m.PostOnly = n
		case "cancel":
			m.Cancel = n
		case "replace":
			m.Replace = n
		default:
			return m, fmt.Errorf("mix: unknown kind %q", k)
		}
	}
	if m.total() > 100 {
		return m, fmt.Errorf("mix: percentages add up to %d", m.total())
	}
	if limit >= 0 && limit != m.Limit() {
		return m, fmt.Errorf("mix: percentages add up to %d, want 100", m.total()+limit)
	}
	return m, nil
}

func (m Mix) total() int { return m.Market + m.IOC + m.FOK + m.PostOnly + m.Cancel + m.Replace }

// Kind is what one generated request is.
type Kind uint8

const (
	KindLimit Kind = iota
	KindMarket
	KindIOC
	KindFOK
	KindPostOnly
	KindCancel
	KindReplace
	numKinds
)

var kindNames = [...]string{"limit", "market", "ioc", "fok", "postonly", "cancel", "replace"}

func (k Kind) String() string { return kindNames[k] }

// Order is one generated request. For a cancel or a replace the caller
// picks the target among its resting orders (Pick) and uses the target's
// asset; Price and Qty are then the replace's new values.
type Order struct {
	Kind  Kind
	Side  uint8 // 1 buy, 2 sell
	Price int64 // in the asset's units, a multiple of its tick
	Qty   int64 // a multiple of its lot
	Asset int   // index into the generator's assets
}

// AssetParams are what the generator needs of an asset.
type AssetParams struct {
	Symbol      string
	Tick, Lot   int64
	Mid         int64 // the price orders cluster around (a multiple of Tick)
	SpreadTicks int64 // limit prices are Mid +- up to SpreadTicks ticks
	MaxLots     int64 // quantities are 1..MaxLots lots
}

// Generator produces a reproducible stream of requests from a seed: the
// same seed, mix and assets give the same requests in the same order. It
// is not safe for concurrent use; each connection has its own.
type Generator struct {
	mix    Mix
	assets []AssetParams
	rng    *rand.Rand
}

// NewGenerator returns a generator; the same seed gives the same stream.
func NewGenerator(mix Mix, assets []AssetParams, seed uint64) *Generator {
	return &Generator{mix: mix, assets: assets, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the next request. canAmend says whether the caller has a
// resting order to cancel or replace; if not, a cancel or replace turns
// into a limit order.
func (g *Generator) Next(canAmend bool) Order {
	p := g.rng.IntN(100)
	m := g.mix
	kind := KindLimit
	for _, c := range []struct {
		pct  int
		kind Kind
	}{{m.Market, KindMarket}, {m.IOC, KindIOC}, {m.FOK, KindFOK}, {m.PostOnly, KindPostOnly}, {m.Cancel, KindCancel}, {m.Replace, KindReplace}} {
		if p < c.pct {
			kind = c.kind
			break
		}
		p -= c.pct
	}
	if (kind == KindCancel || kind == KindReplace) && !canAmend {
		kind = KindLimit
	}
	ai := g.rng.IntN(len(g.assets))
	o := Order{Kind: kind, Asset: ai, Side: uint8(1 + g.rng.IntN(2))}
	o.Price, o.Qty = g.PriceQty(ai)
	return o
}

// PriceQty draws a price and quantity valid for asset ai (for a replace,
// whose asset is its target's).
func (g *Generator) PriceQty(ai int) (price, qty int64) {
	a := &g.assets[ai]
	qty = (1 + g.rng.Int64N(max(a.MaxLots, 1))) * a.Lot
	off := g.rng.Int64N(2*a.SpreadTicks+1) - a.SpreadTicks
	price = max(a.Mid+off*a.Tick, a.Tick)
	return price, qty
}

// Pick returns a random index below n (for choosing a cancel target).
func (g *Generator) Pick(n int) int { return g.rng.IntN(n) }
