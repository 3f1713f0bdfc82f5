package engine

// The rules a command must pass before any book state is consulted: known
// enumerations, the asset's quantity band and lot, price band and tick.
// They are the asset's, so they live on AssetConfig: the matcher applies
// them to every command it is handed, and the order-entry gateway calls
// the same Check before a command enters the ring, so that the journal
// holds only commands the matcher can judge and the two can never differ.

// Check returns the reason c breaks the asset's rules, or 0. It does not
// look at the book: unknown orders, ownership, duplicates, fill-or-kill
// and post-only are the matcher's to decide. A market order's price is not
// checked (it has none). For RejectBadCommand, c.BadField says which
// enumeration is unknown.
func (cfg *AssetConfig) Check(c *Command) RejectReason {
	switch c.Kind {
	case CmdNew:
		if c.BadField() != FieldNone {
			return RejectBadCommand
		}
		if r := cfg.checkQty(c.Qty); r != 0 {
			return r
		}
		if c.Type == Limit {
			return cfg.checkPrice(c.Price)
		}
		return 0
	case CmdReplace:
		if r := cfg.checkQty(c.Qty); r != 0 {
			return r
		}
		if c.Price != 0 { // 0 keeps the order's price
			return cfg.checkPrice(c.Price)
		}
		return 0
	case CmdCancel:
		return 0
	}
	return RejectBadCommand
}

// Field names a field of a New command whose value is not a known
// enumeration (see BadField).
type Field uint8

const (
	FieldNone Field = iota
	FieldSide
	FieldType
	FieldTIF
	FieldSTP
)

// BadField returns the first of a New command's side, type, time in force
// and STP mode that is not a known value, or FieldNone.
func (c *Command) BadField() Field {
	switch {
	case c.Side != Buy && c.Side != Sell:
		return FieldSide
	case c.Type != Limit && c.Type != Market:
		return FieldType
	case c.TIF != GTC && c.TIF != IOC && c.TIF != FOK:
		return FieldTIF
	case c.STP >= numSTPModes:
		return FieldSTP
	}
	return FieldNone
}

// checkQty returns the reason qty is not a valid order quantity, or 0.
func (cfg *AssetConfig) checkQty(qty int64) RejectReason {
	switch {
	case qty <= 0 || qty > cfg.MaxQty:
		return RejectBadQuantity
	case cfg.LotSize != 1 && qty%cfg.LotSize != 0:
		return RejectOffLot
	}
	return 0
}

// checkPrice returns the reason price is not a valid limit price, or 0.
func (cfg *AssetConfig) checkPrice(price int64) RejectReason {
	switch {
	case price <= 0 || price < cfg.MinPrice || price > cfg.MaxPrice:
		return RejectBadPrice
	case cfg.TickSize != 1 && price%cfg.TickSize != 0:
		return RejectOffTick
	}
	return 0
}
