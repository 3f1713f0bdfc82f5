package wire

// Market-data message types (docs/protocol.md, part 2). Login, Heartbeat,
// Logout, LoginAccepted and LoginRejected are shared with order entry.
const (
	TypeSubscribe    byte = 'S' // client: subscribe to channels of an asset
	TypeUnsubscribe  byte = 'N' // client: unsubscribe
	TypeResume       byte = 'P' // client: send my private events after a sequence
	TypeSubscribed   byte = 'C' // server: subscription in force from sequence Seq
	TypeSubRejected  byte = 'Y' // server: subscription refused
	TypeTrade        byte = 'T' // server: public trade
	TypeBookSnapshot byte = 'W' // server: L2 depth snapshot
	TypeBookUpdate   byte = 'B' // server: one L2 level changed
	TypeBBO          byte = 'Q' // server: best bid and offer
	TypeOrderEvent   byte = 'E' // server: an event of one of the user's orders
	TypeResumeDone   byte = 'V' // server: replayed private events end here; live ones follow
)

// Channels, a bit mask.
const (
	ChanTrades uint8 = 1 << 0
	ChanBook   uint8 = 1 << 1
	ChanBBO    uint8 = 1 << 2
	ChanOrders uint8 = 1 << 3 // private: needs a login
	ChanAll          = ChanTrades | ChanBook | ChanBBO | ChanOrders
)

// Body lengths of the market-data messages.
const (
	SubscribeLen      = 8 + 1 + 2
	UnsubscribeLen    = 8 + 1
	ResumeLen         = 8 + 8
	SubscribedLen     = 8 + 1 + 8
	SubRejectedLen    = 8 + 2
	TradeLen          = 8 + 8 + 8 + 8 + 8 + 1 + 8
	BookUpdateLen     = 8 + 8 + 1 + 8 + 8 + 4
	BBOLen            = 8 + 8 + 8 + 8 + 8 + 8
	OrderEventLen     = 8 + 8 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 8 + 8
	ResumeDoneLen     = 8 + 8
	SnapshotHeaderLen = 8 + 8 + 2 + 2
	LevelLen          = 8 + 8 + 4
	MaxSnapshotSide   = (MaxFrame - 1 - SnapshotHeaderLen) / LevelLen / 2
)

// Subscribe asks for channels of an asset; Depth is the number of book
// levels per side in the snapshot (0: all, capped at MaxSnapshotSide).
type Subscribe struct {
	Symbol   Symbol
	Channels uint8
	Depth    uint16
}

// AppendSubscribe appends m to dst as a Subscribe frame.
func AppendSubscribe(dst []byte, m *Subscribe) []byte {
	dst, at := begin(dst, TypeSubscribe, SubscribeLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	b[8] = m.Channels
	putU16(b[9:], m.Depth)
	return dst
}

// DecodeSubscribe decodes a Subscribe frame into m.
func DecodeSubscribe(frame []byte, m *Subscribe) error {
	b, err := body(frame, TypeSubscribe, SubscribeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Channels = b[8]
	m.Depth = getU16(b[9:])
	return nil
}

// Unsubscribe drops channels of an asset.
type Unsubscribe struct {
	Symbol   Symbol
	Channels uint8
}

// AppendUnsubscribe appends m to dst as a Unsubscribe frame.
func AppendUnsubscribe(dst []byte, m *Unsubscribe) []byte {
	dst, at := begin(dst, TypeUnsubscribe, UnsubscribeLen)
	copy(dst[at:], m.Symbol[:])
	dst[at+8] = m.Channels
	return dst
}

// DecodeUnsubscribe decodes a Unsubscribe frame into m.
func DecodeUnsubscribe(frame []byte, m *Unsubscribe) error {
	b, err := body(frame, TypeUnsubscribe, UnsubscribeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Channels = b[8]
	return nil
}

// Resume asks for the user's private events of an asset with an event
// sequence above After, then live ones (it implies ChanOrders).
type Resume struct {
	Symbol Symbol
	After  uint64
}

// AppendResume appends m to dst as a Resume frame.
func AppendResume(dst []byte, m *Resume) []byte {
	dst, at := begin(dst, TypeResume, ResumeLen)
	copy(dst[at:], m.Symbol[:])
	putU64(dst[at+8:], m.After)
	return dst
}

// DecodeResume decodes a Resume frame into m.
func DecodeResume(frame []byte, m *Resume) error {
	b, err := body(frame, TypeResume, ResumeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.After = getU64(b[8:])
	return nil
}

// Subscribed confirms a subscription: messages of the channels follow,
// starting after event sequence Seq.
type Subscribed struct {
	Symbol   Symbol
	Channels uint8
	Seq      uint64
}

// AppendSubscribed appends m to dst as a Subscribed frame.
func AppendSubscribed(dst []byte, m *Subscribed) []byte {
	dst, at := begin(dst, TypeSubscribed, SubscribedLen)
	copy(dst[at:], m.Symbol[:])
	dst[at+8] = m.Channels
	putU64(dst[at+9:], m.Seq)
	return dst
}

// DecodeSubscribed decodes a Subscribed frame into m.
func DecodeSubscribed(frame []byte, m *Subscribed) error {
	b, err := body(frame, TypeSubscribed, SubscribedLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Channels = b[8]
	m.Seq = getU64(b[9:])
	return nil
}

// SubRejected refuses a Subscribe or Resume.
type SubRejected struct {
	Symbol Symbol
	Reason uint16
}

// AppendSubRejected appends m to dst as a SubRejected frame.
func AppendSubRejected(dst []byte, m *SubRejected) []byte {
	dst, at := begin(dst, TypeSubRejected, SubRejectedLen)
	copy(dst[at:], m.Symbol[:])
	putU16(dst[at+8:], m.Reason)
	return dst
}

// DecodeSubRejected decodes a SubRejected frame into m.
func DecodeSubRejected(frame []byte, m *SubRejected) error {
	b, err := body(frame, TypeSubRejected, SubRejectedLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Reason = getU16(b[8:])
	return nil
}

// Trade is a public trade. TradeID is the event sequence of the trade, so
// it is unique per asset; Seq is the same number, kept separate so that
// every public message carries Seq at the same offset.
type Trade struct {
	Symbol    Symbol
	Seq       uint64
	TradeID   uint64
	Price     int64
	Qty       int64
	Aggressor uint8 // side of the taker: 1 buy, 2 sell
	Time      int64 // Unix ns (the taker's gateway receive time)
}

// AppendTrade appends m to dst as a Trade frame.
func AppendTrade(dst []byte, m *Trade) []byte {
	dst, at := begin(dst, TypeTrade, TradeLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	putU64(b[8:], m.Seq)
	putU64(b[16:], m.TradeID)
	putI64(b[24:], m.Price)
	putI64(b[32:], m.Qty)
	b[40] = m.Aggressor
	putI64(b[41:], m.Time)
	return dst
}

// DecodeTrade decodes a Trade frame into m.
func DecodeTrade(frame []byte, m *Trade) error {
	b, err := body(frame, TypeTrade, TradeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	m.TradeID = getU64(b[16:])
	m.Price = getI64(b[24:])
	m.Qty = getI64(b[32:])
	m.Aggressor = b[40]
	m.Time = getI64(b[41:])
	return nil
}

// BookUpdate is one L2 level after a change; Qty 0 means the level is gone.
type BookUpdate struct {
	Symbol Symbol
	Seq    uint64
	Side   uint8
	Price  int64
	Qty    int64
	Count  uint32
}

// AppendBookUpdate appends m to dst as a BookUpdate frame.
func AppendBookUpdate(dst []byte, m *BookUpdate) []byte {
	dst, at := begin(dst, TypeBookUpdate, BookUpdateLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	putU64(b[8:], m.Seq)
	b[16] = m.Side
	putI64(b[17:], m.Price)
	putI64(b[25:], m.Qty)
	putU32(b[33:], m.Count)
	return dst
}

// DecodeBookUpdate decodes a BookUpdate frame into m.
func DecodeBookUpdate(frame []byte, m *BookUpdate) error {
	b, err := body(frame, TypeBookUpdate, BookUpdateLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	m.Side = b[16]
	m.Price = getI64(b[17:])
	m.Qty = getI64(b[25:])
	m.Count = getU32(b[33:])
	return nil
}

// BBO is the best bid and offer; a missing side has price and quantity 0.
type BBO struct {
	Symbol           Symbol
	Seq              uint64
	BidPrice, BidQty int64
	AskPrice, AskQty int64
}

// AppendBBO appends m to dst as a BBO frame.
func AppendBBO(dst []byte, m *BBO) []byte {
	dst, at := begin(dst, TypeBBO, BBOLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	putU64(b[8:], m.Seq)
	putI64(b[16:], m.BidPrice)
	putI64(b[24:], m.BidQty)
	putI64(b[32:], m.AskPrice)
	putI64(b[40:], m.AskQty)
	return dst
}

// DecodeBBO decodes a BBO frame into m.
func DecodeBBO(frame []byte, m *BBO) error {
	b, err := body(frame, TypeBBO, BBOLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	m.BidPrice, m.BidQty = getI64(b[16:]), getI64(b[24:])
	m.AskPrice, m.AskQty = getI64(b[32:]), getI64(b[40:])
	return nil
}

// Level is one price level of a snapshot.
type Level struct {
	Price, Qty int64
	Count      uint32
}

// AppendBookSnapshot appends a depth snapshot, best first on each side.
// Sides longer than MaxSnapshotSide are cut.
func AppendBookSnapshot(dst []byte, sym Symbol, seq uint64, bids, asks []Level) []byte {
	bids, asks = bids[:min(len(bids), MaxSnapshotSide)], asks[:min(len(asks), MaxSnapshotSide)]
	n := SnapshotHeaderLen + LevelLen*(len(bids)+len(asks))
	dst, at := begin(dst, TypeBookSnapshot, n)
	b := dst[at:]
	copy(b, sym[:])
	putU64(b[8:], seq)
	putU16(b[16:], uint16(len(bids)))
	putU16(b[18:], uint16(len(asks)))
	off := SnapshotHeaderLen
	for _, side := range [2][]Level{bids, asks} {
		for _, l := range side {
			putI64(b[off:], l.Price)
			putI64(b[off+8:], l.Qty)
			putU32(b[off+16:], l.Count)
			off += LevelLen
		}
	}
	return dst
}

// checkSnapshotLen checks that a snapshot frame's length matches the level
// counts in its header.
func checkSnapshotLen(frame []byte) error {
	if len(frame) < HeaderLen+SnapshotHeaderLen {
		return ErrBadLength
	}
	b := frame[HeaderLen:]
	nb, na := int(getU16(b[16:])), int(getU16(b[18:]))
	if len(b) != SnapshotHeaderLen+LevelLen*(nb+na) {
		return ErrBadLength
	}
	return nil
}

// BookSnapshot is a decoded snapshot: the top levels of each side, best
// first, as of event sequence Seq.
type BookSnapshot struct {
	Symbol     Symbol
	Seq        uint64
	Bids, Asks []Level
}

// DecodeBookSnapshot decodes a snapshot into m, reusing the capacity of
// m.Bids and m.Asks: it allocates only when a side has more levels than
// any snapshot m held before.
func DecodeBookSnapshot(frame []byte, m *BookSnapshot) error {
	if len(frame) >= HeaderLen && frame[2] != TypeBookSnapshot {
		return ErrWrongType
	}
	if err := checkSnapshotLen(frame); err != nil {
		return err
	}
	b := frame[HeaderLen:]
	nb, na := int(getU16(b[16:])), int(getU16(b[18:]))
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	m.Bids, m.Asks = m.Bids[:0], m.Asks[:0]
	off := SnapshotHeaderLen
	for i := 0; i < nb+na; i++ {
		l := Level{Price: getI64(b[off:]), Qty: getI64(b[off+8:]), Count: getU32(b[off+16:])}
		if i < nb {
			m.Bids = append(m.Bids, l)
		} else {
			m.Asks = append(m.Asks, l)
		}
		off += LevelLen
	}
	return nil
}

// OrderEvent is a private event of one of the user's orders. Seq is the
// asset's event sequence: a user's events of an asset arrive in increasing
// Seq, with gaps (other users' events), and Resume takes the last one seen.
type OrderEvent struct {
	Symbol        Symbol
	Seq           uint64
	Kind          uint8
	Reason        uint8
	Side          uint8
	OrderID       uint64
	ClientOrderID uint64
	Price         int64 // fill price for fills; the order's price otherwise
	Qty           int64 // filled, canceled or resting quantity, by Kind
	Remaining     int64 // the order's open quantity after the event
	Time          int64
}

// AppendOrderEvent appends m to dst as a OrderEvent frame.
func AppendOrderEvent(dst []byte, m *OrderEvent) []byte {
	dst, at := begin(dst, TypeOrderEvent, OrderEventLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	putU64(b[8:], m.Seq)
	b[16], b[17], b[18] = m.Kind, m.Reason, m.Side
	putU64(b[19:], m.OrderID)
	putU64(b[27:], m.ClientOrderID)
	putI64(b[35:], m.Price)
	putI64(b[43:], m.Qty)
	putI64(b[51:], m.Remaining)
	putI64(b[59:], m.Time)
	return dst
}

// DecodeOrderEvent decodes a OrderEvent frame into m.
func DecodeOrderEvent(frame []byte, m *OrderEvent) error {
	b, err := body(frame, TypeOrderEvent, OrderEventLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	m.Kind, m.Reason, m.Side = b[16], b[17], b[18]
	m.OrderID = getU64(b[19:])
	m.ClientOrderID = getU64(b[27:])
	m.Price = getI64(b[35:])
	m.Qty = getI64(b[43:])
	m.Remaining = getI64(b[51:])
	m.Time = getI64(b[59:])
	return nil
}

// ResumeDone ends the replayed private events of a Resume: events up to
// Seq were sent from the journal; live ones follow.
type ResumeDone struct {
	Symbol Symbol
	Seq    uint64
}

// AppendResumeDone appends m to dst as a ResumeDone frame.
func AppendResumeDone(dst []byte, m *ResumeDone) []byte {
	dst, at := begin(dst, TypeResumeDone, ResumeDoneLen)
	copy(dst[at:], m.Symbol[:])
	putU64(dst[at+8:], m.Seq)
	return dst
}

// DecodeResumeDone decodes a ResumeDone frame into m.
func DecodeResumeDone(frame []byte, m *ResumeDone) error {
	b, err := body(frame, TypeResumeDone, ResumeDoneLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = getU64(b[8:])
	return nil
}
