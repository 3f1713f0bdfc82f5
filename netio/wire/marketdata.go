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

// Subscription reject reasons (SubRejected).
const (
	SubUnknownAsset uint16 = 1
	SubNotLoggedIn  uint16 = 2 // private channel without a login
	SubBadChannels  uint16 = 3
	SubUnavailable  uint16 = 4 // resume: the journal cannot be read
	SubResumeTooOld uint16 = 5 // resume: the events were pruned
)

// Body lengths of the market-data messages.
const (
	SubscribeLen    = 8 + 1 + 2
	UnsubscribeLen  = 8 + 1
	ResumeLen       = 8 + 8
	SubscribedLen   = 8 + 1 + 8
	SubRejectedLen  = 8 + 2
	TradeLen        = 8 + 8 + 8 + 8 + 8 + 1 + 8
	BookUpdateLen   = 8 + 8 + 1 + 8 + 8 + 4
	BBOLen          = 8 + 8 + 8 + 8 + 8 + 8
	OrderEventLen   = 8 + 8 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 8 + 8
	ResumeDoneLen   = 8 + 8
	snapshotHdrLen  = 8 + 8 + 2 + 2
	LevelLen        = 8 + 8 + 4
	MaxSnapshotSide = (MaxFrame - 1 - snapshotHdrLen) / LevelLen / 2
)

// Subscribe asks for channels of an asset; Depth is the number of book
// levels per side in the snapshot (0: all, capped at MaxSnapshotSide).
type Subscribe struct {
	Symbol   Symbol
	Channels uint8
	Depth    uint16
}

func AppendSubscribe(dst []byte, m *Subscribe) []byte {
	dst, at := begin(dst, TypeSubscribe, SubscribeLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	b[8] = m.Channels
	be.PutUint16(b[9:], m.Depth)
	return dst
}

func DecodeSubscribe(frame []byte, m *Subscribe) error {
	b, err := body(frame, SubscribeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Channels = b[8]
	m.Depth = be.Uint16(b[9:])
	return nil
}

// Unsubscribe drops channels of an asset.
type Unsubscribe struct {
	Symbol   Symbol
	Channels uint8
}

func AppendUnsubscribe(dst []byte, m *Unsubscribe) []byte {
	dst, at := begin(dst, TypeUnsubscribe, UnsubscribeLen)
	copy(dst[at:], m.Symbol[:])
	dst[at+8] = m.Channels
	return dst
}

func DecodeUnsubscribe(frame []byte, m *Unsubscribe) error {
	b, err := body(frame, UnsubscribeLen)
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

func AppendResume(dst []byte, m *Resume) []byte {
	dst, at := begin(dst, TypeResume, ResumeLen)
	copy(dst[at:], m.Symbol[:])
	be.PutUint64(dst[at+8:], m.After)
	return dst
}

func DecodeResume(frame []byte, m *Resume) error {
	b, err := body(frame, ResumeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.After = be.Uint64(b[8:])
	return nil
}

// Subscribed confirms a subscription: messages of the channels follow,
// starting after event sequence Seq.
type Subscribed struct {
	Symbol   Symbol
	Channels uint8
	Seq      uint64
}

func AppendSubscribed(dst []byte, m *Subscribed) []byte {
	dst, at := begin(dst, TypeSubscribed, SubscribedLen)
	copy(dst[at:], m.Symbol[:])
	dst[at+8] = m.Channels
	be.PutUint64(dst[at+9:], m.Seq)
	return dst
}

func DecodeSubscribed(frame []byte, m *Subscribed) error {
	b, err := body(frame, SubscribedLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Channels = b[8]
	m.Seq = be.Uint64(b[9:])
	return nil
}

// SubRejected refuses a Subscribe or Resume.
type SubRejected struct {
	Symbol Symbol
	Reason uint16
}

func AppendSubRejected(dst []byte, m *SubRejected) []byte {
	dst, at := begin(dst, TypeSubRejected, SubRejectedLen)
	copy(dst[at:], m.Symbol[:])
	be.PutUint16(dst[at+8:], m.Reason)
	return dst
}

func DecodeSubRejected(frame []byte, m *SubRejected) error {
	b, err := body(frame, SubRejectedLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Reason = be.Uint16(b[8:])
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

func AppendTrade(dst []byte, m *Trade) []byte {
	dst, at := begin(dst, TypeTrade, TradeLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	be.PutUint64(b[8:], m.Seq)
	be.PutUint64(b[16:], m.TradeID)
	putI64(b[24:], m.Price)
	putI64(b[32:], m.Qty)
	b[40] = m.Aggressor
	putI64(b[41:], m.Time)
	return dst
}

func DecodeTrade(frame []byte, m *Trade) error {
	b, err := body(frame, TradeLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
	m.TradeID = be.Uint64(b[16:])
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

func AppendBookUpdate(dst []byte, m *BookUpdate) []byte {
	dst, at := begin(dst, TypeBookUpdate, BookUpdateLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	be.PutUint64(b[8:], m.Seq)
	b[16] = m.Side
	putI64(b[17:], m.Price)
	putI64(b[25:], m.Qty)
	be.PutUint32(b[33:], m.Count)
	return dst
}

func DecodeBookUpdate(frame []byte, m *BookUpdate) error {
	b, err := body(frame, BookUpdateLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
	m.Side = b[16]
	m.Price = getI64(b[17:])
	m.Qty = getI64(b[25:])
	m.Count = be.Uint32(b[33:])
	return nil
}

// BBO is the best bid and offer; a missing side has price and quantity 0.
type BBO struct {
	Symbol           Symbol
	Seq              uint64
	BidPrice, BidQty int64
	AskPrice, AskQty int64
}

func AppendBBO(dst []byte, m *BBO) []byte {
	dst, at := begin(dst, TypeBBO, BBOLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	be.PutUint64(b[8:], m.Seq)
	putI64(b[16:], m.BidPrice)
	putI64(b[24:], m.BidQty)
	putI64(b[32:], m.AskPrice)
	putI64(b[40:], m.AskQty)
	return dst
}

func DecodeBBO(frame []byte, m *BBO) error {
	b, err := body(frame, BBOLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
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
	n := snapshotHdrLen + LevelLen*(len(bids)+len(asks))
	dst, at := begin(dst, TypeBookSnapshot, n)
	b := dst[at:]
	copy(b, sym[:])
	be.PutUint64(b[8:], seq)
	be.PutUint16(b[16:], uint16(len(bids)))
	be.PutUint16(b[18:], uint16(len(asks)))
	off := snapshotHdrLen
	for _, side := range [2][]Level{bids, asks} {
		for _, l := range side {
			putI64(b[off:], l.Price)
			putI64(b[off+8:], l.Qty)
			be.PutUint32(b[off+16:], l.Count)
			off += LevelLen
		}
	}
	return dst
}

// BookSnapshot is a decoded snapshot; Bids and Asks reuse their capacity.
type BookSnapshot struct {
	Symbol     Symbol
	Seq        uint64
	Bids, Asks []Level
}

func DecodeBookSnapshot(frame []byte, m *BookSnapshot) error {
	if len(frame) < HeaderLen+snapshotHdrLen {
		return ErrBadLength
	}
	b := frame[HeaderLen:]
	nb, na := int(be.Uint16(b[16:])), int(be.Uint16(b[18:]))
	if len(b) != snapshotHdrLen+LevelLen*(nb+na) {
		return ErrBadLength
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
	m.Bids, m.Asks = m.Bids[:0], m.Asks[:0]
	off := snapshotHdrLen
	for i := 0; i < nb+na; i++ {
		l := Level{Price: getI64(b[off:]), Qty: getI64(b[off+8:]), Count: be.Uint32(b[off+16:])}
		if i < nb {
			m.Bids = append(m.Bids, l)
		} else {
			m.Asks = append(m.Asks, l)
		}
		off += LevelLen
	}
	return nil
}

// Order event kinds (OrderEvent.Kind): engine.EventKind.
const (
	OrderAccepted uint8 = 1 // rested on the book
	OrderFilled   uint8 = 2 // a fill (partial unless Remaining is 0)
	OrderCanceled uint8 = 3 // left the book or never rested; Reason says why
	OrderReplaced uint8 = 4
	OrderRejected uint8 = 5 // refused by the matcher; Reason is a reject code
	OrderDone     uint8 = 6 // fully filled and gone
)

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

func AppendOrderEvent(dst []byte, m *OrderEvent) []byte {
	dst, at := begin(dst, TypeOrderEvent, OrderEventLen)
	b := dst[at:]
	copy(b, m.Symbol[:])
	be.PutUint64(b[8:], m.Seq)
	b[16], b[17], b[18] = m.Kind, m.Reason, m.Side
	be.PutUint64(b[19:], m.OrderID)
	be.PutUint64(b[27:], m.ClientOrderID)
	putI64(b[35:], m.Price)
	putI64(b[43:], m.Qty)
	putI64(b[51:], m.Remaining)
	putI64(b[59:], m.Time)
	return dst
}

func DecodeOrderEvent(frame []byte, m *OrderEvent) error {
	b, err := body(frame, OrderEventLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
	m.Kind, m.Reason, m.Side = b[16], b[17], b[18]
	m.OrderID = be.Uint64(b[19:])
	m.ClientOrderID = be.Uint64(b[27:])
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

func AppendResumeDone(dst []byte, m *ResumeDone) []byte {
	dst, at := begin(dst, TypeResumeDone, ResumeDoneLen)
	copy(dst[at:], m.Symbol[:])
	be.PutUint64(dst[at+8:], m.Seq)
	return dst
}

func DecodeResumeDone(frame []byte, m *ResumeDone) error {
	b, err := body(frame, ResumeDoneLen)
	if err != nil {
		return err
	}
	copy(m.Symbol[:], b)
	m.Seq = be.Uint64(b[8:])
	return nil
}
