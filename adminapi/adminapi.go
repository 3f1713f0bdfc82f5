// Package adminapi defines the JSON documents that ringexd's admin HTTP
// server serves, so that the server and its clients (the client package,
// the ringex CLI, the load generator) share one schema without the server
// importing the client:
//
//	GET /assets             []Asset: every configured asset
//	GET /trades?asset=S&n=N []Trade: the asset's last N trades, oldest first
package adminapi

// Asset is one entry of /assets: what a client needs to turn human prices
// and quantities into the integer ticks and lots of the wire, and to stay
// inside the asset's bands.
type Asset struct {
	ID       uint32 `json:"id"`
	Symbol   string `json:"symbol"`
	TickSize int64  `json:"tick_size"`
	LotSize  int64  `json:"lot_size"`
	MinPrice int64  `json:"min_price"`
	MaxPrice int64  `json:"max_price"`
	MaxQty   int64  `json:"max_qty"`
	// PriceDecimals and QtyDecimals say how many of the integer's digits
	// are decimals, for display: 650005 with 2 is 6500.05. The engine never
	// sees them.
	PriceDecimals int `json:"price_decimals"`
	QtyDecimals   int `json:"qty_decimals"`
}

// Trade is one entry of /trades.
type Trade struct {
	Seq       uint64 `json:"seq"`     // the asset's event sequence
	Time      int64  `json:"time_ns"` // Unix nanoseconds
	Price     int64  `json:"price"`
	Qty       int64  `json:"qty"`
	Aggressor string `json:"aggressor"` // "buy" or "sell"
}
