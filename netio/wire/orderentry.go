package wire

// Order-entry message types (docs/protocol.md, part 1).
const (
	TypeLogin         byte = 'L' // client: log in
	TypeNewOrder      byte = 'O' // client: enter an order
	TypeCancel        byte = 'X' // client: cancel an order
	TypeReplace       byte = 'U' // client: change an order's price and/or quantity
	TypeHeartbeat     byte = 'H' // both ways
	TypeLogout        byte = 'Z' // both ways, with a reason from the server
	TypeLoginAccepted byte = 'A' // server
	TypeLoginRejected byte = 'J' // server
	TypeOrderAck      byte = 'K' // server: received and journaled
	TypeReject        byte = 'R' // server: refused, with a reason
)

// Body lengths of the order-entry messages.
const (
	LoginLen         = 2 + 16 + 32
	NewOrderLen      = 8 + 8 + 5 + 8 + 8
	CancelLen        = 8 + 8 + 8
	ReplaceLen       = 8 + 8 + 8 + 8 + 8
	HeartbeatLen     = 0
	LogoutLen        = 2
	LoginAcceptedLen = 4 + 8
	LoginRejectedLen = 2
	OrderAckLen      = 8 + 8 + 8 + 8
	RejectLen        = 8 + 2 + RejectTextLen
	RejectTextLen    = 32
)

// Login opens a session (order entry or market data).
type Login struct {
	Version uint16
	User    [16]byte // ASCII, space padded
	Key     [32]byte // ASCII, space padded
}

// SetUser and SetKey fill the padded fields.
func (m *Login) SetUser(s string) { putText(m.User[:], s) }
func (m *Login) SetKey(s string)  { putText(m.Key[:], s) }

// UserName returns the user name without padding.
func (m *Login) UserName() string { return string(trimText(m.User[:])) }

// KeyBytes returns the API key without padding, in place.
func (m *Login) KeyBytes() []byte { return trimText(m.Key[:]) }

// AppendLogin appends m to dst as a Login frame.
func AppendLogin(dst []byte, m *Login) []byte {
	dst, at := begin(dst, TypeLogin, LoginLen)
	b := dst[at:]
	putU16(b, m.Version)
	copy(b[2:18], m.User[:])
	copy(b[18:50], m.Key[:])
	return dst
}

// DecodeLogin decodes a Login frame into m.
func DecodeLogin(frame []byte, m *Login) error {
	b, err := body(frame, TypeLogin, LoginLen)
	if err != nil {
		return err
	}
	m.Version = getU16(b)
	copy(m.User[:], b[2:18])
	copy(m.Key[:], b[18:50])
	return nil
}

// NewOrder enters an order. Side, Type, TIF and STP use the engine's codes
// (docs/protocol.md); the gateway checks them.
type NewOrder struct {
	ClientOrderID uint64
	Symbol        Symbol
	Side          uint8 // 1 buy, 2 sell
	Type          uint8 // 1 limit, 2 market
	TIF           uint8 // 1 GTC, 2 IOC, 3 FOK
	PostOnly      bool
	STP           uint8 // 0 none ... 4 decrement and cancel
	Price         int64
	Qty           int64
}

// AppendNewOrder appends m to dst as a NewOrder frame.
func AppendNewOrder(dst []byte, m *NewOrder) []byte {
	dst, at := begin(dst, TypeNewOrder, NewOrderLen)
	b := dst[at:]
	putU64(b, m.ClientOrderID)
	copy(b[8:16], m.Symbol[:])
	b[16], b[17], b[18] = m.Side, m.Type, m.TIF
	if m.PostOnly {
		b[19] = 1
	}
	b[20] = m.STP
	putI64(b[21:], m.Price)
	putI64(b[29:], m.Qty)
	return dst
}

// DecodeNewOrder decodes a NewOrder frame into m. A post-only byte other
// than 0 or 1 is ErrBadValue, returned after every other field is decoded,
// so that the reject can carry the request's client order id.
func DecodeNewOrder(frame []byte, m *NewOrder) error {
	b, err := body(frame, TypeNewOrder, NewOrderLen)
	if err != nil {
		return err
	}
	m.ClientOrderID = getU64(b)
	copy(m.Symbol[:], b[8:16])
	m.Side, m.Type, m.TIF = b[16], b[17], b[18]
	m.PostOnly = b[19] == 1
	m.STP = b[20]
	m.Price = getI64(b[21:])
	m.Qty = getI64(b[29:])
	if b[19] > 1 {
		return ErrBadValue
	}
	return nil
}

// Cancel cancels the order OrderID of the asset Symbol.
type Cancel struct {
	ClientOrderID uint64 // the request's own id, echoed in its ack or reject
	Symbol        Symbol
	OrderID       uint64
}

// AppendCancel appends m to dst as a Cancel frame.
func AppendCancel(dst []byte, m *Cancel) []byte {
	dst, at := begin(dst, TypeCancel, CancelLen)
	b := dst[at:]
	putU64(b, m.ClientOrderID)
	copy(b[8:16], m.Symbol[:])
	putU64(b[16:], m.OrderID)
	return dst
}

// DecodeCancel decodes a Cancel frame into m.
func DecodeCancel(frame []byte, m *Cancel) error {
	b, err := body(frame, TypeCancel, CancelLen)
	if err != nil {
		return err
	}
	m.ClientOrderID = getU64(b)
	copy(m.Symbol[:], b[8:16])
	m.OrderID = getU64(b[16:])
	return nil
}

// Replace changes an order's price (0 keeps it) and total open quantity.
type Replace struct {
	ClientOrderID uint64
	Symbol        Symbol
	OrderID       uint64
	Price         int64
	Qty           int64
}

// AppendReplace appends m to dst as a Replace frame.
func AppendReplace(dst []byte, m *Replace) []byte {
	dst, at := begin(dst, TypeReplace, ReplaceLen)
	b := dst[at:]
	putU64(b, m.ClientOrderID)
	copy(b[8:16], m.Symbol[:])
	putU64(b[16:], m.OrderID)
	putI64(b[24:], m.Price)
	putI64(b[32:], m.Qty)
	return dst
}

// DecodeReplace decodes a Replace frame into m.
func DecodeReplace(frame []byte, m *Replace) error {
	b, err := body(frame, TypeReplace, ReplaceLen)
	if err != nil {
		return err
	}
	m.ClientOrderID = getU64(b)
	copy(m.Symbol[:], b[8:16])
	m.OrderID = getU64(b[16:])
	m.Price = getI64(b[24:])
	m.Qty = getI64(b[32:])
	return nil
}

// AppendHeartbeat appends a heartbeat (either direction).
func AppendHeartbeat(dst []byte) []byte {
	dst, _ = begin(dst, TypeHeartbeat, HeartbeatLen)
	return dst
}

// DecodeHeartbeat checks that frame is a Heartbeat (with an empty body).
func DecodeHeartbeat(frame []byte) error {
	_, err := body(frame, TypeHeartbeat, HeartbeatLen)
	return err
}

// AppendLogout appends a logout with a reason (LogoutXxx; 0 from clients).
func AppendLogout(dst []byte, reason uint16) []byte {
	dst, at := begin(dst, TypeLogout, LogoutLen)
	putU16(dst[at:], reason)
	return dst
}

// DecodeLogout returns a logout's reason. A client may send an empty body,
// which means reason 0; it re-encodes with a body of 2.
func DecodeLogout(frame []byte) (uint16, error) {
	if len(frame) == HeaderLen && frame[2] == TypeLogout {
		return 0, nil
	}
	b, err := body(frame, TypeLogout, LogoutLen)
	if err != nil {
		return 0, err
	}
	return getU16(b), nil
}

// LoginAccepted answers a good Login.
type LoginAccepted struct {
	UserID     uint32
	ServerTime int64 // Unix ns
}

// AppendLoginAccepted appends m to dst as a LoginAccepted frame.
func AppendLoginAccepted(dst []byte, m *LoginAccepted) []byte {
	dst, at := begin(dst, TypeLoginAccepted, LoginAcceptedLen)
	putU32(dst[at:], m.UserID)
	putI64(dst[at+4:], m.ServerTime)
	return dst
}

// DecodeLoginAccepted decodes a LoginAccepted frame into m.
func DecodeLoginAccepted(frame []byte, m *LoginAccepted) error {
	b, err := body(frame, TypeLoginAccepted, LoginAcceptedLen)
	if err != nil {
		return err
	}
	m.UserID = getU32(b)
	m.ServerTime = getI64(b[4:])
	return nil
}

// AppendLoginRejected answers a bad Login with a LoginXxx reason.
func AppendLoginRejected(dst []byte, reason uint16) []byte {
	dst, at := begin(dst, TypeLoginRejected, LoginRejectedLen)
	putU16(dst[at:], reason)
	return dst
}

// DecodeLoginRejected decodes a LoginRejected frame into m.
func DecodeLoginRejected(frame []byte) (uint16, error) {
	b, err := body(frame, TypeLoginRejected, LoginRejectedLen)
	if err != nil {
		return 0, err
	}
	return getU16(b), nil
}

// OrderAck says an order-entry request was received and journaled. It never
// says whether the order traded.
type OrderAck struct {
	ClientOrderID uint64
	OrderID       uint64 // the exchange order id (for Cancel/Replace: the target)
	Seq           uint64 // the asset's journal sequence of the request
	RecvTime      int64  // gateway receive time, Unix ns
}

// AppendOrderAck appends m to dst as a OrderAck frame.
func AppendOrderAck(dst []byte, m *OrderAck) []byte {
	dst, at := begin(dst, TypeOrderAck, OrderAckLen)
	b := dst[at:]
	putU64(b, m.ClientOrderID)
	putU64(b[8:], m.OrderID)
	putU64(b[16:], m.Seq)
	putI64(b[24:], m.RecvTime)
	return dst
}

// DecodeOrderAck decodes a OrderAck frame into m.
func DecodeOrderAck(frame []byte, m *OrderAck) error {
	b, err := body(frame, TypeOrderAck, OrderAckLen)
	if err != nil {
		return err
	}
	m.ClientOrderID = getU64(b)
	m.OrderID = getU64(b[8:])
	m.Seq = getU64(b[16:])
	m.RecvTime = getI64(b[24:])
	return nil
}

// Reject refuses a request. Text is ReasonText(Reason), cut to 32 bytes.
type Reject struct {
	ClientOrderID uint64
	Reason        uint16
	Text          [RejectTextLen]byte
}

// AppendReject appends a reject with the standard text of its reason.
func AppendReject(dst []byte, clientOrderID uint64, reason uint16) []byte {
	dst, at := begin(dst, TypeReject, RejectLen)
	b := dst[at:]
	putU64(b, clientOrderID)
	putU16(b[8:], reason)
	putText(b[10:10+RejectTextLen], ReasonText(reason))
	return dst
}

// DecodeReject decodes a Reject frame into m.
func DecodeReject(frame []byte, m *Reject) error {
	b, err := body(frame, TypeReject, RejectLen)
	if err != nil {
		return err
	}
	m.ClientOrderID = getU64(b)
	m.Reason = getU16(b[8:])
	copy(m.Text[:], b[10:])
	return nil
}

// AppendRejectMessage appends m to dst as a Reject frame, with its own
// text (AppendReject writes the standard text of the reason).
func AppendRejectMessage(dst []byte, m *Reject) []byte {
	dst, at := begin(dst, TypeReject, RejectLen)
	b := dst[at:]
	putU64(b, m.ClientOrderID)
	putU16(b[8:], m.Reason)
	copy(b[10:], m.Text[:])
	return dst
}

// TextString returns the reject's text without padding.
func (m *Reject) TextString() string { return string(trimText(m.Text[:])) }
