package orderentry

import (
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
)

// appendAck encodes the ack of a journaled command. For a cancel or replace
// the exchange order id is the target's.
func appendAck(dst []byte, c *engine.Command) []byte {
	return wire.AppendOrderAck(dst, &wire.OrderAck{
		ClientOrderID: c.ClientOrderID, OrderID: c.OrderID, Seq: c.Seq, RecvTime: c.Time,
	})
}
